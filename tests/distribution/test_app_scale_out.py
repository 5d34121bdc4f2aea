"""The applications under `--strategy`: same loss as one process, and a multi-worker job that
loses a worker to SIGKILL resumes from the chief's last good backup."""

import csv
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_seq.distribution.local_worker_launcher import LocalWorkerLauncher

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_IMDB = ["--dataset", "synthetic", "--vocabulary-size", "300", "--max-length", "48",
             "--embedding-dim", "16", "--hidden-dim", "8", "--batch-size", "32", "--dropout", "0",
             "--word-dropout", "0",
             "--test-size", "64", "--verbose", "0"]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
                KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")


def _train(*argv):
    return [sys.executable, "-m", "keras_seq.cli", "train", *argv]


def _run(command):
    proc = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow  # tests/distribution/test_same_loss.py checks the same sums
def test_imdb_on_two_replicas_matches_one_process(tmp_path):
    common = ["imdb", *TINY_IMDB, "--train-size", "640", "--epochs", "2"]
    _run(_train(*common, "--run-dir", str(tmp_path / "one")))
    out = _run(_train(*common, "--run-dir", str(tmp_path / "two"), "--strategy", "mirrored",
                      "--cpu-devices", "2"))
    assert "Distribution: mirrored, 2 replica(s)" in out and "16 per replica" in out
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text())
                for name in ("one", "two"))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(two["history"][key], one["history"][key], rtol=1e-4)
    assert two["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1 / 64)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["strategy"] == "mirrored" and config["cpu_devices"] == 2
    assert (tmp_path / "two" / "export" / "saved_model.pb").is_file()


def _history_epochs(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _wait_for_backup(run_dir, launcher, epoch, batch, timeout=240):
    pointer = run_dir / "backup" / "training_metadata.json"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert all(p.poll() is None for p in launcher.processes), \
            "\n".join(launcher.outputs[0][-40:])
        try:
            meta = json.loads(pointer.read_text())
        except (OSError, ValueError):
            meta = None
        if meta and (meta["epoch"], meta["batch"]) >= (epoch, batch):
            return meta
        time.sleep(0.05)
    raise AssertionError("no backup in time:\n" + "\n".join(launcher.outputs[0][-40:]))


@pytest.mark.slow  # 2.5 min of worker processes
def test_multi_worker_job_resumes_after_sigkill_and_skips_a_damaged_backup(tmp_path):
    run_dir = tmp_path / "run"
    command = _train("imdb", *TINY_IMDB, "--train-size", "2200", "--epochs", "3",
                     "--backup-every", "4", "--run-dir", str(run_dir),
                     "--strategy", "multi-worker")
    # 1. Two workers; SIGKILL worker 1 in the middle of the second epoch.
    first = LocalWorkerLauncher(command, 2, env=_env(), output=None).start()
    meta = _wait_for_backup(run_dir, first, epoch=1, batch=11)
    first.kill(1)
    code = first.wait(timeout=180, grace_seconds=150)
    chief_output = "\n".join(first.outputs[0])
    assert code != 0
    assert first.processes[0].returncode == 75, chief_output[-3000:]
    assert "a worker of this multi-worker job stopped" in chief_output
    assert f"--run-dir {run_dir}" in chief_output
    assert _history_epochs(run_dir) == [0]  # the first epoch finished and was logged
    assert not (run_dir / "metrics.json").exists()

    # 2. The newest backup is damaged (e.g. the disk filled up): found, the previous used.
    generations = sorted((run_dir / "backup").glob("backup-*.weights.h5"))
    assert len(generations) == 2
    newest = generations[-1]
    newest.write_bytes(newest.read_bytes()[:1000])

    # 3. The restarted job resumes in the second epoch: no finished epoch is trained again.
    second = LocalWorkerLauncher(command, 2, env=_env(), output=None).start()
    assert second.wait(timeout=300) == 0, "\n".join(second.outputs[0][-40:])
    chief_output = "\n".join(second.outputs[0])
    assert f"ERROR: backup {int(newest.name[7:13])} in" in chief_output
    assert "half-written or truncated" in chief_output
    assert "Resumed from the previous good backup" in chief_output
    for output in second.outputs:  # both workers restored the same state
        assert "epochs 3 (2 run now)" in "\n".join(output)
    assert meta["epoch"] == 1
    assert _history_epochs(run_dir) == [0, 1, 2]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run_this_call"] == 2 and len(metrics["history"]["loss"]) == 2
    # TensorBoard events and checkpoints come from the chief only.
    worker_pids = {str(p.pid) for p in first.processes[1:] + second.processes[1:]}
    chief_pids = {str(p.pid) for p in (first.processes[0], second.processes[0])}
    events = [p.name for p in (run_dir / "logs").rglob("events.out.tfevents.*")]
    assert events and all(any(f".{pid}." in e for pid in chief_pids) for e in events)
    assert not [e for e in events if any(f".{pid}." in e for pid in worker_pids)]


def test_stateful_char_lm_refuses_a_distributed_strategy():
    from keras_seq.cli import app_parser

    module, parser = app_parser("char-lm")
    args = parser.parse_args(["--stateful", "--strategy", "mirrored", "--cpu-devices", "2"])
    with pytest.raises(ValueError, match="--stateful with --strategy mirrored"):
        module.run(args, log=lambda line: None)


def test_every_application_takes_the_distribution_options():
    from keras_seq.cli import APPLICATIONS, app_parser

    for app in APPLICATIONS:
        _, parser = app_parser(app)
        args = parser.parse_args(["--strategy", "multi-worker", "--collective-timeout", "30"])
        assert args.strategy == "multi-worker" and args.collective_timeout == 30.0, app


@pytest.mark.slow
@pytest.mark.parametrize("app", ["char-lm", "translator", "captioner", "gpt-lm", "bert-mlm",
                                 "elmo-lm", "tagger", "forecaster"])
def test_every_application_trains_and_exports_on_two_replicas(tmp_path, app):
    out = _run(_train(app, "--quick", "--epochs", "1", "--strategy", "mirrored",
                      "--cpu-devices", "2", "--run-dir", str(tmp_path / "run"),
                      "--verbose", "0"))
    assert "Distribution: mirrored, 2 replica(s)" in out
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert (tmp_path / "run" / "export" / "saved_model.pb").is_file()
