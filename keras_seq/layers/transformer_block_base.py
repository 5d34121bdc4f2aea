"""Shared plumbing of the transformer blocks (not a public layer): options, sub-layer factories."""

import keras

from keras_seq.layers.layer_utils import fresh_initializers
from keras_seq.layers.multi_head_attention import MultiHeadAttention
from keras_seq.layers.positionwise_feed_forward import PositionwiseFeedForward


class TransformerBlockBase(keras.layers.Layer):
    """Options and sub-layer factories shared by `TransformerEncoderBlock` and
    `TransformerDecoderBlock` (see those for the arguments)."""

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.1,
        attention_dropout=None,
        key_dim=None,
        activation="relu",
        layer_norm_epsilon=1e-5,
        norm_first=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"`num_heads` must be a positive int, got num_heads={num_heads!r}.")
        if not isinstance(intermediate_dim, int) or intermediate_dim <= 0:
            raise ValueError(
                "`intermediate_dim` must be a positive int, got "
                f"intermediate_dim={intermediate_dim!r}."
            )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.attention_dropout = (
            self.dropout if attention_dropout is None else float(attention_dropout)
        )
        self.key_dim = key_dim
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = norm_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _head_size(self, hidden):
        return self.key_dim or max(1, hidden // self.num_heads)

    def _make_attention(self, name, query_shape, value_shape):
        layer = MultiHeadAttention(
            self.num_heads,
            self._head_size(query_shape[-1]),
            dropout=self.attention_dropout,
            dtype=self.dtype_policy,
            name=name,
            **fresh_initializers(self.kernel_initializer, self.bias_initializer),
        )
        layer.build(query_shape, value_shape)
        return layer

    def _make_norm(self, name, shape):
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        norm.build(shape)
        return norm

    def _make_dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _make_feed_forward(self, shape):
        layer = PositionwiseFeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="feed_forward",
            **fresh_initializers(self.kernel_initializer, self.bias_initializer),
        )
        layer.build(shape)
        return layer

    def _residual(self, x, norm, dropout, fn, training):
        """`norm(x + dropout(fn(x)))` (post-norm) or `x + dropout(fn(norm(x)))` (pre-norm).

        `fn` returns a tuple whose first item is the sub-layer output; the rest (attention
        weights, caches) is passed back as a list.
        """
        out, *extra = fn(norm(x) if self.norm_first else x)
        y = x + dropout(out, training=training)
        return (y if self.norm_first else norm(y)), extra

    def _feed_forward_residual(self, x, training):
        if self.norm_first:
            return x + self.feed_forward(self.ffn_norm(x), training=training)
        return self.ffn_norm(x + self.feed_forward(x, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            key_dim=self.key_dim,
            activation=keras.activations.serialize(self.activation),
            layer_norm_epsilon=self.layer_norm_epsilon,
            norm_first=self.norm_first,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
