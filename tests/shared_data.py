"""Where the tests find the shared real datasets, and what happens when they are missing.

`.ci/run` sets `KERAS_SEQ_DATA_DIR` to the `../shared/datasets` beside the clone and
`KERAS_SEQ_REQUIRE_DATA=1`: a test that needs real data then fails when it cannot find it
(the data is known to be there), instead of skipping. Outside CI such a test skips, with a
reason naming where it looked.
"""

import os

import pytest


def data_required():
    """True when CI says the shared datasets are there (`KERAS_SEQ_REQUIRE_DATA=1`)."""
    return os.environ.get("KERAS_SEQ_REQUIRE_DATA") == "1"


def missing_data(reason):
    """Skips the test (a developer's machine) or fails it (CI has the data): never returns."""
    where = os.environ.get("KERAS_SEQ_DATA_DIR", "unset")
    if data_required():
        pytest.fail(f"{reason}, though KERAS_SEQ_REQUIRE_DATA=1 (KERAS_SEQ_DATA_DIR={where})")
    pytest.skip(reason)
