"""RNN encoder-decoder with a fixed context vector (Sutskever et al. 2014; Cho et al. 2014)."""

import keras
from keras import ops

from keras_seq.models.seq2seq_model import Seq2SeqModel


@keras.saving.register_keras_serializable(package="keras_seq")
class RNNEncoderDecoder(Seq2SeqModel):
    """The seed's encoder-decoder: `c = f_e(x_{1:T})`, `y = f_d(c)`.

    The encoder GRU reads the source; its final state is the context c. The decoder GRU starts
    from c and also sees c at every step:

        s_t = GRU([E_y y_{t-1}; c], s_{t-1}),  s_0 = c
        p(y_t | y_{<t}, x) = softmax(W_o s_t + b_o)

    Args:
        source_vocabulary_size, target_vocabulary_size: vocabulary sizes (id 0 = padding).
        embedding_dim: token embedding size.
        hidden_dim: GRU state size.
        dropout: dropout on embeddings and decoder outputs.
        **kwargs: `keras.Model` arguments.

    Call arguments:
        inputs: dict `{"source": int (B, S), "target_in": int (B, T)}`.
        training: bool.

    Returns:
        Logits `(B, T, target_vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> model = RNNEncoderDecoder(20, 15, embedding_dim=8, hidden_dim=16)
    >>> src, tgt = np.array([[5, 6, 7, 0]]), np.array([[2, 4, 9]])
    >>> tuple(model({"source": src, "target_in": tgt}).shape)
    (1, 3, 15)
    >>> model.generate(src, max_length=6, jit_compile=False).shape
    (1, 6)
    """

    def __init__(self, source_vocabulary_size, target_vocabulary_size, embedding_dim=128,
                 hidden_dim=256,
                 dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.dropout_rate = dropout
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, mask_zero=True, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, mask_zero=True, name="target_embedding")
        self.encoder = keras.layers.GRU(hidden_dim, return_state=True, name="encoder")
        self.decoder = keras.layers.GRU(hidden_dim, return_sequences=True, name="decoder")
        self.dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(target_vocabulary_size,
                                                    name="output_projection")

    def build(self, input_shape=None):
        # Shapes follow from the constructor's sizes, so `model.build()` needs no input shape.
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.decoder.build((None, None, self.embedding_dim + self.hidden_dim))
        self.output_projection.build((None, None, self.hidden_dim))
        self.built = True

    def encode(self, source, training=False):
        """Context vector c `(B, H)`: the encoder's state after the last real source token."""
        x = self.dropout(self.source_embedding(source), training=training)
        _, context = self.encoder(x, mask=ops.not_equal(source, 0), training=training)
        return context

    def call(self, inputs, training=False):
        source, target_in = inputs["source"], inputs["target_in"]
        context = self.encode(source, training)  # (B, H)
        y = self.dropout(self.target_embedding(target_in), training=training)  # (B, T, E)
        steps = ops.shape(y)[1]
        repeated = ops.repeat(ops.expand_dims(context, 1), steps, axis=1)  # (B, T, H)
        states = self.decoder(ops.concatenate([y, ops.cast(repeated, y.dtype)], -1),
                              initial_state=[context], training=training)  # (B, T, H)
        return self.output_projection(self.dropout(states, training=training))

    def build_cache(self, inputs, max_length):
        """`(decoder state, context)`, both the context c `(B, H)` (max_length is unused)."""
        context = self.encode(ops.cast(inputs, "int32"))
        return (context, context)  # (decoder state, context)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, advances the decoder state one step.

        Returns:
            `(logits (B, V), hidden (B, H), cache)`.
        """
        state, context = cache
        y = self.target_embedding(self.previous_token(token_ids, cache_update_index))[:, 0]
        x = ops.concatenate([y, ops.cast(context, y.dtype)], -1)
        output, new_state = self.decoder.cell(x, [state])
        new_state = new_state[0] if isinstance(new_state, (list, tuple)) else new_state
        logits = self.output_projection(output)  # (B, V)
        return logits, output, (new_state, context)

    def attention_weights(self, source, target_in):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(source_vocabulary_size=self.source_vocabulary_size,
                      target_vocabulary_size=self.target_vocabulary_size,
                      embedding_dim=self.embedding_dim,
                      hidden_dim=self.hidden_dim, dropout=self.dropout_rate)
        return config
