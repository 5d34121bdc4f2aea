"""TrainingCluster: options, TF_CONFIG, chief rules, and the non-chief's private run folder."""

import json

import pytest

from keras_seq.distribution import TrainingCluster, current_cluster, parse_tf_config
from keras_seq.distribution.local_worker_launcher import free_ports, launch_command, tf_config


def _config(index, n=2, chief=False):
    cluster = {"worker": [f"127.0.0.1:{1000 + i}" for i in range(n)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:999"]
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def test_default_is_one_process_and_the_chief():
    cluster = current_cluster()
    assert cluster.name == "none" and cluster.is_chief and cluster.num_replicas == 1
    assert "none" in cluster.describe()


@pytest.mark.parametrize("kwargs, message", [
    (dict(strategy="horovod"), "`--strategy` must be one of none, one-device, mirrored"),
    (dict(strategy="none", cpu_devices=2), "`--cpu-devices` splits .* got it with strategy"),
    (dict(strategy="mirrored", cpu_devices=0), "`--cpu-devices` must be a positive integer"),
])
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingCluster(**kwargs)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        TrainingCluster("multi-worker")


@pytest.mark.parametrize("text, message", [
    ("{oops", "TF_CONFIG must be JSON"),
    ('{"cluster": {}}', "must hold 'cluster'"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}),
     "is not in its cluster"),
])
def test_bad_tf_config_is_explained(text, message):
    with pytest.raises(ValueError, match=message):
        parse_tf_config(text)


def test_chief_is_worker_0_or_the_chief_task(monkeypatch):
    for index, chief in [(0, True), (1, False)]:
        monkeypatch.setenv("TF_CONFIG", _config(index))
        cluster = TrainingCluster("multi-worker")
        assert cluster.is_chief is chief and cluster.num_workers == 2
    monkeypatch.setenv("TF_CONFIG", _config(0, chief=True))
    cluster = TrainingCluster("multi-worker")
    assert not cluster.is_chief and cluster.num_workers == 3


def test_a_non_chief_writes_only_into_a_private_copy(monkeypatch, tmp_path):
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "config.json").write_text('{"epochs": 3}')
    (run / "vocabulary.json").write_text('["", "[UNK]"]')
    monkeypatch.setenv("TF_CONFIG", _config(1))
    cluster = TrainingCluster("multi-worker", run_dir=run)
    cluster._copy_run_files()  # what start() does before the barrier
    import keras_seq.distribution.training_cluster as module

    monkeypatch.setattr(module, "_ACTIVE", cluster)
    from keras_seq.runs import RunDirectory

    run_dir = RunDirectory("imdb", run_dir=run, logdir=tmp_path / "elsewhere")
    assert run_dir.is_worker_copy and run_dir.resumed
    assert run_dir.path != run and run_dir.backup == run / "backup"
    assert run_dir.logs.parent == run_dir.path  # not the given --logdir
    assert json.loads(run_dir.file("vocabulary.json").read_text()) == ["", "[UNK]"]
    run_dir.write_json("metrics.json", {"x": 1})
    assert not (run / "metrics.json").exists()
    assert "not the chief" in run_dir.describe()[0]
    private = cluster._worker_dir
    cluster.close()
    assert not private.exists() and current_cluster() is not cluster


def test_tf_config_and_ports_for_local_workers():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    task_type, index, cluster = parse_tf_config(tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    assert (task_type, index, cluster["worker"]) == ("worker", 1, ["127.0.0.1:1", "127.0.0.1:2"])


@pytest.mark.parametrize("argv, message", [
    (["predict", "x"], "runs a `train APP ...` command"),
    (["train", "imdb", "--strategy", "mirrored"], "needs --strategy multi-worker"),
])
def test_workers_command_checks_its_arguments(argv, message):
    with pytest.raises(ValueError, match=message):
        launch_command(argv, 2)


def test_workers_cli_reports_bad_usage(capsys):
    from keras_seq.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["workers", "2", "train", "imdb", "--strategy=none"])
    assert exit_info.value.code == 2
    assert "needs --strategy multi-worker" in capsys.readouterr().err
