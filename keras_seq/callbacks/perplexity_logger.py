"""Adds perplexity and bits per char to the epoch logs (before TensorBoard/CSVLogger see them)."""

import math

import keras


class PerplexityLogger(keras.callbacks.Callback):
    """Turns the mean next-token cross-entropy of each epoch into perplexity and bits per char.

    With the mean cross-entropy (in nats) L = -1/N sum_t log P(x_t | x_<t):

        perplexity = exp(L)            bits per char = L / ln 2

    For every `loss` and `val_loss` in the epoch logs it adds `perplexity`/`bits_per_char` and
    `val_perplexity`/`val_bits_per_char`. Place it *before* `TensorBoard` and `CSVLogger` in
    the callback list: Keras passes the same logs dict along, so they record the new keys.
    The training figures include dropout (they are measured in training mode).

    Args:
        loss_key: the cross-entropy entry of the logs (default "loss").
        log: function called with one summary line per epoch, or None.

    Call arguments:
        epoch, logs: as for any Keras callback (`on_epoch_end`).

    Returns:
        Nothing; `logs` is updated in place.

    Example:

    >>> cb = PerplexityLogger(log=None)
    >>> logs = {"loss": 1.0, "val_loss": 2.0}
    >>> cb.on_epoch_end(0, logs)
    >>> round(logs["val_perplexity"], 3), round(logs["bits_per_char"], 3)
    (7.389, 1.443)
    """

    def __init__(self, loss_key="loss", log=print):
        super().__init__()
        self.loss_key = loss_key
        self.log = log
        self.history = []

    @staticmethod
    def perplexity(cross_entropy):
        """exp(cross-entropy in nats); inf when it overflows."""
        try:
            return math.exp(float(cross_entropy))
        except OverflowError:
            return float("inf")

    @staticmethod
    def bits_per_char(cross_entropy):
        """Cross-entropy in bits."""
        return float(cross_entropy) / math.log(2.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        row = {"epoch": epoch}
        for prefix in ("", "val_"):
            key = prefix + self.loss_key
            if key in logs:
                logs[prefix + "perplexity"] = self.perplexity(logs[key])
                logs[prefix + "bits_per_char"] = self.bits_per_char(logs[key])
                row[prefix + "perplexity"] = logs[prefix + "perplexity"]
                row[prefix + "bits_per_char"] = logs[prefix + "bits_per_char"]
        self.history.append(row)
        if self.log is not None:
            self.log(f"epoch {epoch + 1}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in row.items() if k != "epoch"))
