"""GPT-style causal transformer language model with a KV cache and compiled generation."""

import keras
import numpy as np
from keras import ops

from keras_seq.generation import GenerativeLanguageModel
from keras_seq.layers.positional_embedding import PositionalEmbedding
from keras_seq.layers.transformer_decoder_block import TransformerDecoderBlock


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
    return int(value)


@keras.saving.register_keras_serializable(package="keras_seq")
class GPTLanguageModel(GenerativeLanguageModel, keras.Model):
    """Decoder-only (GPT-style) causal transformer language model over token ids.

    For ids x_1..x_T (T <= `max_length`) it computes

        h^0_t = E[x_t] + P_t                                  (learned or sinusoidal P)
        h^l   = DecoderBlock_l(h^{l-1})   l = 1..N            (causal self-attention + FFN,
                                                              no cross-attention)
        logits_t = LayerNorm(h^N_t) E^T        (tied: the token embedding matrix E, no bias)
                 = LayerNorm(h^N_t) W + b      (separate output projection)
        P(x_{t+1} | x_1..x_t) = softmax(logits_t)

    Pre-norm blocks (`x + Sublayer(LayerNorm(x))`, GPT-2) by default, post-norm with
    `norm_first=False` (then the final LayerNorm is still applied). Trained with the
    cross-entropy of the next token (perplexity = exp of its mean).

    Generation follows the contract of `keras_seq.generation`: the cache is one tensor
    `(B, N, 2, L, heads, head_dim)` of preallocated keys/values per block;
    `build_cache(prompt_ids, max_length)` fills it with the whole (bucketed) prompt block
    in one call (the prefill); `call_with_cache` reads the token at
    `cache_update_index - 1`, writes its K/V at that slot (`ops.slice_update`) and returns
    the logits of the token at `cache_update_index`. `generate` runs the prefill and
    `keras_seq.generation.decode` (one `ops.while_loop`, a keras_hub sampler) in one
    `GenerateRunner`, compiled once per (batch, prompt bucket, buffer bucket) and sampler
    setting, XLA by default (`runtime.default_jit_compile("inference")`). Prompts of
    different lengths share one batch: each row keeps its prompt (the sampler's mask) and
    generation starts at the shortest one; slots written by the prefill past a row's prompt
    are overwritten before any query can see them (causal mask), so the result equals one
    row at a time.

    Args:
        vocabulary_size: number of ids (id 0 = padding).
        max_length: the longest sequence (positions) the model reads or generates.
        num_layers: decoder blocks N.
        num_heads: attention heads per block.
        embedding_dim: model width d (a multiple of `num_heads`).
        intermediate_dim: feed-forward hidden size (default 4 d).
        dropout: dropout on the embeddings, after each sub-layer and on attention weights.
        position: "learned" (GPT-2) or "sinusoidal" position encoding.
        norm_first: pre-norm blocks (True, GPT-2) or post-norm (False, Vaswani et al.).
        tie_weights: logits through the transposed token embedding (True) or a separate
            Dense output projection (False).
        activation: feed-forward activation (default "gelu").
        layer_norm_epsilon: epsilon of every LayerNorm.
        **kwargs: base `keras.Model` arguments (name, dtype, ...).

    Call arguments:
        token_ids: int `(B, T)`, T <= `max_length`; 0 = padding (right-padded rows).
        padding_mask: bool `(B, T)`, True = real token (default `token_ids != 0`).
        training: dropout on/off.

    Returns:
        Logits `(B, T, vocabulary_size)` in float32 (also under mixed precision).

    Example:

    >>> import numpy as np
    >>> model = GPTLanguageModel(vocabulary_size=30, max_length=32, num_layers=1,
    ...                          num_heads=2, embedding_dim=16)
    >>> tuple(model(np.array([[3, 4, 5]])).shape)
    (1, 3, 30)
    >>> model.generate(np.array([[3, 4, 5]]), max_length=7, jit_compile=False).shape
    (1, 7)
    """

    def __init__(self, vocabulary_size, max_length=256, num_layers=4, num_heads=4,
                 embedding_dim=128, intermediate_dim=None, dropout=0.1, position="learned",
                 norm_first=True, tie_weights=True, activation="gelu", layer_norm_epsilon=1e-5,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(vocabulary_size, bool) or not isinstance(
                vocabulary_size, (int, np.integer)) or vocabulary_size < 2:
            raise ValueError("`vocabulary_size` must be an int >= 2 (padding and at least one "
                             f"token), got vocabulary_size={vocabulary_size!r}.")
        max_length = _positive_int("max_length", max_length)
        num_layers = _positive_int("num_layers", num_layers)
        num_heads = _positive_int("num_heads", num_heads)
        embedding_dim = _positive_int("embedding_dim", embedding_dim)
        if embedding_dim % num_heads:
            raise ValueError("`embedding_dim` must be a multiple of `num_heads`, got "
                             f"embedding_dim={embedding_dim}, num_heads={num_heads}.")
        intermediate_dim = _positive_int(
            "intermediate_dim", 4 * embedding_dim if intermediate_dim is None else intermediate_dim)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        if position not in ("learned", "sinusoidal"):
            raise ValueError("`position` must be 'learned' or 'sinusoidal', got "
                             f"position={position!r}.")
        self.vocabulary_size = int(vocabulary_size)
        self.max_length = max_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.embedding_dim = embedding_dim
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = float(dropout)
        self.position = position
        self.norm_first = bool(norm_first)
        self.tie_weights = bool(tie_weights)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.head_dim = embedding_dim // num_heads

        self.embedding = PositionalEmbedding(
            self.vocabulary_size, max_length, embedding_dim, position=position, mask_zero=True,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=self.dtype_policy, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy,
                                                      name="embedding_dropout")
        self.blocks = [
            TransformerDecoderBlock(num_heads, intermediate_dim, dropout=self.dropout_rate,
                                    activation=activation, norm_first=self.norm_first,
                                    layer_norm_epsilon=self.layer_norm_epsilon,
                                    dtype=self.dtype_policy, name=f"decoder_block_{i}")
            for i in range(num_layers)]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm")
        # Logits in float32 (stable softmax/loss under mixed precision).
        self.output_projection = None if self.tie_weights else keras.layers.Dense(
            self.vocabulary_size, dtype="float32", name="output_projection")

    def build(self, input_shape=None):
        d = self.embedding_dim
        self.embedding.build((None, None))
        for block in self.blocks:
            block.build((None, None, d))  # no encoder_sequence: GPT-style, no cross-attention
        self.final_norm.build((None, None, d))
        if self.output_projection is not None:
            self.output_projection.build((None, None, d))
        self.built = True

    # ---- forward -------------------------------------------------------------------------
    @property
    def token_embeddings(self):
        """The token embedding matrix E `(vocabulary_size, embedding_dim)` (the tied output)."""
        return self.embedding.token_embedding.embeddings

    def _logits(self, hidden):
        hidden = self.final_norm(hidden)
        if self.output_projection is not None:
            return self.output_projection(hidden)
        # Tied: logits = h E^T, computed in float32.
        return ops.matmul(ops.cast(hidden, "float32"),
                          ops.transpose(ops.cast(self.token_embeddings, "float32")))  # (B, T, V)

    def _check_length(self, length):
        if isinstance(length, int) and length > self.max_length:
            raise ValueError(f"`token_ids` has {length} positions; this model reads at most "
                             f"max_length={self.max_length}.")

    def call(self, token_ids, padding_mask=None, training=None, return_attention_scores=False):
        if not self.built:
            self.build()
        token_ids = ops.cast(token_ids, "int32")
        self._check_length(token_ids.shape[1])
        if padding_mask is None:
            padding_mask = ops.not_equal(token_ids, 0)
        x = self.embedding_dropout(self.embedding(token_ids), training=training)  # (B, T, d)
        scores = []
        for block in self.blocks:
            out = block(x, decoder_padding_mask=padding_mask, use_causal_mask=True,
                        return_attention_scores=return_attention_scores, training=training)
            if return_attention_scores:
                x, weights = out
                scores.append(weights)  # (B, heads, T, T)
            else:
                x = out
        logits = self._logits(x)
        return (logits, scores) if return_attention_scores else logits

    def attention_weights(self, token_ids):
        """Self-attention weights of every block: a list of `(B, heads, T, T)` arrays."""
        return self(token_ids, return_attention_scores=True)[1]

    # ---- cache ----------------------------------------------------------------------------
    def _empty_cache(self, batch_size, max_length):
        return ops.stack([b.init_self_attention_cache(batch_size, max_length)
                          for b in self.blocks], axis=1)  # (B, N, 2, L, h, dh)

    def build_cache(self, inputs, max_length):
        """The K/V cache of `max_length` slots after reading the prompts (the prefill).

        Args:
            inputs: int `(B, W)` prompt ids, right-padded with 0 (W <= max_length).
            max_length: slots L of the cache (the token buffer's length, <= the model's
                `max_length`).

        Returns:
            `(B, N, 2, L, heads, head_dim)`: slots 0..W-1 hold the keys/values of `inputs`
            (read in one call), the rest zeros. Slots past a row's last id are overwritten
            by the decode loop before any query can see them.
        """
        if not self.built:
            self.build()
        self._check_length(max_length)
        prompt = ops.cast(inputs, "int32")
        cache = self._empty_cache(ops.shape(prompt)[0], max_length)
        _, cache = self._run_cached(prompt, cache, 0)
        return cache

    def _run_cached(self, token_ids, cache, start):
        x = self.embedding(token_ids, start_index=start)  # (B, t, d)
        updated = []
        for i, block in enumerate(self.blocks):
            x, layer_cache, _ = block(x, self_attention_cache=cache[:, i],
                                      self_attention_cache_update_index=start,
                                      use_causal_mask=True)
            updated.append(layer_cache)
        return x, ops.stack(updated, axis=1)  # (B, t, d), (B, N, 2, L, h, dh)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, writes its K/V, predicts the next token.

        Returns:
            `(logits (B, V), hidden (B, d), cache)`: the logits of the token at
            `cache_update_index`, the final hidden state, the updated cache.
        """
        position = ops.cast(cache_update_index, "int32") - 1
        token = ops.slice(ops.cast(token_ids, "int32"), [0, position],
                          [ops.shape(token_ids)[0], 1])  # (B, 1)
        hidden, cache = self._run_cached(token, cache, position)
        return self._logits(hidden)[:, 0], hidden[:, 0], cache

    # ---- generation (keras_seq.generation.GenerativeLanguageModel) -----------------------
    def _model_max_length(self):
        return self.max_length

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size, max_length=self.max_length,
            num_layers=self.num_layers, num_heads=self.num_heads, embedding_dim=self.embedding_dim,
            intermediate_dim=self.intermediate_dim, dropout=self.dropout_rate,
            position=self.position, norm_first=self.norm_first, tie_weights=self.tie_weights,
            activation=self.activation, layer_norm_epsilon=self.layer_norm_epsilon)
        return config

