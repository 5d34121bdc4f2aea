"""Bidirectional RNN whose states are mean-pooled over the real (unpadded) steps."""

import keras
from keras import ops

POOLINGS = ("mean", "mean_max", "last")


@keras.saving.register_keras_serializable(package="keras_seq")
class BidirectionalMeanPooledRNN(keras.layers.Layer):
    """Runs an RNN forwards and backwards and pools its states over the true length (mean).

    The lecture's Seq2Vec encoder:

        h_t = [h→_t ; h←_t]            (concatenation of both directions)
        h̄  = (1 / T) Σ_{t=1..T} h_t    (T = true, unpadded length of the sequence)

    Padded steps are excluded from both RNNs (the Keras mask freezes the state there)
    and from the mean, so appending padding never changes the result. With
    `pooling="mean_max"` the output is `[h̄ ; max_t h_t]` (the element-wise maximum over
    the same real steps appended to the mean). With `pooling="last"` it is the final state
    of each direction, `[h→_T ; h←_1]`: the forward state at the last REAL step T (what
    `softmax(W h_T)` reads; padding after it is never read) and the backward state at the
    first real step, which is where the backward RNN ends after reading x_T ... x_1, so it
    too has seen the whole sequence (most recently its first words).

    Args:
        layer: a `keras.layers.RNN` instance (`SimpleRNN`, `GRU`, `LSTM`, or
            `RNN(ElmanRNNCell(...))`). It is used as a template: two fresh copies are made
            from its config (forwards and `go_backwards=True`), with `return_sequences=True`;
            only its config is kept (the instance is neither called nor tracked, so no
            unbuilt sublayer is left behind). The copies use this layer's dtype policy.
        pooling: "mean" (the lecture's h̄, default), "mean_max" (`[h̄ ; max_t h_t]`) or
            "last" (`[h→_T ; h←_1]`, the final state of each direction at the real ends).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, time, features)`.
        mask: Keras mask `(batch, time)`, e.g. from `Embedding(mask_zero=True)`.
        padding_mask: explicit bool mask `(batch, time)`, True = real step; takes
            precedence over `mask`.
        training: Python bool, passed to the RNNs (dropout).

    Returns:
        A tensor `(batch, 2 * units)`, or `(batch, 4 * units)` with "mean_max". No mask is
        propagated. A row without any real step gives zeros.

    Example:

    >>> import numpy as np, keras
    >>> pool = BidirectionalMeanPooledRNN(keras.layers.GRU(4))
    >>> tuple(pool(np.zeros((2, 7, 3), "float32")).shape)
    (2, 8)
    """

    def __init__(self, layer, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}, got pooling={pooling!r}.")
        self.pooling = pooling
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if not isinstance(layer, keras.layers.RNN):
            raise ValueError(
                "`layer` must be a keras.layers.RNN instance (SimpleRNN, GRU, LSTM or "
                f"RNN(cell)), got {type(layer).__name__}: {layer!r}."
            )
        if getattr(layer, "return_state", False):
            raise ValueError(
                "`layer` must not use return_state=True: this layer returns the pooled "
                "states only."
            )
        # Only the template's class and config are kept: a tracked, never-built template
        # sublayer made Keras re-trace the train step on every `train_on_batch` under JAX.
        self._template = (layer.__class__, layer.get_config(), layer.name)
        self.supports_masking = True
        self.units = (4 if pooling == "mean_max" else 2) * self._rnn_units(layer)

    @property
    def layer(self):
        """A fresh, unbuilt copy of the template RNN (its config as given)."""
        layer_class, config, _ = self._template
        return layer_class.from_config(dict(config))

    @staticmethod
    def _rnn_units(layer):
        cell = layer.cell
        size = getattr(cell, "output_size", None) or getattr(cell, "units")
        return int(size)

    def _clone(self, go_backwards):
        layer_class, config, name = self._template
        config = dict(config)
        config.update(
            return_sequences=True,
            return_state=False,
            go_backwards=go_backwards,
            name=("backward_" if go_backwards else "forward_") + name,
            dtype=self.dtype_policy,
        )
        return layer_class.from_config(config)

    def build(self, input_shape):
        self.forward_layer = self._clone(go_backwards=False)
        self.backward_layer = self._clone(go_backwards=True)
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, padding_mask=None, training=None):
        if padding_mask is not None:
            mask = padding_mask
        if mask is not None:
            mask = ops.cast(mask, "bool")
        forward = self.forward_layer(inputs, mask=mask, training=training)  # (B, T, H)
        # go_backwards returns steps in reversed order; flip them back to align with t.
        backward = ops.flip(
            self.backward_layer(inputs, mask=mask, training=training), axis=1
        )  # (B, T, H)
        if self.pooling == "last":
            return ops.cast(self._final_states(forward, backward, mask), self.compute_dtype)
        states = ops.cast(ops.concatenate([forward, backward], axis=-1), "float32")
        if mask is None:
            pooled = ops.mean(states, axis=1)  # (B, 2H)
        else:
            weights = ops.expand_dims(ops.cast(mask, "float32"), -1)  # (B, T, 1)
            total = ops.sum(states * weights, axis=1)  # (B, 2H)
            length = ops.maximum(ops.sum(weights, axis=1), 1.0)  # (B, 1)
            pooled = total / length
        if self.pooling == "mean_max":
            if mask is not None:  # padded steps never win the maximum
                states = ops.where(ops.expand_dims(mask, -1), states, ops.full_like(states, -1e9))
            peak = ops.max(states, axis=1)  # (B, 2H)
            if mask is not None:  # an all-padding row gives 0, like its mean
                peak = ops.where(ops.any(mask, axis=1, keepdims=True), peak,
                                 ops.zeros_like(peak))
            pooled = ops.concatenate([pooled, peak], axis=-1)  # (B, 4H)
        return ops.cast(pooled, self.compute_dtype)

    @staticmethod
    def _final_states(forward, backward, mask):
        """[h→_T ; h←_1]: the forward states at the last real step, the backward at the first.

        `forward` and `backward` are `(B, T, H)` in time order; a row without real steps
        selects nothing and gives zeros.
        """
        forward, backward = ops.cast(forward, "float32"), ops.cast(backward, "float32")
        if mask is None:
            return ops.concatenate([forward[:, -1], backward[:, 0]], axis=-1)  # (B, 2H)
        length = ops.shape(mask)[1]
        steps = ops.expand_dims(ops.arange(length), 0)  # (1, T)
        last = ops.max(ops.where(mask, steps, -1), axis=1, keepdims=True)  # (B, 1); -1: none
        first = ops.min(ops.where(mask, steps, length), axis=1, keepdims=True)  # T: none
        at_last = ops.expand_dims(ops.cast(ops.equal(steps, last), "float32"), -1)  # (B, T, 1)
        at_first = ops.expand_dims(ops.cast(ops.equal(steps, first), "float32"), -1)
        return ops.concatenate([ops.sum(forward * at_last, axis=1),
                                ops.sum(backward * at_first, axis=1)], axis=-1)  # (B, 2H)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config["layer"] = keras.saving.serialize_keras_object(self.layer)
        config["pooling"] = self.pooling
        return config
