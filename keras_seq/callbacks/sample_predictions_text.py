"""Writes a table of sample predictions (text, truth, prediction) to TensorBoard's Text tab."""

import keras
import numpy as np
import tensorflow as tf


class SamplePredictionsText(keras.callbacks.Callback):
    """After each epoch, predicts a few fixed examples and logs a Markdown table.

    Args:
        log_dir: folder of the summary writer (e.g. `RUN/logs/validation`).
        texts: the raw examples shown in the table (list of str).
        inputs: the model inputs of the same examples (e.g. token ids `[n, time]`).
        targets: true class ids `[n]`.
        class_names: names of class 0 and 1.
        max_chars: texts are cut to this many characters in the table.
        logits: whether the model outputs logits (sigmoid applied before display).
        tag: summary tag.

    Example:

    >>> cb = SamplePredictionsText("logs/validation", texts[:5], ids[:5], y[:5])  # doctest: +SKIP
    """

    def __init__(self, log_dir, texts, inputs, targets, class_names=("negative", "positive"),
                 max_chars=300, logits=False, tag="sample_predictions"):
        super().__init__()
        if len(texts) != len(targets) or len(texts) == 0:
            raise ValueError(
                "`texts` and `targets` must be non-empty and of equal length, got "
                f"{len(texts)} texts and {len(targets)} targets.")
        self.log_dir = str(log_dir)
        self.texts = list(texts)
        self.inputs = inputs
        self.targets = np.asarray(targets).astype(int)
        self.class_names = list(class_names)
        self.max_chars = max_chars
        self.logits = logits
        self.tag = tag
        self._writer = None

    @staticmethod
    def _cell(text):
        return " ".join(str(text).replace("|", "\\|").split())

    def table(self, probabilities):
        """The Markdown table for `probabilities` `[n]` (probability of class 1)."""
        rows = ["| # | review | truth | predicted | p(positive) | ok |",
                "|---|---|---|---|---|---|"]
        for i, (text, truth, p) in enumerate(zip(self.texts, self.targets, probabilities)):
            pred = int(p >= 0.5)
            snippet = (self._cell(text[: self.max_chars])
                       + ("..." if len(text) > self.max_chars else ""))
            rows.append(
                f"| {i} | {snippet} | {self.class_names[truth]} | {self.class_names[pred]} "
                f"| {p:.3f} | {'yes' if pred == truth else 'NO'} |")
        return "\n".join(rows)

    def on_epoch_end(self, epoch, logs=None):
        out = keras.ops.convert_to_numpy(self.model(self.inputs, training=False))
        probabilities = out.reshape(-1).astype("float64")
        if self.logits:
            probabilities = 1.0 / (1.0 + np.exp(-probabilities))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.text(self.tag, self.table(probabilities), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
