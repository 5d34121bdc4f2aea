"""BERT-style masked LM: embeddings -> transformer encoder -> MLM head at masked slots."""

import keras
from keras import ops

from keras_seq.layers.positional_embedding import PositionalEmbedding
from keras_seq.layers.transformer_encoder_block import TransformerEncoderBlock

FEATURES = ("token_ids", "segment_ids", "padding_mask", "mask_positions")


@keras.saving.register_keras_serializable(package="keras_seq")
class MaskedLanguageModel(keras.Model):
    """BERT (Devlin et al., 2019) masked language model over word-piece ids.

    For token ids x (with [CLS]/[SEP]), segment ids s and masked positions m_1..m_P:

        h^0_t = Dropout(LayerNorm(E[x_t] + P[t] + S[s_t]))            (B, T, d)
        h^l   = TransformerEncoderBlock_l(h^{l-1}, padding_mask)       l = 1..L (post-norm, gelu)
        g_j   = LayerNorm(gelu(W h^L_{m_j} + b))                       (B, P, d), gathered first
        logits_j = g_j E^T + c                                         (B, P, V)

    E (V x d) is the token embedding, reused (tied) as the output projection, c a bias of
    size V; P is a learned position table and S a segment table. The head runs ONLY at the
    gathered `mask_positions`, so the loss (cross-entropy of `logits_j` against the original
    ids, weighted by `mask_weights` to ignore unused slots) is computed at masked positions
    only:

        loss = sum_j w_j * (-log softmax(logits_j)[y_j]) / sum_j w_j

    Args:
        vocabulary_size: V, number of word-piece ids (0 = padding).
        sequence_length: the longest input (size of the position table).
        num_layers: L, encoder blocks.
        num_heads: attention heads per block.
        embedding_dim: d, hidden size.
        intermediate_dim: hidden size of the feed-forward networks.
        dropout: dropout of embeddings, attention weights and sub-layer outputs.
        num_segments: size of the segment table (2: sentence A / B).
        layer_norm_epsilon: epsilon of all layer norms.
        **kwargs: base `keras.Model` arguments (name, dtype, ...).

    Call arguments:
        inputs: dict with `token_ids` (int `(B, T)`), `segment_ids` (int `(B, T)`, optional,
            default 0), `padding_mask` (bool `(B, T)`, optional, default `token_ids != 0`) and
            `mask_positions` (int `(B, P)`, the positions to predict).
        training: dropout on/off.

    Returns:
        Logits `(B, P, V)` (float32) for the tokens at `mask_positions`. `encode(inputs)`
        returns the contextual vectors `(B, T, d)` (and, with `return_attention_scores=True`,
        the list of per-layer attention weights `(B, heads, T, T)`); `token_logits(hidden,
        positions)` applies the head.

    Example:

    >>> import numpy as np
    >>> model = MaskedLanguageModel(vocabulary_size=50, sequence_length=8, num_layers=1,
    ...                             num_heads=2, embedding_dim=16, intermediate_dim=32)
    >>> x = {"token_ids": np.array([[2, 9, 4, 11, 3, 0, 0, 0]]),
    ...      "segment_ids": np.zeros((1, 8), "int32"),
    ...      "padding_mask": np.array([[1, 1, 1, 1, 1, 0, 0, 0]], bool),
    ...      "mask_positions": np.array([[2, 0]])}
    >>> tuple(model(x).shape)
    (1, 2, 50)
    """

    def __init__(self, vocabulary_size, sequence_length=128, num_layers=4, num_heads=4,
                 embedding_dim=256, intermediate_dim=1024, dropout=0.1, num_segments=2,
                 layer_norm_epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size),
                            ("sequence_length", sequence_length), ("num_layers", num_layers),
                            ("num_heads", num_heads), ("embedding_dim", embedding_dim),
                            ("intermediate_dim", intermediate_dim),
                            ("num_segments", num_segments)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
        if embedding_dim % num_heads:
            raise ValueError(f"`embedding_dim` must be a multiple of `num_heads`, got "
                             f"embedding_dim={embedding_dim} and num_heads={num_heads}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.embedding_dim = embedding_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon

        def init():
            return keras.initializers.TruncatedNormal(stddev=0.02)

        policy = self.dtype_policy
        self.embeddings = PositionalEmbedding(
            vocabulary_size, sequence_length, embedding_dim, position="learned", mask_zero=True,
            embeddings_initializer=init(), dtype=policy, name="embeddings")
        self.segment_embedding = keras.layers.Embedding(
            num_segments, embedding_dim, embeddings_initializer=init(), dtype=policy,
            name="segment_embedding")
        self.embeddings_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="embeddings_norm")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=policy,
                                                       name="embeddings_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout,
                                    activation="gelu", layer_norm_epsilon=layer_norm_epsilon,
                                    kernel_initializer=init(), dtype=policy,
                                    name=f"encoder_block_{i}")
            for i in range(num_layers)]
        self.head_dense = keras.layers.Dense(embedding_dim, activation="gelu",
                                             kernel_initializer=init(), dtype=policy,
                                             name="mlm_head_dense")
        self.head_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="mlm_head_norm")

    def build(self, input_shape=None):
        hidden = (None, None, self.embedding_dim)
        self.embeddings.build((None, None))
        self.segment_embedding.build((None, None))
        self.embeddings_norm.build(hidden)
        for block in self.encoder_blocks:
            block.build(hidden)
        self.head_dense.build(hidden)
        self.head_norm.build(hidden)
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,),
                                           initializer="zeros")
        self.built = True

    @staticmethod
    def _inputs(inputs):
        if not isinstance(inputs, dict) or "token_ids" not in inputs:
            raise ValueError("`inputs` must be a dict with at least 'token_ids' (and "
                             f"'mask_positions' for the MLM logits), got {type(inputs).__name__}"
                             + (f" with keys {sorted(inputs)}" if isinstance(inputs, dict) else ""))
        token_ids = ops.cast(inputs["token_ids"], "int32")
        segment_ids = inputs.get("segment_ids")
        segment_ids = ops.zeros_like(token_ids) if segment_ids is None else \
            ops.cast(segment_ids, "int32")
        padding_mask = inputs.get("padding_mask")
        padding_mask = ops.not_equal(token_ids, 0) if padding_mask is None else \
            ops.cast(padding_mask, "bool")
        return token_ids, segment_ids, padding_mask

    def encode(self, inputs, training=None, return_attention_scores=False):
        """Contextual vectors `(B, T, d)` (+ per-layer attention weights if asked)."""
        token_ids, segment_ids, padding_mask = self._inputs(inputs)
        x = self.embeddings(token_ids) + self.segment_embedding(segment_ids)  # (B, T, d)
        x = self.embeddings_dropout(self.embeddings_norm(x), training=training)
        scores = []
        for block in self.encoder_blocks:
            out = block(x, padding_mask=padding_mask, training=training,
                        return_attention_scores=return_attention_scores)
            if return_attention_scores:
                x, weights = out  # weights: (B, heads, T, T)
                scores.append(weights)
            else:
                x = out
        return (x, scores) if return_attention_scores else x

    def token_logits(self, hidden, positions=None):
        """The MLM head: logits `(B, P, V)` at `positions` `(B, P)` (all positions if None)."""
        if positions is not None:
            hidden = ops.take_along_axis(
                hidden, ops.expand_dims(ops.cast(positions, "int32"), -1), axis=1)  # (B, P, d)
        g = self.head_norm(self.head_dense(hidden))  # (B, P, d)
        table = self.embeddings.token_embedding.embeddings  # (V, d), tied
        logits = ops.matmul(g, ops.transpose(ops.cast(table, g.dtype)))  # (B, P, V)
        return ops.cast(logits, "float32") + ops.cast(self.output_bias, "float32")

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or "mask_positions" not in inputs:
            raise ValueError("`inputs` must be a dict with 'token_ids' and 'mask_positions' "
                             "(the positions whose tokens are predicted), got "
                             + (f"keys {sorted(inputs)}" if isinstance(inputs, dict)
                                else type(inputs).__name__) + ".")
        hidden = self.encode(inputs, training=training)
        return self.token_logits(hidden, inputs["mask_positions"])

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, sequence_length=self.sequence_length,
                      num_layers=self.num_layers, num_heads=self.num_heads,
                      embedding_dim=self.embedding_dim, intermediate_dim=self.intermediate_dim,
                      dropout=self.dropout, num_segments=self.num_segments,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        return config
