"""A test that needs the shared data skips on a developer's machine and fails in CI."""

import pytest

from tests.shared_data import missing_data


def test_missing_data_skips_without_ci(monkeypatch):
    monkeypatch.delenv("KERAS_SEQ_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no IMDB"):
        missing_data("no IMDB")


def test_missing_data_fails_when_ci_says_the_data_is_there(monkeypatch):
    monkeypatch.setenv("KERAS_SEQ_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="no IMDB.*KERAS_SEQ_REQUIRE_DATA=1"):
        missing_data("no IMDB")
