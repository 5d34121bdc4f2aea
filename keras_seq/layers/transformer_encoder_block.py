"""Transformer encoder block: self-attention and feed-forward, each with residual + norm."""

import keras

from keras_seq.layers.argument_checks import check_rank, static_shape
from keras_seq.layers.attention_masks import keras_mask_of
from keras_seq.layers.transformer_block_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerEncoderBlock(TransformerBlockBase):
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

    def build(self, inputs_shape):
        check_rank(self, "inputs", tuple(inputs_shape), 3, "(batch, T, hidden_dim)")
        self.self_attention = self._make_attention("self_attention", inputs_shape, inputs_shape)
        self.attention_dropout_layer = self._make_dropout("attention_output_dropout")
        self.attention_norm = self._make_norm("attention_norm", inputs_shape)
        self.feed_forward = self._make_feed_forward(inputs_shape)
        self.ffn_norm = self._make_norm("ffn_norm", inputs_shape)
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
        check_rank(self, "inputs", static_shape(inputs), 3, "(batch, T, hidden_dim)")
        if padding_mask is None:
            padding_mask = keras_mask_of(inputs)

        def attend(y):
            out = self.self_attention(
                y,
                y,
                query_mask=padding_mask,
                value_mask=padding_mask,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            return out if isinstance(out, tuple) else (out,)

        x, extra = self._residual(
            inputs, self.attention_norm, self.attention_dropout_layer, attend, training
        )
        x = self._feed_forward_residual(x, training)
        return (x, extra[0]) if return_attention_scores else x

    def compute_mask(self, inputs, mask=None):
        return mask
