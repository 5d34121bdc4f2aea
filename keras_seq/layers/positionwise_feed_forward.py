"""The transformer's position-wise feed-forward network."""

import keras

from keras_seq.layers.layer_utils import fresh_initializers


@keras.saving.register_keras_serializable(package="keras_seq")
class PositionwiseFeedForward(keras.layers.Layer):
    """FFN(x) = Dropout(W_2 Dropout(f(W_1 x + b_1)) + b_2), applied at every position.

    Args:
        intermediate_dim: int, rows of W_1 (the hidden size, 4x the model width in the paper).
        output_dim: int, rows of W_2; default: the input's last dimension.
        activation: f (default "relu").
        dropout: float, dropout on the hidden layer and on the output.
        kernel_initializer, bias_initializer: initializers of W_1, W_2, b_1, b_2.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(..., d)`.
        training: bool, enables dropout.

    Returns:
        `(..., output_dim)`; the Keras mask propagates.

    Example:

    >>> import numpy as np
    >>> tuple(PositionwiseFeedForward(32)(np.ones((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        intermediate_dim,
        output_dim=None,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(intermediate_dim, int) or intermediate_dim <= 0:
            raise ValueError(
                "`intermediate_dim` must be a positive int, got "
                f"intermediate_dim={intermediate_dim!r}."
            )
        self.intermediate_dim = intermediate_dim
        self.output_dim = output_dim
        self.activation = keras.activations.get(activation)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        output_dim = self.output_dim or inputs_shape[-1]
        init = dict(
            dtype=self.dtype_policy,
            **fresh_initializers(self.kernel_initializer, self.bias_initializer),
        )
        self.inner = keras.layers.Dense(
            self.intermediate_dim, activation=self.activation, name="W_1", **init
        )
        self.inner.build(inputs_shape)
        self.outer = keras.layers.Dense(output_dim, name="W_2", **init)
        self.outer.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.inner_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.output_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(self, inputs, training=None):
        hidden = self.inner_dropout(self.inner(inputs), training=training)  # (..., F)
        return self.output_dropout(self.outer(hidden), training=training)  # (..., D)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            intermediate_dim=self.intermediate_dim,
            output_dim=self.output_dim,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
