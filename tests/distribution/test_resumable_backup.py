"""Backups: atomic generations with SHA-256, fallback to the previous good one, chief-only."""

import json

import keras
import numpy as np
import pytest

from keras_seq.callbacks import ResumableBackupAndRestore
from tests.simulated_kill import EpochRecorder, KillDuringEpoch


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


X = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
Y = X.sum(1, keepdims=True)


def _train_then_kill(folder, kill_epoch=3, **kwargs):
    model = _model()
    backup = ResumableBackupAndRestore(folder, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=4, epochs=6, verbose=0,
                  callbacks=[backup, KillDuringEpoch(kill_epoch)])
    return model, backup


def test_generations_are_verified_and_pruned(tmp_path):
    model, backup = _train_then_kill(tmp_path)
    generations = backup.generations()
    assert [g["epoch"] for g in generations] == [2, 3]  # keep=2: the newest two
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "backup-000002.json", "backup-000002.weights.h5", "backup-000003.json",
        "backup-000003.weights.h5", "training_metadata.json"]
    newest = generations[-1]
    assert newest["bytes"] == (tmp_path / "backup-000003.weights.h5").stat().st_size
    assert len(newest["sha256"]) == 64
    pointer = json.loads((tmp_path / "training_metadata.json").read_text())
    assert pointer["weights"] == "backup-000003.weights.h5" and pointer["epoch"] == 3
    # A restart restores the newest generation: same weights, continues at epoch 3.
    resumed, epochs = _model(seed=1), EpochRecorder()
    restore = ResumableBackupAndRestore(tmp_path)
    resumed.fit(X, Y, batch_size=4, epochs=4, verbose=0, callbacks=[restore, epochs])
    assert restore.restored_from["number"] == 3
    assert epochs.epochs == [3]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "bad-json"])
def test_damaged_newest_backup_is_reported_and_the_previous_is_used(tmp_path, damage, capsys):
    model, backup = _train_then_kill(tmp_path)
    weights = tmp_path / "backup-000003.weights.h5"
    data = weights.read_bytes()
    if damage == "truncate":  # half-written
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, one byte changed
        middle = len(data) // 2
        weights.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    elif damage == "delete":
        weights.unlink()
    else:
        (tmp_path / "backup-000003.json").write_text("{not json")
    # The expected state: the weights of generation 2 (end of epoch 2).
    reference = _model(seed=2)
    reference.fit(X[:4], Y[:4], epochs=1, verbose=0)  # builds the optimizer
    reference.load_weights(str(tmp_path / "backup-000002.weights.h5"))

    resumed, epochs = _model(seed=1), EpochRecorder()
    restore = ResumableBackupAndRestore(tmp_path)
    resumed.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[restore, epochs])
    err = capsys.readouterr().err
    assert "ERROR: backup 3" in err and "Falling back to the previous backup" in err
    expected = {"truncate": "half-written or truncated", "flip": "does not match its SHA-256",
                "delete": "is missing", "bad-json": "unreadable"}[damage]
    assert expected in err
    assert "Resumed from the previous good backup 2 (epoch 2" in err
    assert restore.restored_from["number"] == 2
    assert epochs.epochs == []  # epoch 2 of 2 was already finished: nothing left to train
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_every_backup_damaged_is_a_clear_error(tmp_path):
    _train_then_kill(tmp_path)
    for path in tmp_path.glob("backup-*.weights.h5"):
        path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"every backup in .* is unusable: .*Delete that folder"):
        _model().fit(X, Y, batch_size=4, epochs=6, verbose=0,
                     callbacks=[ResumableBackupAndRestore(tmp_path, log=lambda line: None)])


def test_a_process_that_does_not_write_leaves_no_file(tmp_path):
    model = _model()
    model.fit(X, Y, batch_size=4, epochs=2, verbose=0,
              callbacks=[ResumableBackupAndRestore(tmp_path / "b", save_freq=1, write=False)])
    assert not (tmp_path / "b").exists()


def test_a_backup_written_by_keras_itself_still_resumes(tmp_path):
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=4, epochs=4, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False),
            KillDuringEpoch(2)])
    assert (tmp_path / "latest.weights.h5").is_file()
    epochs = EpochRecorder()
    _model(seed=3).fit(X, Y, batch_size=4, epochs=4, verbose=0,
                       callbacks=[ResumableBackupAndRestore(tmp_path), epochs])
    assert epochs.epochs == [2, 3]


def test_keep_must_leave_a_fallback():
    with pytest.raises(ValueError, match="keep"):
        ResumableBackupAndRestore("/tmp/x", keep=1)
