"""Gradient flow through time: how strongly the loss at the last step depends on each h_t."""

import keras
import numpy as np
import tensorflow as tf


def gradient_flow_through_time(model, token_ids, targets=None):
    """‖∂L_T/∂h_t‖ for every step t of a char language model.

    L_T is the cross-entropy of the *last* step (mean over the batch),
    L_T = -1/B sum_b log softmax(W h^L_T + b)[y_{b,T}], and h_t is the top-layer hidden state
    at step t. By the chain rule (BPTT)

        ∂L_T/∂h_t = (∂h_{t+1}/∂h_t)^T ... (∂h_T/∂h_{T-1})^T ∂L_T/∂h_T,

    e.g. for the Elman cell ∂h_{k}/∂h_{k-1} = diag(f'(a_k)) V. The norm is the Frobenius norm
    of the `[batch, units]` gradient. Vanishing gradients show as norms that fall
    geometrically as t moves away from T; exploding ones as norms that grow.

    The model is unrolled step by step (`model.unroll`), so each h_t is its own tensor and the
    tape returns the total derivative with respect to it (all paths through later states).

    Args:
        model: a `CharLanguageModel` (anything with `unroll(token_ids) -> (logits, [h_t])`).
        token_ids: int `[batch, T + 1]` (inputs are `[:, :-1]`, targets `[:, 1:]`), or the
            inputs `[batch, T]` when `targets` is given.
        targets: optional int `[batch, T]`.

    Returns:
        numpy float64 `[T]`: entry t-1 is ‖∂L_T/∂h_t‖ (t = 1..T).
    """
    token_ids = tf.convert_to_tensor(np.asarray(token_ids), tf.int32)
    if targets is None:
        if token_ids.shape[1] < 2:
            raise ValueError("`token_ids` must have at least 2 steps when `targets` is None, got "
                             f"shape {token_ids.shape}.")
        inputs, targets = token_ids[:, :-1], token_ids[:, 1:]
    else:
        inputs, targets = token_ids, tf.convert_to_tensor(np.asarray(targets), tf.int32)
    with tf.GradientTape() as tape:
        logits, hidden = model.unroll(inputs)
        loss_last = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            targets[:, -1], tf.cast(logits[:, -1], tf.float32), from_logits=True))
    grads = tape.gradient(loss_last, hidden,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return np.array([float(tf.norm(tf.cast(g, tf.float32))) for g in grads], dtype="float64")


class GradientFlowTensorBoard(keras.callbacks.Callback):
    """Writes ‖∂L_T/∂h_t‖ for every t to TensorBoard each epoch (see `gradient_flow_through_time`).

    Scalars (step = epoch): `gradient_flow/t_{t:03d}` for t = 1..T, and
    `gradient_flow/log10_first_over_last` = log10(‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖) (a large negative
    number means the gradient vanishes before it reaches the first step).

    Args:
        log_dir: folder of the summary writer (e.g. `RUN/logs/gradient_flow`).
        token_ids: int `[batch, T + 1]`, a fixed probe batch (inputs and next-char targets).
        every: measure every `every` epochs.

    Call arguments:
        epoch, logs: as for any Keras callback (`on_epoch_end`).

    Returns:
        Nothing; `self.history` holds (epoch, norms) pairs.

    Example:

    >>> cb = GradientFlowTensorBoard("logs/gradient_flow", probe_ids)  # doctest: +SKIP
    """

    def __init__(self, log_dir, token_ids, every=1):
        super().__init__()
        token_ids = np.asarray(token_ids)
        if token_ids.ndim != 2 or token_ids.shape[1] < 2:
            raise ValueError("`token_ids` must be int ids [batch, T + 1] with T >= 1, got "
                             f"shape {token_ids.shape}.")
        self.log_dir = str(log_dir)
        self.token_ids = token_ids
        self.every = max(1, int(every))
        self.history = []
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        model = self.model
        if getattr(model, "stateful", False) and hasattr(model, "stateless_copy"):
            model = model.stateless_copy()
        norms = gradient_flow_through_time(model, self.token_ids)
        self.history.append((epoch, norms))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for t, value in enumerate(norms, start=1):
                tf.summary.scalar(f"gradient_flow/t_{t:03d}", value, step=epoch)
            if norms[-1] > 0 and norms[0] > 0:
                tf.summary.scalar("gradient_flow/log10_first_over_last",
                                  float(np.log10(norms[0] / norms[-1])), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
