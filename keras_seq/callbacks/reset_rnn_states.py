"""Resets stateful RNN layers at each epoch start (truncated BPTT over sequential batches)."""

import keras

from keras_seq import compat


class ResetRNNStates(keras.callbacks.Callback):
    """Zeros the carried state of a stateful model at the start of every epoch and evaluation.

    With `sequential_dataset` batches and `CharLanguageModel(stateful=True)`, row b of batch
    k+1 continues row b of batch k, so the final state of one batch is the right initial state
    of the next (truncated backpropagation through time: the forward pass carries the state,
    the gradient stops at the batch boundary). A new epoch starts a new pass over the stream
    (with a new offset) and the validation stream is another text: both start from zero.

    Args:
        model_fn: optional function returning the model to reset (default: the fitted model).

    Call arguments:
        epoch, logs: as for any Keras callback.

    Returns:
        Nothing; it calls `model.reset_rnn_states()` (or each stateful layer's `reset_state`).

    Example:

    >>> import numpy as np
    >>> from keras_seq.models.char_language_model import CharLanguageModel
    >>> m = CharLanguageModel(10, cell="gru", hidden_dim=4, stateful=True)
    >>> _ = m(np.ones((2, 3), "int32"))
    >>> cb = ResetRNNStates(); cb.set_model(m); cb.on_epoch_begin(0)
    >>> float(np.abs(m.rnn_layers[0].states[0].numpy()).sum())
    0.0
    """

    def __init__(self, model_fn=None):
        super().__init__()
        self.model_fn = model_fn
        self.resets = 0

    def _reset(self):
        model = self.model_fn() if self.model_fn is not None else self.model
        if hasattr(model, "reset_rnn_states"):
            model.reset_rnn_states()
        else:
            for layer in compat.flatten_layers(model):
                if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
                    layer.reset_state()
        self.resets += 1

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_test_begin(self, logs=None):
        self._reset()

    def on_test_end(self, logs=None):
        self._reset()
