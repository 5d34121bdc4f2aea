"""Stops `model.fit` once a wall-clock budget is spent (the "trained in ≤ N minutes" contract)."""

import time

import keras


class TrainingTimeBudget(keras.callbacks.Callback):
    """Ends training after `minutes` of wall time, at the first batch end past the budget.

    Benchmarks such as "BLEU after at most 60 minutes of training on 2 CPUs" need the budget
    to be enforced, not estimated: this callback sets `model.stop_training` as soon as the
    time since `on_train_begin` exceeds `minutes`. Keras then finishes the epoch's
    bookkeeping (validation, TensorBoard, checkpoints) and returns from `fit`, so the model,
    its logs and the budget it used are all kept. `stopped_at` says whether and where it
    stopped.

    Args:
        minutes: the budget in minutes (> 0).
        log: a function that receives one line when the budget stops training (default
            `print`); `None` for silence.

    Call arguments:
        batch, epoch, logs: as for any Keras callback.

    Returns:
        Nothing; after `fit`, `elapsed_seconds` is the training time and `stopped_at` is
        `None` or `{"epoch": e, "batch": b}` (0-based) when the budget ended the run.

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> budget = TrainingTimeBudget(minutes=0.0001, log=None)  # 6 ms: stops at once
    >>> _ = model.fit(np.ones((64, 2)), np.ones((64, 1)), batch_size=8, epochs=5,
    ...               callbacks=[budget], verbose=0)
    >>> budget.stopped_at["epoch"]
    0
    """

    def __init__(self, minutes, log=print):
        super().__init__()
        if not minutes > 0:
            raise ValueError(f"minutes must be > 0, got {minutes!r}")
        self.minutes = float(minutes)
        self.log = log
        self.elapsed_seconds = 0.0
        self.stopped_at = None
        self._start = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self.stopped_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.elapsed_seconds = time.monotonic() - self._start
        if self.stopped_at is None and self.elapsed_seconds > 60.0 * self.minutes:
            self.stopped_at = {"epoch": self._epoch, "batch": batch}
            self.model.stop_training = True
            if self.log is not None:
                self.log(f"Training time budget of {self.minutes:g} min spent: stopping in "
                         f"epoch {self._epoch + 1} after batch {batch + 1}.")

    def on_train_end(self, logs=None):
        if self._start is not None:
            self.elapsed_seconds = time.monotonic() - self._start
