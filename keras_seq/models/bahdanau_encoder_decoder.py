"""RNN encoder-decoder with additive (Bahdanau) attention."""

import keras
from keras import ops

from keras_seq.layers import BahdanauAttention
from keras_seq.models.seq2seq_model import Seq2SeqModel


@keras.saving.register_keras_serializable(package="keras_seq")
class BahdanauEncoderDecoder(Seq2SeqModel):
    """Seq2seq with attention (Bahdanau et al., 2015): a new context at every step.

    The encoder GRU gives states h_1..h_S (keys = values). At target step t the query is the
    decoder state at the previous step:

        c_t = Σ_i α_{t,i} h_i,   α_{t,:} = softmax_i(w_vᵀ tanh(W_q s_{t-1} + W_k h_i))
        s_t = GRU([E_y y_{t-1}; c_t], s_{t-1}),   s_0 = h_S
        p(y_t | y_{<t}, x) = softmax(W_o [s_t; c_t] + b_o)

    Two options bring it closer to the paper's own model:
      - `bidirectional_encoder=True`: h_i = [→h_i; ←h_i], a forward and a backward GRU of
        `hidden_dim / 2` units each, so every h_i sees the whole sentence; s_0 = [→h_S; ←h_1].
      - `deep_output_dim=D`: a hidden layer between the decoder and the vocabulary,
        o_t = tanh(W_d [s_t; c_t; E_y y_{t-1}] + b_d) of size D, then
        p(y_t | ·) = softmax(W_o o_t + b_o) (the paper used a maxout layer here). With
        D < 2H the vocabulary projection, the costliest matmul, also gets cheaper.

    Padded source tokens get α = 0. Training runs this recurrence over the teacher-forced
    targets (unrolled when the target length is static, which XLA needs; `ops.scan`
    otherwise); decoding runs the same step function once per token with the state as cache.

    Args:
        source_vocabulary_size, target_vocabulary_size: vocabulary sizes (id 0 = padding).
        embedding_dim: token embedding size.
        hidden_dim: GRU state size.
        attention_units: hidden size of the additive score (default `hidden_dim`).
        dropout: dropout on embeddings and outputs.
        bidirectional_encoder: bool, encode with a forward and a backward GRU of
            `hidden_dim // 2` units each (`hidden_dim` must be even).
        deep_output_dim: int or None, size of the tanh layer before the vocabulary
            projection (None: project [s_t; c_t] directly).
        **kwargs: `keras.Model` arguments.

    Call arguments:
        inputs: dict `{"source": int (B, S), "target_in": int (B, T)}`.
        training: bool.

    Returns:
        Logits `(B, T, target_vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> model = BahdanauEncoderDecoder(20, 15, embedding_dim=8, hidden_dim=16)
    >>> src, tgt = np.array([[5, 6, 7, 0]]), np.array([[2, 4, 9]])
    >>> tuple(model({"source": src, "target_in": tgt}).shape)
    (1, 3, 15)
    >>> tuple(model.attention_weights(src, tgt).shape)
    (1, 3, 4)
    """

    def __init__(self, source_vocabulary_size, target_vocabulary_size, embedding_dim=128,
                 hidden_dim=256,
                 attention_units=None, dropout=0.1, bidirectional_encoder=False,
                 deep_output_dim=None, **kwargs):
        super().__init__(**kwargs)
        if bidirectional_encoder and hidden_dim % 2:
            raise ValueError("`bidirectional_encoder=True` splits `hidden_dim` between two "
                             f"directions, so it must be even; got hidden_dim={hidden_dim}.")
        if deep_output_dim is not None and (not isinstance(deep_output_dim, int)
                                            or deep_output_dim < 1):
            raise ValueError("`deep_output_dim` must be a positive int or None, got "
                             f"deep_output_dim={deep_output_dim!r}.")
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.attention_units = attention_units or hidden_dim
        self.dropout_rate = dropout
        self.bidirectional_encoder = bool(bidirectional_encoder)
        self.deep_output_dim = deep_output_dim
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, mask_zero=True, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, mask_zero=True, name="target_embedding")
        if self.bidirectional_encoder:
            self.encoder = keras.layers.Bidirectional(
                keras.layers.GRU(hidden_dim // 2, return_sequences=True, return_state=True),
                name="encoder")
        else:
            self.encoder = keras.layers.GRU(hidden_dim, return_sequences=True,
                                            return_state=True, name="encoder")
        self.attention = BahdanauAttention(self.attention_units, name="attention")
        self.decoder_cell = keras.layers.GRUCell(hidden_dim, name="decoder_cell")
        self.dropout = keras.layers.Dropout(dropout)
        self.deep_output = None
        if deep_output_dim:
            self.deep_output = keras.layers.Dense(deep_output_dim, activation="tanh",
                                                  name="deep_output")
        self.output_projection = keras.layers.Dense(target_vocabulary_size,
                                                    name="output_projection")

    def build(self, input_shape=None):
        # Sub-layers used inside ops.scan must exist before tracing the loop.
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.attention.build((None, self.hidden_dim), (None, None, self.hidden_dim))
        self.decoder_cell.build((None, self.embedding_dim + self.hidden_dim))
        features_dim = 2 * self.hidden_dim
        if self.deep_output is not None:
            self.deep_output.build((None, features_dim + self.embedding_dim))
            features_dim = self.deep_output_dim
        self.output_projection.build((None, features_dim))
        self.built = True

    def encode(self, source, training=False):
        """Encoder states `(B, S, H)`, final state `(B, H)` and source mask `(B, S)`."""
        if not self.built:
            self.build()
        mask = ops.not_equal(source, 0)
        x = self.dropout(self.source_embedding(source), training=training)
        if self.bidirectional_encoder:
            states, forward_final, backward_final = self.encoder(x, mask=mask,
                                                                 training=training)
            final = ops.concatenate([forward_final, backward_final], -1)  # (B, H)
        else:
            states, final = self.encoder(x, mask=mask, training=training)
        return states, final, mask

    def _step(self, y_embedded, state, values, projected_keys, source_mask):
        """One decoder step: (B, E), (B, H) → logits (B, V), new state (B, H), α (B, S)."""
        context, alpha = self.attention(
            state, values, projected_key=projected_keys, value_mask=source_mask,
            return_attention_scores=True)  # (B, H), (B, S)
        x = ops.concatenate([y_embedded, ops.cast(context, y_embedded.dtype)], -1)
        output, new_state = self.decoder_cell(x, [state])
        new_state = new_state[0] if isinstance(new_state, (list, tuple)) else new_state
        features = ops.concatenate([output, ops.cast(context, output.dtype)], -1)  # (B, 2H)
        return features, new_state, alpha

    def _teacher_forced(self, source, target_in, training):
        values, final, source_mask = self.encode(source, training)
        projected_keys = self.attention.project_key(values)  # (B, S, U): once, not per step
        y = self.dropout(self.target_embedding(target_in), training=training)  # (B, T, E)

        steps = y.shape[1]
        if isinstance(steps, int):
            # Static length: unroll (XLA cannot differentiate a while loop of unknown length,
            # and on CPU the unrolled graph is also the faster one).
            state, features, alphas = final, [], []
            for t in range(steps):
                f_t, state, a_t = self._step(y[:, t], state, values, projected_keys,
                                             source_mask)
                features.append(f_t)
                alphas.append(a_t)
            # (B, T, 2H), (B, T, S), (B, T, E)
            return ops.stack(features, axis=1), ops.stack(alphas, axis=1), y

        def step(carry, y_t):
            features, new_state, alpha = self._step(y_t, carry[0], values, projected_keys,
                                                    source_mask)
            new_carry = (new_state, features, ops.cast(alpha, features.dtype))
            # Keras' TensorFlow scan requires per-step outputs shaped like the carry.
            return new_carry, new_carry

        batch, source_length = ops.shape(values)[0], ops.shape(values)[1]
        init = (final, ops.zeros((batch, 2 * self.hidden_dim), final.dtype),
                ops.zeros((batch, source_length), final.dtype))
        _, (_, features, alphas) = ops.scan(step, init, ops.transpose(y, (1, 0, 2)))
        features = ops.transpose(features, (1, 0, 2))  # (B, T, 2H)
        alphas = ops.transpose(alphas, (1, 0, 2))  # (B, T, S)
        return features, alphas, y

    def _logits(self, features, y_embedded, training=False):
        """[s_t; c_t] (..., 2H) and E_y y_{t-1} (..., E) → logits (..., V)."""
        if self.deep_output is not None:
            features = self.deep_output(ops.concatenate(
                [features, ops.cast(y_embedded, features.dtype)], -1))  # (..., D)
        return self.output_projection(self.dropout(features, training=training))

    def call(self, inputs, training=False):
        features, _, y = self._teacher_forced(inputs["source"], inputs["target_in"], training)
        return self._logits(features, y, training)

    def attention_weights(self, source, target_in):
        return self._teacher_forced(source, target_in, training=False)[1]

    def build_cache(self, inputs, max_length):
        """`(s_0, encoder states, their projected keys, source mask)` (max_length unused)."""
        values, final, source_mask = self.encode(ops.cast(inputs, "int32"))
        return (final, values, self.attention.project_key(values), source_mask)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, attends, advances the state.

        Returns:
            `(logits (B, V), features [s_t; c_t] (B, 2H), cache)`.
        """
        state, values, projected_keys, source_mask = cache
        y = self.target_embedding(self.previous_token(token_ids, cache_update_index))[:, 0]
        features, new_state, _ = self._step(y, state, values, projected_keys, source_mask)
        return (self._logits(features, y), features,
                (new_state, values, projected_keys, source_mask))

    def get_config(self):
        config = super().get_config()
        config.update(source_vocabulary_size=self.source_vocabulary_size,
                      target_vocabulary_size=self.target_vocabulary_size,
                      embedding_dim=self.embedding_dim,
                      hidden_dim=self.hidden_dim, attention_units=self.attention_units,
                      dropout=self.dropout_rate,
                      bidirectional_encoder=self.bidirectional_encoder,
                      deep_output_dim=self.deep_output_dim)
        return config
