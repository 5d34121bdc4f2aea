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

    Padded source tokens get α = 0. Training runs this recurrence over the teacher-forced
    targets (unrolled when the target length is static, which XLA needs; `ops.scan`
    otherwise); decoding runs the same step function once per token with the state as cache.

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes (id 0 = padding).
        embed_dim: token embedding size.
        hidden_dim: GRU state size.
        attention_units: hidden size of the additive score (default `hidden_dim`).
        dropout: dropout on embeddings and outputs.
        **kwargs: `keras.Model` arguments.

    Call arguments:
        inputs: dict `{"source": int (B, S), "target_in": int (B, T)}`.
        training: bool.

    Returns:
        Logits `(B, T, target_vocab_size)`.

    Example:

    >>> import numpy as np
    >>> model = BahdanauEncoderDecoder(20, 15, embed_dim=8, hidden_dim=16)
    >>> src, tgt = np.array([[5, 6, 7, 0]]), np.array([[2, 4, 9]])
    >>> tuple(model({"source": src, "target_in": tgt}).shape)
    (1, 3, 15)
    >>> tuple(model.attention_weights(src, tgt).shape)
    (1, 3, 4)
    """

    def __init__(self, source_vocab_size, target_vocab_size, embed_dim=128, hidden_dim=256,
                 attention_units=None, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.attention_units = attention_units or hidden_dim
        self.dropout_rate = dropout
        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embed_dim, mask_zero=True, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embed_dim, mask_zero=True, name="target_embedding")
        self.encoder = keras.layers.GRU(hidden_dim, return_sequences=True, return_state=True,
                                        name="encoder")
        self.attention = BahdanauAttention(self.attention_units, name="attention")
        self.decoder_cell = keras.layers.GRUCell(hidden_dim, name="decoder_cell")
        self.dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(target_vocab_size, name="output_projection")

    def build(self, input_shape=None):
        # Sub-layers used inside ops.scan must exist before tracing the loop.
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, self.embed_dim))
        self.attention.build((None, self.hidden_dim), (None, None, self.hidden_dim))
        self.decoder_cell.build((None, self.embed_dim + self.hidden_dim))
        self.output_projection.build((None, 2 * self.hidden_dim))
        self.built = True

    def encode(self, source, training=False):
        """Encoder states `(B, S, H)`, final state `(B, H)` and source mask `(B, S)`."""
        if not self.built:
            self.build()
        mask = ops.not_equal(source, 0)
        x = self.dropout(self.source_embedding(source), training=training)
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
            return ops.stack(features, axis=1), ops.stack(alphas, axis=1)  # (B,T,2H), (B,T,S)

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
        return features, alphas

    def call(self, inputs, training=False):
        features, _ = self._teacher_forced(inputs["source"], inputs["target_in"], training)
        return self.output_projection(self.dropout(features, training=training))

    def attention_weights(self, source, target_in):
        return self._teacher_forced(source, target_in, training=False)[1]

    def build_cache(self, source, max_length):
        values, final, source_mask = self.encode(source)
        return (final, values, self.attention.project_key(values), source_mask)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        state, values, projected_keys, source_mask = cache
        y = self.target_embedding(token_ids)[:, 0]  # (B, E)
        features, new_state, _ = self._step(y, state, values, projected_keys, source_mask)
        return (self.output_projection(features), features,
                (new_state, values, projected_keys, source_mask))

    def get_config(self):
        config = super().get_config()
        config.update(source_vocab_size=self.source_vocab_size,
                      target_vocab_size=self.target_vocab_size, embed_dim=self.embed_dim,
                      hidden_dim=self.hidden_dim, attention_units=self.attention_units,
                      dropout=self.dropout_rate)
        return config
