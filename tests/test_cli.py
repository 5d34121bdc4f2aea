"""`keras-seq` command line: help, application table, train errors, predict on an export."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from keras_seq import cli
from keras_seq.data.synthetic_reviews import generate_reviews
from tests.imdb_helpers import tiny_model_and_vocabulary, tiny_task


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    data = generate_reviews(64, seed=0)
    model, vectorizer = tiny_model_and_vocabulary(data.texts, data.labels, steps=1)
    path = tmp_path_factory.mktemp("cli") / "export"
    tiny_task(model, vectorizer, 32).export(path)
    return path


def _exit_code(argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    return info.value.code


def test_help_lists_commands_and_applications(capsys):
    assert _exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "predict" in out and "imdb" in out
    assert _exit_code(["train", "--help"]) == 0
    assert "imdb" in capsys.readouterr().out
    assert _exit_code(["train", "imdb", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--data-dir", "--epochs", "--batch-size", "--logdir", "--export-dir",
                   "--seed", "--quick", "--max-length", "--jit-compile", "--run-dir"):
        assert option in out


def test_every_application_row_follows_the_template():
    common = {"data_dir", "epochs", "batch_size", "logdir", "export_dir", "seed", "quick",
              "run_dir"}
    for name in cli.APPLICATIONS:
        module, parser = cli.app_parser(name)
        assert callable(module.run), name
        missing = common - set(vars(parser.parse_args([])))
        assert not missing, f"{name} lacks the common options {sorted(missing)}"


@pytest.mark.parametrize("argv, named", [
    (["train", "nope"], "APP"),
    (["train", "imdb", "--epochs", "0"], "--epochs"),
    (["train", "imdb", "--batch-size", "x"], "--batch-size"),
    (["train", "imdb", "--rnn", "transformer"], "--rnn"),
    (["train", "imdb", "--val-fraction", "2"], "--val-fraction"),
    (["train", "imdb", "--dataset", "imdb", "--data-dir", "/nonexistent/dir"], "--data-dir"),
    (["predict", "/nonexistent/export", "text"], "EXPORT_DIR"),
])
def test_bad_input_exits_2_naming_the_argument(argv, named, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(argv) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_predict_prints_one_line_per_input(export_dir, capsys):
    assert cli.main(["predict", str(export_dir), "this movie is so great", "", "so bad"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for line, text in zip(lines, ["this movie is so great", "", "so bad"]):
        label, probability, shown = line.split("\t")
        assert label in ("positive", "negative")
        assert 0.0 <= float(probability.split("=")[1]) <= 1.0
        assert json.loads(shown) == text


def test_predict_json_and_file_input(export_dir, tmp_path, capsys):
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("first review\nsecond review\n", encoding="utf-8")
    assert cli.main(["predict", str(export_dir), "--file", str(inputs), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == ["first review", "second review"]
    assert all(set(r) == {"input", "label", "probability"} for r in rows)
    assert _exit_code(["predict", str(export_dir)]) == 2
    assert "INPUT" in capsys.readouterr().err
    assert _exit_code(["predict", str(export_dir), "x", "--signature", "nope"]) == 2
    assert "--signature" in capsys.readouterr().err


ROOT = pathlib.Path(__file__).resolve().parents[1]
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cuInit|cuda drivers")


def test_console_script_entry_point_without_tensorflow_noise(export_dir):
    """A fresh process: the answer on stdout, and none of TensorFlow's start-up lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("KERAS_SEQ_TF_LOGS", None)
    done = subprocess.run([sys.executable, "-m", "keras_seq.cli", "predict", str(export_dir),
                           "--json", "fine"], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)[0]["input"] == "fine"
    noise = [line for line in done.stderr.splitlines() if TF_LOG_LINE.search(line)]
    assert not noise, noise


@pytest.mark.parametrize("argv, quiet", [
    (["/usr/bin/keras-seq", "train", "imdb"], True),
    (["/usr/bin/keras-seq", "--verbose", "train", "imdb"], False),
    (["keras_seq/cli.py", "predict", "x"], True),
    (["applications/translator.py", "--quick"], True),            # python applications/...
    (["/site/keras_seq/applications/imdb.py"], True),              # the installed copy
    (["applications/__init__.py"], False),
    (["tutorials/bptt.py", "--quick"], False),                     # not a keras-seq command
    (["-c"], False),
    ([], False),
])
def test_which_processes_keep_tensorflow_start_up_lines_out(argv, quiet):
    from keras_seq._startup import is_cli_process

    assert is_cli_process(argv) is quiet
