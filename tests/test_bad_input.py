"""Bad input to the CLI and the applications: one line and a non-zero exit, or a defined result.

Never a traceback, a hang, a silently wrong result or lost files. Everything runs in-process
on tiny inputs; the one export is a tiny untrained forecaster (its serving_default takes
text: a history "v1, v2, ...").
"""

import argparse
import dataclasses
import errno
import gzip
import json
import logging
import os
import pathlib
import sys

import numpy as np
import pytest

from keras_seq import app_args, cli, lifecycle, runs
from keras_seq.data import imdb
from keras_seq.export.atomic import EXPORT_MARKER, check_replaceable, replace_dir_atomically
from keras_seq.runs import RunDirectory

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _exit(argv, capsys):
    """Runs `keras-seq ARGV` in-process: (exit status, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def forecaster_export(tmp_path_factory):
    from keras_seq.models.rnn_forecaster import RNNForecaster
    from keras_seq.tasks import Forecaster, ForecasterPreprocessor

    model = RNNForecaster(horizon=2, hidden_dim=3)
    model(np.zeros((1, 4), "float32"))
    path = tmp_path_factory.mktemp("bad_input") / "forecaster"
    scaler = {"transform": "log", "mean": 4.0, "std": 1.0}
    Forecaster(model, ForecasterPreprocessor(4, 2, **scaler)).export(path)
    return str(path)


# ---- data loss: --export-dir -------------------------------------------------------------

def _build(text):
    def build(path):
        os.makedirs(path)
        pathlib.Path(path, "saved_model.pb").write_text(text)
    return build


def test_export_never_replaces_a_folder_that_is_not_ours(tmp_path):
    mine = tmp_path / "my_files"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match=r"holds no keras-seq export.*thesis\.tex"):
        replace_dir_atomically(_build("v1"), mine)
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_files"]  # no temp folder left
    with pytest.raises(ValueError, match="an existing file"):
        check_replaceable(mine / "thesis.tex")


def test_export_replaces_an_empty_folder_and_its_own_exports(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    replace_dir_atomically(_build("v1"), empty)
    assert sorted(p.name for p in empty.iterdir()) == [EXPORT_MARKER, "saved_model.pb"]
    replace_dir_atomically(_build("v2"), empty)  # an export of ours: replaced
    assert (empty / "saved_model.pb").read_text() == "v2"
    # An export written before the marker existed, in its run folder: replaced too.
    run = tmp_path / "run"
    (run / "export" / "variables").mkdir(parents=True)
    (run / "export" / "saved_model.pb").write_text("old")
    (run / "config.json").write_text("{}")
    replace_dir_atomically(_build("v3"), run / "export")
    assert (run / "export" / "saved_model.pb").read_text() == "v3"


def test_a_run_with_a_foreign_export_dir_stops_before_training(tmp_path, capsys):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ValueError, match="--export-dir"):
        RunDirectory("tagger", root=tmp_path / "runs", export_dir=mine)
    code, out, err = _exit(["train", "forecaster", "--quick", "--runs-root",
                            str(tmp_path / "runs"), "--export-dir", str(mine)], capsys)
    assert code == 2 and "--export-dir" in _one_line(err) and "cat.jpg" in err
    assert "Epoch" not in out and (mine / "cat.jpg").read_bytes() == b"\xff\xd8"


# ---- tracebacks ----------------------------------------------------------------------

def _imdb_dir(tmp_path, train_bytes):
    folder = tmp_path / "imdb"
    folder.mkdir(parents=True)
    (folder / "train.jsonl.gz").write_bytes(train_bytes)
    good = json.dumps({"id": 1, "rating": 9, "label": 1, "text": "great"}) + "\n"
    (folder / "test.jsonl.gz").write_bytes(gzip.compress(good.encode()))
    return folder


def test_imdb_file_that_is_not_gzip_or_is_truncated(tmp_path):
    plain = _imdb_dir(tmp_path / "a", b'{"label": 1, "text": "not compressed"}\n')
    with pytest.raises(ValueError, match=r"train\.jsonl\.gz is not a gzip file"):
        imdb.read_imdb("jsonl", plain)
    rows = "".join(json.dumps({"label": i % 2, "text": "word " * 50}) + "\n" for i in range(50))
    cut = gzip.compress(rows.encode())
    truncated = _imdb_dir(tmp_path / "b", cut[:len(cut) // 2])
    with pytest.raises(ValueError, match=r"train\.jsonl\.gz is truncated or corrupt"):
        imdb.read_imdb("jsonl", truncated)
    bad_json = _imdb_dir(tmp_path / "c", gzip.compress(b'{"label": 1, "text": "ok"}\n{oops\n'))
    with pytest.raises(ValueError, match=r"train\.jsonl\.gz, line 2: not a JSON object"):
        imdb.read_imdb("jsonl", bad_json)


def test_imdb_app_on_a_broken_data_file_says_one_line(tmp_path, capsys):
    folder = _imdb_dir(tmp_path, b"plain text, no gzip")
    code, out, err = _exit(["train", "imdb", "--dataset", "imdb", "--data-dir", str(folder),
                            "--runs-root", str(tmp_path / "runs")], capsys)
    assert code == 2 and "is not a gzip file" in _one_line(err)


def test_predict_file_with_bad_utf8_names_the_file_and_offset(forecaster_export, tmp_path, capsys):
    bad = tmp_path / "reviews.txt"
    bad.write_bytes(b"fine review\nbad \xff byte\n")
    code, out, err = _exit(["predict", forecaster_export, "--file", str(bad)], capsys)
    line = _one_line(err)
    assert code == 2 and str(bad) in line and "byte offset 16" in line and "line 2" in line


def test_bad_utf8_in_a_training_file_names_the_file(tmp_path, capsys):
    bad = tmp_path / "spans.jsonl"
    bad.write_bytes(b'{"text": "paid 12", "spans": [[5, 7, "NUM"]]}\n{"text": "caf\xe9"}\n')
    code, out, err = _exit(["train", "tagger", "--quick", "--data-file", str(bad),
                            "--runs-root", str(tmp_path / "runs")], capsys)
    line = _one_line(err)
    assert code == 2 and f"{bad}: not valid utf-8 text" in line and "0xe9" in line
    config = tmp_path / "run" / "config.json"
    config.parent.mkdir()
    config.write_bytes(b'{"app": "tagger", "units": "\xff"}')
    code, out, err = _exit(["train", "tagger", "--run-dir", str(config.parent)], capsys)
    assert code == 2 and "config.json" in _one_line(err)


def test_ctrl_c_prints_the_resume_command_and_exits_130(tmp_path, capsys, monkeypatch, request):
    monkeypatch.delenv("KERAS_SEQ_TF_LOGS", raising=False)
    tf_logger = logging.getLogger("tensorflow")
    request.addfinalizer(lambda level=tf_logger.level: tf_logger.setLevel(level))
    parser = argparse.ArgumentParser(prog="keras-seq train tagger")
    parser.add_argument("--run-dir")

    def run(args):
        RunDirectory("tagger", run_dir=args.run_dir)
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as done:
        app_args.run_main(parser, run, ["--run-dir", str(tmp_path / "r")], app="tagger")
    assert done.value.code == 130
    assert _one_line(capsys.readouterr().err) == (
        f"keras-seq train tagger: interrupted; resume with: keras-seq train tagger "
        f"--run-dir {tmp_path / 'r'}")
    assert runs.current_run() is None  # forgotten once run_main returns

    def early(args):  # before any run folder exists: no resume hint
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as done:
        app_args.run_main(parser, early, [], app="tagger")
    assert done.value.code == 130
    assert _one_line(capsys.readouterr().err) == "keras-seq train tagger: interrupted"
    # What TensorFlow logs at exit about a trace the interrupt cut short stays out.
    assert tf_logger.level == logging.CRITICAL


def test_unwritable_run_folder_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")  # a run folder under a file cannot be created, even by root
    with pytest.raises(ValueError, match=r"--runs-root: cannot write the run folder .*a_file"):
        RunDirectory("tagger", root=blocker / "runs")
    real_mkstemp = runs.tempfile.mkstemp

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))

    monkeypatch.setattr(runs.tempfile, "mkstemp", read_only)
    with pytest.raises(ValueError, match=r"Read-only file system.*--run-dir or --runs-root"):
        RunDirectory("tagger", run_dir=tmp_path / "ro")
    monkeypatch.setattr(runs.tempfile, "mkstemp", real_mkstemp)
    parser = argparse.ArgumentParser(prog="app")

    def run(args):  # an OSError anywhere in a run: one line, exit 1
        raise PermissionError(errno.EACCES, "Permission denied", "/data/runs/x/metrics.json")

    with pytest.raises(SystemExit) as done:
        app_args.run_main(parser, run, [])
    assert done.value.code == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("app: error: Permission denied: /data/runs/x/metrics.json")


def test_unexpected_errors_keep_their_traceback():
    parser = argparse.ArgumentParser(prog="app")

    def run(args):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        app_args.run_main(parser, run, [])


# ---- silently wrong ------------------------------------------------------------------

@pytest.mark.parametrize("app", sorted(cli.APPLICATIONS))
def test_explicit_options_win_over_quick_and_quick_says_what_it_changed(app):
    module, parser = cli.app_parser(app)
    lines = []
    config = module.APPLICATION.config(
        parser.parse_args(["--quick", "--epochs", "7", "--batch-size", "3"]), log=lines.append)
    assert (config.epochs, config.batch_size) == (7, 3)
    assert not any("--epochs" in line or "--batch-size" in line for line in lines)
    # Without the explicit options, --quick shrinks what it declares (and says so).
    lines = []
    config = module.APPLICATION.config(parser.parse_args(["--quick"]), log=lines.append)
    changed = [line for line in lines if line.startswith("--quick:")]
    assert len(changed) == 1, lines
    for name in ("epochs", "batch_size"):
        declared = module.APPLICATION.config_class.__dataclass_fields__[name].metadata["quick"]
        if declared is not lifecycle._UNSET:
            assert getattr(config, name) == declared
            assert f"--{name.replace('_', '-')} {declared}" in changed[0]


def test_quick_leaves_what_a_resumed_run_stored(tmp_path):
    module, parser = cli.app_parser("tagger")
    stored = dataclasses.asdict(module.TaggerConfig(quick=True, hidden_dim=64, epochs=2))
    (tmp_path / "config.json").write_text(json.dumps({**stored, "app": "tagger"}))
    args = parser.parse_args(["--quick", "--run-dir", str(tmp_path)])
    config = module.APPLICATION.config(args, log=lambda line: None)
    assert config.quick and config.hidden_dim == 64  # the stored --units, not --quick's 32


def test_forecaster_export_rejects_nan_and_inf(forecaster_export, capsys):
    import tensorflow as tf

    rows = cli.predict(forecaster_export, ["1, 2, 3, 4"])
    assert np.all(np.isfinite(rows[0]["forecast"])) and len(rows[0]["forecast"]) == 2
    code, out, err = _exit(["predict", forecaster_export, "1, nan, 3, 4"], capsys)
    assert code == 2 and "finite number" in _one_line(err) and out == ""
    code, out, err = _exit(["predict", forecaster_export, "1, 2, 3, -5"], capsys)
    assert code == 2 and "must be > -1" in _one_line(err)
    loaded = tf.saved_model.load(forecaster_export)
    for bad in (np.nan, np.inf):
        with pytest.raises(tf.errors.InvalidArgumentError, match="finite number"):
            loaded.signatures["forecast"](values=tf.constant([[1.0, bad, 3.0, 4.0]]))


def test_image_file_given_to_a_text_model_is_refused(forecaster_export, tmp_path, capsys):
    image = tmp_path / "holiday.JPG"
    image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, out, err = _exit(["predict", forecaster_export, str(image)], capsys)
    line = _one_line(err)
    assert code == 2 and str(image) in line and "takes text" in line and out == ""
    # Text that merely ends in ".png" but names no file goes to the model (which parses it).
    code, out, err = _exit(["predict", forecaster_export, "1, 2, 3, 4 chart.png"], capsys)
    assert code == 2 and "is an image file" not in err and "rejected the input" in err


def test_predict_without_inputs_or_with_help_says_what_the_export_takes(forecaster_export,
                                                                        capsys):
    code, out, err = _exit(["predict", forecaster_export], capsys)
    assert code == 2 and "INPUT" in err
    assert "serving_default: text (one text per input) -> forecast, forecast_text" in err
    assert "forecast: values (float32, shape [-1, 4]) -> forecast  [keras-seq predict " \
           "cannot call it" in err
    code, out, err = _exit(["predict", forecaster_export, "--help"], capsys)
    assert code == 0 and "serving_default: text" in out and "captioner" in out
    code, out, err = _exit(["predict", "--help"], capsys)
    assert code == 0 and "EXPORT_DIR" in out
    code, out, err = _exit(["predict", forecaster_export, "1,2,3,4", "--signature", "forecast"],
                           capsys)
    assert code == 2 and "needs one string input" in _one_line(err)


# ---- misleading ----------------------------------------------------------------------

def test_run_folder_of_another_application_is_named(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"app": "translator", "dataset": "dates"}))
    code, out, err = _exit(["train", "imdb", "--run-dir", str(tmp_path)], capsys)
    line = _one_line(err)
    assert code == 2 and "holds a translator run, not a imdb run" in line
    assert "keras-seq train translator --run-dir" in line
    with pytest.raises(ValueError, match="holds a translator run"):
        RunDirectory("tagger", run_dir=tmp_path)


def test_predict_options_may_come_before_the_inputs(forecaster_export, capsys):
    code, out, err = _exit(["predict", forecaster_export, "--json", "1, 2, 3, 4", "4, 3, 2, 1"],
                           capsys)
    assert code == 0, err
    assert [row["input"] for row in json.loads(out)] == ["1, 2, 3, 4", "4, 3, 2, 1"]
    code, out, err = _exit(["predict", "--json", forecaster_export, "--signature",
                            "serving_default", "1 2 3 4"], capsys)
    assert code == 0 and json.loads(out)[0]["input"] == "1 2 3 4"


# ---- output: TensorFlow noise, progress ----------------------------------------------

def test_fit_verbosity_auto_follows_the_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    assert lifecycle.fit_verbosity("auto") == 2  # pytest captures stdout: a log file
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert lifecycle.fit_verbosity("auto") == 1
    monkeypatch.undo()
    module, parser = cli.app_parser("tagger")
    config = module.APPLICATION.config(parser.parse_args([]), log=lambda line: None)
    assert lifecycle.fit_verbosity(config.verbose) == 2
    assert lifecycle.fit_verbosity(parser.parse_args(["--verbose", "0"]).verbose) == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["--verbose", "3"])


def test_loaders_print_a_line_before_long_work(tmp_path, capsys):
    folder = _imdb_dir(tmp_path, gzip.compress(b'{"label": 0, "text": "dull"}\n'))
    with app_args.show_progress_lines():
        imdb.read_imdb("jsonl", folder)
    assert f"reading the IMDB reviews (train and test) from {folder} ..." in \
        capsys.readouterr().out


def test_top_level_verbose_flag_asks_for_tensorflow_logs(monkeypatch, forecaster_export, capsys):
    monkeypatch.setenv(app_args.TF_LOGS_ENV, "0")  # restored (unset) after the test
    code, out, err = _exit(["--verbose", "predict", forecaster_export, "1, 2, 3, 4"], capsys)
    assert code == 0 and os.environ.get(app_args.TF_LOGS_ENV) == "1"


@pytest.mark.slow
def test_real_ctrl_c_during_training_is_one_line_with_the_resume_command(tmp_path):
    """A real SIGINT in the middle of `keras-seq train tagger --quick` (a fresh process)."""
    import signal
    import subprocess
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "keras_seq.cli", "train", "tagger", "--quick", "--runs-root",
         str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = []
    for line in proc.stdout:  # until the model is built: training starts next
        first.append(line)
        if line.startswith("Model:"):
            break
    time.sleep(5)  # inside the first epoch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    run_dir = next((tmp_path / "runs" / "tagger").iterdir())
    assert proc.returncode == 130
    assert err.strip() == (f"keras-seq train tagger: interrupted; resume with: keras-seq train "
                           f"tagger --run-dir {run_dir}")
    assert first[0].startswith("--quick: ") and (run_dir / "config.json").is_file()
