"""Writes the optimizer's learning rate to TensorBoard once per epoch."""

import keras
import tensorflow as tf


class LearningRateLogger(keras.callbacks.Callback):
    """Logs the scalar `learning_rate` at the end of every epoch.

    The value is the optimizer's current learning rate (schedules included). It goes to
    `log_dir` (use the TensorBoard callback's `log_dir/train` to see it next to the
    training curves) and into the epoch `logs` dict, so `History`/`CSVLogger` record it.

    Args:
        log_dir: folder of the summary writer.

    Example:

    >>> model.fit(ds, callbacks=[LearningRateLogger("runs/x/logs/train")])  # doctest: +SKIP
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writer = None

    def _current_learning_rate(self):
        optimizer = self.model.optimizer
        lr = optimizer.learning_rate
        if callable(lr) and not hasattr(lr, "numpy"):
            lr = lr(optimizer.iterations)
        return float(keras.ops.convert_to_numpy(lr))

    def on_epoch_end(self, epoch, logs=None):
        lr = self._current_learning_rate()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.scalar("learning_rate", lr, step=epoch)
        self._writer.flush()
        if logs is not None:
            logs["learning_rate"] = lr

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
