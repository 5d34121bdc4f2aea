import pytest

from tests.shared_data import missing_data

from keras_seq.data import timemachine
from tests.char_lm.helpers import timemachine_path


def test_shared_book_is_found_and_checksummed():
    path = timemachine_path()
    if path is None:
        missing_data("timemachine.txt not found ($KERAS_SEQ_DATA_DIR or ../shared/datasets)")
    assert timemachine.sha256_of(path) == timemachine.SHA256
    text, info = timemachine.load_text("timemachine", download=False, log=lambda *_: None)
    assert info["sha256_ok"] and text.startswith("The Time Machine, by H. G. Wells")


def test_data_file_and_errors(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("hello world\n")
    text, info = timemachine.load_text(data_file=str(f))
    assert text == "hello world\n" and info["dataset"] == "file"
    with pytest.raises(ValueError, match="--data-file"):
        timemachine.load_text(data_file=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="--data-dir"):
        timemachine.load_text(data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--dataset"):
        timemachine.load_text("imdb")


def test_offline_without_the_book_falls_back_loudly(monkeypatch, tmp_path):
    monkeypatch.setattr(timemachine, "find_timemachine", lambda data_dir=None: None)

    def offline(*a, **k):
        raise OSError("offline")

    monkeypatch.setattr(timemachine.urllib.request, "urlopen", offline)
    monkeypatch.setenv("KERAS_SEQ_CACHE", str(tmp_path))
    lines = []
    text, info = timemachine.load_text("auto", log=lines.append)
    assert info["dataset"] == "generated" and "GENERATED" in " ".join(lines)
    assert text == timemachine.generated_corpus()  # deterministic
    with pytest.raises(ValueError, match="--data-file"):
        timemachine.load_text("timemachine", log=lines.append)
