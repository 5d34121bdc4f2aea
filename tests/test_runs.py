"""Run folders: layout, unique names, resume detection, atomic JSON writes."""

import json

import pytest

from keras_seq import runs
from keras_seq.runs import RunDirectory, write_json_atomic


def test_new_run_layout_and_description(tmp_path):
    run = RunDirectory("imdb", root=tmp_path)
    assert run.path.parent == tmp_path / "imdb" and not run.resumed
    assert run.logs == run.path / "logs" and run.logs.is_dir()
    assert run.backup == run.path / "backup" and run.export == run.path / "export"
    text = "\n".join(run.describe())
    assert str(run.path) in text and "tensorboard --logdir" in text and "--host 127.0.0.1" in text
    assert "--run-dir" in text


def test_same_second_runs_get_distinct_folders(tmp_path):
    paths = {RunDirectory("imdb", root=tmp_path).path for _ in range(3)}
    assert len(paths) == 3


def test_existing_run_dir_is_resumed(tmp_path):
    first = RunDirectory("imdb", run_dir=tmp_path / "r")
    first.write_json("config.json", {"epochs": 2})
    again = RunDirectory("imdb", run_dir=tmp_path / "r", logdir=tmp_path / "L",
                         export_dir=tmp_path / "E")
    assert again.resumed and again.read_json("config.json") == {"epochs": 2}
    assert again.logs == tmp_path / "L" and again.export == tmp_path / "E"
    assert again.read_json("missing.json", default="none") == "none"


def test_atomic_json_leaves_no_temp_files(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "m.json", {"a": 1, "b": [1.5]})
    assert json.loads(path.read_text()) == {"a": 1, "b": [1.5]}
    with pytest.raises(TypeError):  # a complex key cannot be written as JSON
        write_json_atomic(tmp_path / "sub" / "m.json", {1j: 1})
    assert json.loads(path.read_text()) == {"a": 1, "b": [1.5]}  # old content kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="app"):
        RunDirectory("../x", root=tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--run-dir"):
        RunDirectory("imdb", run_dir=tmp_path / "file")


def test_the_run_opened_last_is_the_current_run(tmp_path):
    runs.clear_current_run()
    assert runs.current_run() is None
    run = RunDirectory("tagger", root=tmp_path)
    assert runs.current_run() is run
    runs.clear_current_run()
    assert runs.current_run() is None


def test_a_run_folder_of_another_app_or_with_a_foreign_export_dir_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps({"app": "translator"}))
    with pytest.raises(ValueError, match=r"holds a translator run, not a imdb run"):
        RunDirectory("imdb", run_dir=tmp_path / "r")
    assert RunDirectory("translator", run_dir=tmp_path / "r").resumed
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"--export-dir .*todo\.txt"):
        RunDirectory("imdb", root=tmp_path / "runs", export_dir=tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
