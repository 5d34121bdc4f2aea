"""Transformer decoder block: causal self-attention, cross-attention, feed-forward."""

import keras

from keras_seq.layers.argument_checks import (
    check_cache_index,
    check_rank,
    check_same_size,
    static_shape,
)
from keras_seq.layers.attention_masks import keras_mask_of
from keras_seq.layers.transformer_block_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerDecoderBlock(TransformerBlockBase):
    """One transformer decoder block (Vaswani et al., 2017), with KV caches.

    Post-norm (default), for decoder states x and encoder outputs m:

        z = LayerNorm(x + Dropout(MultiHead_causal(x, x, x)))      (masked self-attention)
        u = LayerNorm(z + Dropout(MultiHead(z, m, m)))             (cross-attention)
        y = LayerNorm(u + FFN(u))

    With `norm_first=True` each sub-layer is `x + Sublayer(LayerNorm(x))`. Without
    encoder outputs (built without `encoder_sequence`) the cross-attention sub-layer
    does not exist: a GPT-style block.

    Cross-attention uses the *source* padding mask (`encoder_padding_mask`, or the Keras
    mask of `encoder_sequence`), so padded source tokens get weight 0.

    Args:
        num_heads: int, number of heads (self- and cross-attention).
        intermediate_dim: int, feed-forward hidden size.
        dropout: float, dropout after each sub-layer and in the FFN.
        attention_dropout: float, dropout on attention weights (default `dropout`).
        key_dim: size of each head (default `hidden_dim // num_heads`).
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of the layer norms.
        norm_first: pre-norm instead of post-norm.
        kernel_initializer, bias_initializer: initializers of all dense layers.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        decoder_sequence: `(B, T, D)` target-side states.
        encoder_sequence: `(B, S, D_enc)` encoder outputs, or None (no cross-attention,
            or when `cross_attention_cache` holds them already).
        decoder_padding_mask: bool `(B, T)`; default: Keras mask of `decoder_sequence`.
        decoder_attention_mask: `(B, T, T)` extra self-attention mask.
        encoder_padding_mask: bool `(B, S)`; default: Keras mask of `encoder_sequence`.
        encoder_attention_mask: `(B, T, S)` extra cross-attention mask.
        self_attention_cache: `(B, 2, L, heads, key_dim)` self-attention KV cache.
        self_attention_cache_update_index: int/scalar tensor, where the new step goes.
        cross_attention_cache: `(B, 2, S, heads, key_dim)` precomputed encoder K/V
            (`compute_cross_attention_cache`).
        use_causal_mask: bool, default True.
        return_attention_scores: also return the cross-attention weights `(B, heads, T, S)`
            (self-attention weights when there is no cross-attention).
        training: bool, enables dropout.

    Returns:
        `outputs (B, T, D)`; then the attention weights if asked; then, when a self- or
        cross-attention cache was passed, `(self_attention_cache, cross_attention_cache)`
        as two more items.

    Raises:
        ValueError: naming the argument: sequences not of rank 3 or of different batch
            sizes, a `self_attention_cache_update_index` outside the cache (when it is a
            Python int or an eager tensor), the caches asked for before the block is built;
            and the shape errors of `MultiHeadAttention` for masks and caches.

    Example:

    >>> import numpy as np
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    >>> x, m = np.ones((2, 4, 8), "float32"), np.ones((2, 6, 8), "float32")
    >>> tuple(block(x, m).shape)
    (2, 4, 8)
    """

    def __init__(self, num_heads, intermediate_dim, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.has_cross_attention = None  # decided in build()

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._check_sequences(tuple(decoder_sequence_shape),
                              None if encoder_sequence_shape is None
                              else tuple(encoder_sequence_shape))
        shape = decoder_sequence_shape
        self.self_attention = self._make_attention("self_attention", shape, shape)
        self.self_attention_norm = self._make_norm("self_attention_norm", shape)
        self.self_attention_dropout = self._make_dropout("self_attention_dropout")
        self.has_cross_attention = encoder_sequence_shape is not None
        if self.has_cross_attention:
            self.cross_attention = self._make_attention(
                "cross_attention", shape, encoder_sequence_shape
            )
            self.cross_attention_norm = self._make_norm("cross_attention_norm", shape)
            self.cross_attention_dropout = self._make_dropout("cross_attention_dropout")
        self.feed_forward = self._make_feed_forward(shape)
        self.ffn_norm = self._make_norm("ffn_norm", shape)
        self.built = True

    def _check_sequences(self, decoder, encoder):
        layout = "(batch, length, features)"
        check_rank(self, "decoder_sequence", decoder, 3, layout)
        if encoder is not None:
            check_rank(self, "encoder_sequence", encoder, 3, layout)
            check_same_size(self, "the batch sizes of `decoder_sequence` and "
                            "`encoder_sequence`", [("`decoder_sequence`", decoder[0]),
                                                   ("`encoder_sequence`", encoder[0])])

    def _check_built(self, method):
        if not self.built:
            raise ValueError(
                f"TransformerDecoderBlock.{method} needs a built block: call the block once "
                "(or `build(decoder_sequence_shape, encoder_sequence_shape)`) first; the "
                "head size comes from the hidden size."
            )

    def compute_cross_attention_cache(self, encoder_sequence):
        """Encoder keys/values for `cross_attention_cache`, `(B, 2, S, heads, key_dim)`."""
        self._check_built("compute_cross_attention_cache")
        if not self.has_cross_attention:
            raise ValueError("This decoder block was built without cross-attention.")
        return self.cross_attention.compute_cache(encoder_sequence)

    def init_self_attention_cache(self, batch_size, max_length, dtype=None):
        """An empty self-attention cache `(B, 2, max_length, heads, key_dim)`."""
        self._check_built("init_self_attention_cache")
        return self.self_attention.init_cache(batch_size, max_length, dtype)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        use_causal_mask=True,
        return_attention_scores=False,
        training=None,
        decoder_sequence_mask=None,
        encoder_sequence_mask=None,
    ):
        self._check_sequences(
            static_shape(decoder_sequence),
            None if encoder_sequence is None else static_shape(encoder_sequence),
        )
        if self_attention_cache is not None and self_attention_cache_update_index is not None:
            cache_shape = static_shape(self_attention_cache)  # (B, 2, L, heads, key_dim)
            check_cache_index(
                self, "self_attention_cache_update_index", self_attention_cache_update_index,
                cache_shape[2] if len(cache_shape) == 5 else None,  # MHA checks the rank
                static_shape(decoder_sequence)[1],
            )
        if decoder_padding_mask is None:
            decoder_padding_mask = (
                decoder_sequence_mask
                if decoder_sequence_mask is not None
                else keras_mask_of(decoder_sequence)
            )
        if encoder_padding_mask is None:
            encoder_padding_mask = (
                encoder_sequence_mask
                if encoder_sequence_mask is not None
                else keras_mask_of(encoder_sequence)
            )
        use_cache = self_attention_cache is not None or cross_attention_cache is not None
        want_cross_scores = return_attention_scores and self.has_cross_attention

        def self_attend(y):
            result = self.self_attention(
                y,
                y,
                query_mask=decoder_padding_mask,
                value_mask=None if self_attention_cache is not None else decoder_padding_mask,
                attention_mask=decoder_attention_mask,
                use_causal_mask=use_causal_mask,
                return_attention_scores=return_attention_scores and not want_cross_scores,
                training=training,
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
            )
            return result if isinstance(result, tuple) else (result,)

        x, extra = self._residual(
            decoder_sequence,
            self.self_attention_norm,
            self.self_attention_dropout,
            self_attend,
            training,
        )
        scores = None
        if return_attention_scores and not want_cross_scores:
            scores = extra.pop(0)
        if self_attention_cache is not None:
            self_attention_cache = extra.pop(0)

        if self.has_cross_attention:
            if encoder_sequence is None and cross_attention_cache is None:
                raise ValueError(
                    "This decoder block has cross-attention: pass `encoder_sequence` or "
                    "`cross_attention_cache`."
                )

            def cross_attend(y):
                result = self.cross_attention(
                    y,
                    encoder_sequence,
                    query_mask=decoder_padding_mask,
                    value_mask=encoder_padding_mask,
                    attention_mask=encoder_attention_mask,
                    return_attention_scores=want_cross_scores,
                    training=training,
                    cache=cross_attention_cache,
                )
                return result if isinstance(result, tuple) else (result,)

            x, extra = self._residual(
                x, self.cross_attention_norm, self.cross_attention_dropout,
                cross_attend, training,
            )
            if want_cross_scores:
                scores = extra.pop(0)

        x = self._feed_forward_residual(x, training)

        outputs = [x]
        if return_attention_scores:
            outputs.append(scores)
        if use_cache:
            outputs += [self_attention_cache, cross_attention_cache]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def compute_mask(self, decoder_sequence, mask=None):
        return mask

