"""Aligned Seq2Seq (T = T'): a stacked, optionally bidirectional RNN that tags every input step."""

import keras
import numpy as np
from keras import ops

from keras_seq.layers.elman_rnn_cell import ElmanRNNCell

CELLS = ("elman", "rnn", "gru", "lstm")


@keras.saving.register_keras_serializable(package="keras_seq")
class SequenceTagger(keras.Model):
    """Dense sequence labelling: char embedding -> L stacked (bi)RNNs -> one tag per step.

    For input ids x_1..x_T, with h^0_t = e(x_t) (an embedding with `mask_zero=True`), each
    layer l = 1..L of the deep RNN computes

        h^l_t = φ_l(W_xh^l h^{l-1}_t + W_hh^l h^l_{t-1} + b^l)             (forward)

    (for "gru"/"lstm" the gated versions of the same recurrence), and the output is aligned
    with the input, one distribution over tags per step:

        y_t = W_hy h^L_t + b_y                      (logits; p(tag_t | x) = softmax(y_t))

    With `bidirectional=True` every layer also runs right to left,
    ←h^l_t = φ_l(W'_xh^l h^{l-1}_t + W'_hh^l ←h^l_{t+1} + b'^l), and passes on
    h^l_t = [→h^l_t ; ←h^l_t], so y_t sees the whole sentence, x_1..x_T. Dropout (training
    only) is applied to the embedding and between layers.

    Masks: padding id 0. The padding mask goes to every RNN (both directions), so padded
    steps never change a state: the right-to-left pass starts at the last real step, and the
    outputs at real steps do not depend on how much padding follows. `compute_mask` returns
    the padding mask, so a Keras loss skips padded steps; the applications also pass 0/1
    sample weights.

    Args:
        vocabulary_size: number of input ids (padding id 0 included), int >= 2.
        num_tags: number of tags (the head's width), int >= 2.
        cell: "elman" (the lecture's `ElmanRNNCell`, φ = `activation`), "rnn"
            (`keras.layers.SimpleRNN`), "gru" or "lstm".
        hidden_dim: hidden units per direction and layer.
        num_layers: L, stacked RNN layers.
        bidirectional: run each layer in both directions and concatenate.
        embedding_dim: size of the character embedding.
        dropout: dropout rate on the embedding and between layers, in [0, 1).
        activation: φ of the "elman" and "rnn" cells (default "tanh").
        **kwargs: base `keras.Model` arguments (name, dtype, ...).

    Call arguments:
        token_ids: int `[batch, time]`, 0 = padding.
        training: dropout on/off.
        padding_mask: optional bool `[batch, time]`, True = real step; default
            `token_ids != 0`.

    Returns:
        Logits `[batch, time, num_tags]` (float32 under mixed precision too).

    Example:

    >>> import numpy as np
    >>> tagger = SequenceTagger(vocabulary_size=97, num_tags=5, cell="gru", hidden_dim=8,
    ...                         num_layers=2, embedding_dim=8)
    >>> tuple(tagger(np.array([[40, 41, 42, 0, 0]])).shape)
    (1, 5, 5)
    >>> tagger.predict_tags(np.array([[40, 41, 42, 0, 0]])).shape
    (1, 5)
    """

    def __init__(self, vocabulary_size, num_tags, cell="lstm", hidden_dim=64, num_layers=2,
                 bidirectional=True, embedding_dim=32, dropout=0.0, activation="tanh",
                 **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("vocabulary_size", vocabulary_size, 2),
                                 ("num_tags", num_tags, 2), ("hidden_dim", hidden_dim, 1),
                                 ("num_layers", num_layers, 1),
                                 ("embedding_dim", embedding_dim, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise ValueError(f"`{name}` must be an int >= {low}, got {name}={value!r}.")
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {CELLS}, got cell={cell!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        self.vocabulary_size = int(vocabulary_size)
        self.num_tags = int(num_tags)
        self.cell_type = cell
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.embedding_dim = int(embedding_dim)
        self.dropout_rate = float(dropout)
        self.activation = activation
        self.embedding = keras.layers.Embedding(
            self.vocabulary_size, self.embedding_dim, mask_zero=True,
            dtype=self.dtype_policy, name="embedding")
        self.rnn_layers = [self._make_rnn(i) for i in range(self.num_layers)]
        self.dropouts = [keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy,
                                              name=f"dropout_{i}")
                         for i in range(self.num_layers + 1)]
        policy = keras.dtype_policies.get(self.dtype_policy)
        head_dtype = "float32" if policy.compute_dtype != policy.variable_dtype \
            else self.dtype_policy
        self.head = keras.layers.Dense(self.num_tags, dtype=head_dtype, name="tag_logits")

    def _make_rnn(self, i):
        name = f"{self.cell_type}_{i}"
        common = dict(return_sequences=True, dtype=self.dtype_policy, name=name)
        if self.cell_type == "lstm":
            rnn = keras.layers.LSTM(self.hidden_dim, **common)
        elif self.cell_type == "gru":
            rnn = keras.layers.GRU(self.hidden_dim, **common)
        elif self.cell_type == "rnn":
            rnn = keras.layers.SimpleRNN(self.hidden_dim, activation=self.activation, **common)
        else:
            rnn = keras.layers.RNN(
                ElmanRNNCell(self.hidden_dim, activation=self.activation, dtype=self.dtype_policy),
                **common)
        if self.bidirectional:
            return keras.layers.Bidirectional(rnn, merge_mode="concat",
                                              dtype=self.dtype_policy, name=f"bi_{name}")
        return rnn

    def call(self, token_ids, training=None, padding_mask=None):
        if padding_mask is None:
            padding_mask = ops.not_equal(token_ids, 0)  # (B, T)
        x = self.dropouts[0](self.embedding(token_ids), training=training)  # (B, T, E)
        for rnn, dropout in zip(self.rnn_layers, self.dropouts[1:]):
            x = rnn(x, mask=padding_mask, training=training)  # (B, T, U) or (B, T, 2U)
            x = dropout(x, training=training)
        return self.head(x)  # (B, T, num_tags)

    def compute_mask(self, token_ids, mask=None):
        return ops.not_equal(token_ids, 0)

    def predict_tags(self, token_ids, batch_size=256):
        """Most likely tag id per step (NumPy `[batch, time]`; padded steps are set to 0)."""
        token_ids = np.asarray(token_ids)
        out = []
        for i in range(0, len(token_ids), batch_size):
            ids = token_ids[i:i + batch_size]
            logits = ops.convert_to_numpy(self(ids, training=False))
            out.append(np.where(ids != 0, logits.argmax(-1), 0).astype("int32"))
        return np.concatenate(out) if out else np.zeros(token_ids.shape, "int32")

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, num_tags=self.num_tags,
                      cell=self.cell_type, hidden_dim=self.hidden_dim, num_layers=self.num_layers,
                      bidirectional=self.bidirectional, embedding_dim=self.embedding_dim,
                      dropout=self.dropout_rate, activation=self.activation)
        return config
