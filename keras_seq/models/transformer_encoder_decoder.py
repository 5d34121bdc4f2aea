"""Transformer encoder-decoder (Vaswani et al., 2017) with a KV cache for decoding."""

import keras
from keras import ops

from keras_seq.layers import PositionalEmbedding, TransformerDecoderBlock, TransformerEncoderBlock
from keras_seq.models.seq2seq_model import Seq2SeqModel


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerEncoderDecoder(Seq2SeqModel):
    """Token + positional embeddings → N encoder blocks; N decoder blocks → softmax.

        h = Enc^N(E_x x + P),   s = Dec^N(E_y y_{<t} + P, h),   p(y_t | ·) = softmax(W_o s_t)

    Decoding keeps each decoder block's self-attention K/V in a preallocated cache
    `(B, N, 2, L, heads, d)` updated in place, and the encoder's K/V for cross-attention,
    so every new token costs one position, not the whole prefix.

    Args:
        source_vocabulary_size, target_vocabulary_size: vocabulary sizes (id 0 = padding).
        max_source_length, max_target_length: longest sequences (positions).
        embedding_dim: model width d.
        num_heads: attention heads.
        intermediate_dim: feed-forward hidden size.
        num_layers: encoder and decoder blocks (each).
        dropout: dropout rate.
        **kwargs: `keras.Model` arguments.

    Call arguments:
        inputs: dict `{"source": int (B, S), "target_in": int (B, T)}`.
        training: bool.

    Returns:
        Logits `(B, T, target_vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> model = TransformerEncoderDecoder(20, 15, 8, 8, embedding_dim=16, num_heads=2,
    ...                                   intermediate_dim=32)
    >>> src, tgt = np.array([[5, 6, 7, 0]]), np.array([[2, 4, 9]])
    >>> tuple(model({"source": src, "target_in": tgt}).shape)
    (1, 3, 15)
    >>> model.generate(src, max_length=8, jit_compile=False).shape
    (1, 8)
    """

    def __init__(self, source_vocabulary_size, target_vocabulary_size, max_source_length,
                 max_target_length, embedding_dim=256, num_heads=8, intermediate_dim=1024,
                 num_layers=1, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.num_layers = num_layers
        self.dropout_rate = dropout
        self.source_embedding = PositionalEmbedding(
            source_vocabulary_size, max_source_length, embedding_dim, scale_embeddings=True,
            name="source_embedding")
        self.target_embedding = PositionalEmbedding(
            target_vocabulary_size, max_target_length, embedding_dim, scale_embeddings=True,
            name="target_embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.encoder_blocks = [
            TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout,
                                    name=f"encoder_block_{i}") for i in range(num_layers)]
        self.decoder_blocks = [
            TransformerDecoderBlock(num_heads, intermediate_dim, dropout=dropout,
                                    name=f"decoder_block_{i}") for i in range(num_layers)]
        self.output_projection = keras.layers.Dense(target_vocabulary_size,
                                                    name="output_projection")

    def build(self, input_shape=None):
        d = self.embedding_dim
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        for block in self.encoder_blocks:
            block.build((None, None, d))
        for block in self.decoder_blocks:
            block.build((None, None, d), (None, None, d))
        self.output_projection.build((None, None, d))
        self.built = True

    def encode(self, source, training=False):
        """Encoder outputs `(B, S, d)` and the source padding mask `(B, S)`."""
        if not self.built:
            self.build()
        mask = ops.not_equal(source, 0)
        h = self.embedding_dropout(self.source_embedding(source), training=training)
        for block in self.encoder_blocks:
            h = block(h, padding_mask=mask, training=training)
        return h, mask

    def _decode(self, target_in, encoded, source_mask, training=False, scores=False):
        y = self.embedding_dropout(self.target_embedding(target_in), training=training)
        target_mask = ops.not_equal(target_in, 0)
        weights = None
        for block in self.decoder_blocks:
            out = block(y, encoded, decoder_padding_mask=target_mask,
                        encoder_padding_mask=source_mask, return_attention_scores=scores,
                        training=training)
            y, weights = out if scores else (out, None)
        return y, weights

    def call(self, inputs, training=False):
        encoded, source_mask = self.encode(inputs["source"], training)
        y, _ = self._decode(inputs["target_in"], encoded, source_mask, training)
        return self.output_projection(y)

    def attention_weights(self, source, target_in):
        """Cross-attention weights of the last decoder block, `(B, heads, T, S)`."""
        encoded, source_mask = self.encode(source)
        return self._decode(target_in, encoded, source_mask, scores=True)[1]

    def build_cache(self, inputs, max_length):
        """Encoder K/V for cross-attention, source mask and an empty self-attention cache.

        Args:
            inputs: int `(B, S)` source ids.
            max_length: slots L of the decoder's self-attention cache (the buffer length).

        Returns:
            `(self_caches (B, N, 2, L, heads, d), cross_caches (B, N, 2, S, heads, d),
            source_mask (B, S))`.
        """
        encoded, source_mask = self.encode(ops.cast(inputs, "int32"))
        batch = ops.shape(encoded)[0]
        self_caches = ops.stack(
            [b.init_self_attention_cache(batch, max_length) for b in self.decoder_blocks],
            axis=1)  # (B, N, 2, L, heads, d)
        cross_caches = ops.stack(
            [b.compute_cross_attention_cache(encoded) for b in self.decoder_blocks],
            axis=1)  # (B, N, 2, S, heads, d)
        return (self_caches, cross_caches, source_mask)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, writes its K/V at that slot.

        Returns:
            `(logits (B, V), hidden (B, d), cache)`: the logits of the token at
            `cache_update_index`.
        """
        self_caches, cross_caches, source_mask = cache
        position = ops.cast(cache_update_index, "int32") - 1
        token = self.previous_token(token_ids, cache_update_index)  # (B, 1)
        y = self.target_embedding(token, start_index=position)  # (B, 1, d)
        updated = []
        for i, block in enumerate(self.decoder_blocks):
            y, self_cache, _ = block(
                y, self_attention_cache=self_caches[:, i],
                self_attention_cache_update_index=position,
                cross_attention_cache=cross_caches[:, i], encoder_padding_mask=source_mask)
            updated.append(self_cache)
        logits = self.output_projection(y)[:, 0]  # (B, V)
        return logits, y[:, 0], (ops.stack(updated, axis=1), cross_caches, source_mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            source_vocabulary_size=self.source_vocabulary_size,
            target_vocabulary_size=self.target_vocabulary_size,
            max_source_length=self.max_source_length, max_target_length=self.max_target_length,
            embedding_dim=self.embedding_dim, num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim, num_layers=self.num_layers,
            dropout=self.dropout_rate)
        return config
