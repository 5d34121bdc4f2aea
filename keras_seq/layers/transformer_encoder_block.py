"""Transformer encoder block: self-attention and feed-forward, each with residual + norm."""

import keras

from keras_seq.layers.attention_masks import keras_mask_of
from keras_seq.layers.multi_head_attention import MultiHeadAttention
from keras_seq.layers.positionwise_feed_forward import PositionwiseFeedForward


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerEncoderBlock(keras.layers.Layer):
    """One transformer encoder block (Vaswani et al., 2017).

    Post-norm (the paper, default):

        z = LayerNorm(x + Dropout(MultiHead(x, x, x)))
        y = LayerNorm(z + Dropout(W_2 f(W_1 z + b_1) + b_2))

    Pre-norm (`norm_first=True`, GPT-2 style): `z = x + Dropout(MultiHead(LN(x)))`,
    `y = z + Dropout(FFN(LN(z)))`. Padded tokens are never attended to, so appending
    padding changes no output at real positions.

    Args:
        num_heads: int, number of attention heads.
        intermediate_dim: int, hidden size of the feed-forward network (W_1).
        dropout: float, dropout after attention and feed-forward (and on the FFN hidden).
        attention_dropout: float, dropout on the attention weights (default `dropout`).
        key_dim: size of each head (default `hidden_dim // num_heads`).
        activation: f, the feed-forward activation.
        layer_norm_epsilon: epsilon of the layer norms.
        norm_first: pre-norm instead of post-norm.
        kernel_initializer, bias_initializer: initializers of all dense kernels/biases.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(B, T, hidden_dim)`.
        padding_mask: bool `(B, T)`, True = real token; default: the Keras mask of
            `inputs` (e.g. from `PositionalEmbedding(mask_zero=True)`).
        attention_mask: `(B, T, T)`, 1 = may attend.
        use_causal_mask: bool, causal self-attention.
        return_attention_scores: also return the weights `(B, heads, T, T)`.
        training: bool, enables dropout.

    Returns:
        `(B, T, hidden_dim)` (and the attention weights if asked). The padding mask
        propagates.

    Example:

    >>> import numpy as np
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    >>> tuple(block(np.random.rand(2, 5, 8).astype("float32")).shape)
    (2, 5, 8)
    """

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

    def _initializers(self):
        # Fresh initializer objects per sub-layer (a shared seeded one repeats values).
        return dict(
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
        )

    def build(self, inputs_shape):
        hidden = inputs_shape[-1]
        key_dim = self.key_dim or max(1, hidden // self.num_heads)
        self.self_attention = MultiHeadAttention(
            self.num_heads,
            key_dim,
            dropout=self.attention_dropout,
            dtype=self.dtype_policy,
            name="self_attention",
            **self._initializers(),
        )
        self.self_attention.build(inputs_shape, inputs_shape)
        self.attention_dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_output_dropout"
        )
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="attention_norm"
        )
        self.attention_norm.build(inputs_shape)
        self.feed_forward = PositionwiseFeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="feed_forward",
            **self._initializers(),
        )
        self.feed_forward.build(inputs_shape)
        self.ffn_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="ffn_norm"
        )
        self.ffn_norm.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        if padding_mask is None:
            padding_mask = keras_mask_of(inputs)
        x = inputs
        y = self.attention_norm(x) if self.norm_first else x
        attended = self.self_attention(
            y,
            y,
            query_mask=padding_mask,
            value_mask=padding_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        scores = None
        if return_attention_scores:
            attended, scores = attended
        x = x + self.attention_dropout_layer(attended, training=training)
        if not self.norm_first:
            x = self.attention_norm(x)
        if self.norm_first:
            x = x + self.feed_forward(self.ffn_norm(x), training=training)
        else:
            x = self.ffn_norm(x + self.feed_forward(x, training=training))
        return (x, scores) if return_attention_scores else x

    def compute_mask(self, inputs, mask=None):
        return mask

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
