"""TensorBoard extras: learning-rate scalar, sample-prediction text, resumable backups."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_seq.callbacks import LearningRateLogger, ResumableBackupAndRestore, SamplePredictionsText


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(keras.optimizers.SGD(schedule), "binary_crossentropy")
    return model


def _events(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


def test_learning_rate_logger_writes_scalar_per_epoch(tmp_path):
    model = _tiny_model()
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0,
                        callbacks=[LearningRateLogger(tmp_path)])
    events = _events(tmp_path).Tensors("learning_rate")
    assert [e.step for e in events] == [0, 1, 2]
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in events]
    np.testing.assert_allclose(values, [0.05, 0.025, 0.0125], rtol=1e-6)  # after 1, 2, 3 steps
    np.testing.assert_allclose(history.history["learning_rate"], values, rtol=1e-6)


def test_sample_predictions_text_table(tmp_path):
    model = _tiny_model()
    texts = ["good | film", "bad film " * 100]
    cb = SamplePredictionsText(tmp_path, texts, np.ones((2, 3), "float32"), [1, 0], max_chars=20)
    model.fit(np.ones((2, 3)), np.ones((2, 1)), epochs=2, verbose=0, callbacks=[cb])
    events = _events(tmp_path).Tensors("sample_predictions")
    assert [e.step for e in events] == [0, 1]
    table = tf.make_ndarray(events[-1].tensor_proto).item().decode()
    assert table.startswith("| # | review | truth | predicted | p(positive) | ok |")
    assert "good \\| film" in table and "..." in table and "| positive |" in table
    assert len(table.splitlines()) == 4
    with pytest.raises(ValueError, match="texts"):
        SamplePredictionsText(tmp_path, ["a"], np.ones((1, 3)), [0, 1])


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.stop, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.stop:
            raise RuntimeError("killed")


def test_resumable_backup_records_epoch_across_two_kills(tmp_path):
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))
    for stop in [(1, 1), (2, 2), None]:
        model = _tiny_model()
        callbacks = [ResumableBackupAndRestore(tmp_path, save_freq=1), record]
        if stop:
            callbacks.append(_StopAt(*stop))
            with pytest.raises(RuntimeError):
                model.fit(x, y, batch_size=2, epochs=4, verbose=0, callbacks=callbacks)
        else:
            model.fit(x, y, batch_size=2, epochs=4, verbose=0, callbacks=callbacks)
    # 0,1 (killed in 1) | 1,2 (killed in 2) | 2,3: never back to epoch 0.
    assert seen == [0, 1, 1, 2, 2, 3]
    meta = json.loads((tmp_path / "training_metadata.json").read_text())
    assert meta["epoch"] == 4
    seen.clear()
    _tiny_model().fit(x, y, batch_size=2, epochs=4, verbose=0,
                      callbacks=[ResumableBackupAndRestore(tmp_path, save_freq=1), record])
    assert seen == []  # a finished run given again trains no more


def test_training_time_budget_stops_fit_and_keeps_history():
    import doctest

    from keras_seq.callbacks import TrainingTimeBudget
    from keras_seq.callbacks import training_time_budget as module

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    lines = []
    budget = TrainingTimeBudget(minutes=1e-6, log=lines.append)
    history = model.fit(np.ones((64, 2)), np.ones((64, 1)), batch_size=8, epochs=5,
                        validation_data=(np.ones((8, 2)), np.ones((8, 1))),
                        callbacks=[budget], verbose=0)
    assert budget.stopped_at == {"epoch": 0, "batch": 0}
    assert len(history.history["loss"]) == 1 and "val_loss" in history.history
    assert budget.elapsed_seconds > 0 and "stopping in epoch 1 after batch 1" in lines[0]

    roomy = TrainingTimeBudget(minutes=60, log=None)
    history = model.fit(np.ones((16, 2)), np.ones((16, 1)), batch_size=8, epochs=3,
                        callbacks=[roomy], verbose=0)
    assert roomy.stopped_at is None and len(history.history["loss"]) == 3
    with pytest.raises(ValueError, match="minutes must be > 0"):
        TrainingTimeBudget(0)

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(TrainingTimeBudget, globs=vars(module)):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0
