"""Character-level RNN language model with state-carrying, compiled generation."""

import keras
import numpy as np
from keras import ops

from keras_seq.generation import GenerativeLanguageModel
from keras_seq.layers.elman_rnn_cell import ElmanRNNCell

CELLS = ("elman", "rnn", "gru", "lstm")


@keras.saving.register_keras_serializable(package="keras_seq")
class CharLanguageModel(GenerativeLanguageModel, keras.Model):
    """Stacked-RNN language model over character ids: embedding -> RNN x L -> dense logits.

    For input ids x_1..x_T it computes, per layer l (h^0_t = e(x_t), the embedding or one-hot)

        h^l_t = RNN_l(h^l_{t-1}, h^{l-1}_t)          e.g. Elman: h_t = tanh(V h_{t-1} + U x_t + b_h)
        P(x_{t+1} | x_1..x_t) = softmax(W h^L_t + b)

    and is trained with the cross-entropy of the next character (perplexity = exp of its mean,
    bits per char = mean / ln 2). `cell` is "elman" (the lecture's `ElmanRNNCell`), "rnn"
    (`keras.layers.SimpleRNN`), "gru" or "lstm". Dropout is applied to the embedding and
    between layers (not on the recurrent connections).

    Generation follows the contract of `keras_seq.generation`: the cache is the RNN state (a
    flat tuple of `[batch, hidden_dim]` tensors, two per LSTM layer, one otherwise);
    `build_cache(prompt_ids, max_length)` runs the prompts through the RNN once (the
    prefill, up to the shortest prompt's last id); `call_with_cache` reads the token at
    `cache_update_index - 1`, advances the state one step and returns the logits of the
    next token. `generate` runs the prefill and then carries the state inside one
    `ops.while_loop` (`keras_seq.generation.decode`) in one `GenerateRunner`, compiled once
    per (batch, prompt bucket, length bucket) with XLA by default.

    Args:
        vocabulary_size: number of ids (padding id 0 and unknown id 1 included).
        cell: "elman", "rnn", "gru" or "lstm".
        hidden_dim: hidden units per layer.
        num_layers: stacked RNN layers.
        embedding_dim: size of the character embedding; None or 0 = one-hot inputs.
        dropout: dropout rate on the embedding and between layers (training only).
        recurrent_dropout: dropout on the recurrent connections (one mask per sequence;
            LSTM/GRU/SimpleRNN only).
        activation: f of the "elman" and "rnn" cells (default "tanh"; e.g. "relu").
        stateful: keep the final state of each batch as the initial state of the next (for
            truncated BPTT over `sequential_dataset` batches; needs a fixed batch size; reset
            with `reset_rnn_states()`).
        **kwargs: base `keras.Model` arguments (name, dtype, ...).

    Call arguments:
        token_ids: int `[batch, time]`.
        training: dropout on/off.
        initial_state: a cache (flat tuple of states) to start from, or None (zeros).
        padding_mask: bool `[batch, time]`, False = padding (the state is kept unchanged over
            padded steps, so a left-padded prompt gives the state of the unpadded one).
        return_state: also return the final cache.

    Returns:
        Logits `[batch, time, vocabulary_size]` (float32), and the cache when `return_state`.

    Example:

    >>> import numpy as np
    >>> model = CharLanguageModel(vocabulary_size=29, cell="gru", hidden_dim=16, embedding_dim=8)
    >>> tuple(model(np.array([[3, 4, 5]])).shape)
    (1, 3, 29)
    >>> model.generate(np.array([[3, 4, 5]]), max_length=7, jit_compile=False).shape
    (1, 7)
    """

    def __init__(self, vocabulary_size, cell="lstm", hidden_dim=256, num_layers=1, embedding_dim=32,
                 dropout=0.0, recurrent_dropout=0.0, activation="tanh", stateful=False,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocabulary_size, (int, np.integer)) or vocabulary_size < 3:
            raise ValueError("`vocabulary_size` must be an int >= 3 (padding, unknown and at "
                             f"least one character), got vocabulary_size={vocabulary_size!r}.")
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {CELLS}, got cell={cell!r}.")
        for name, value in (("hidden_dim", hidden_dim), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
        if embedding_dim is not None and (not isinstance(embedding_dim, (int, np.integer))
                                          or embedding_dim < 0):
            raise ValueError("`embedding_dim` must be None, 0 (one-hot) or a positive int, "
                             f"got embedding_dim={embedding_dim!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        if not 0.0 <= float(recurrent_dropout) < 1.0 or (recurrent_dropout and cell == "elman"):
            raise ValueError("`recurrent_dropout` must be in [0, 1) (and 0 for the 'elman' "
                             f"cell), got recurrent_dropout={recurrent_dropout!r}, cell={cell!r}.")
        self.vocabulary_size = int(vocabulary_size)
        self.cell_type = cell
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.embedding_dim = int(embedding_dim) if embedding_dim else None
        self.dropout_rate = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.activation = activation
        self.stateful = bool(stateful)
        self.embedding = (keras.layers.Embedding(self.vocabulary_size, self.embedding_dim,
                                                 name="embedding")
                          if self.embedding_dim else None)
        self.rnn_layers = [self._make_rnn(i) for i in range(self.num_layers)]
        self.dropouts = [keras.layers.Dropout(self.dropout_rate, name=f"dropout_{i}")
                         for i in range(self.num_layers + 1)]
        self.head = keras.layers.Dense(self.vocabulary_size, dtype=self._head_dtype(),
                                       name="logits")
        self.states_per_layer = 2 if cell == "lstm" else 1
        # Plain holder (not tracked by Keras): the stateless twin that generates.
        self._runtime = _Untracked(twin=None)

    def _head_dtype(self):
        policy = keras.dtype_policies.get(self.dtype_policy)
        return "float32" if policy.compute_dtype != policy.variable_dtype else self.dtype_policy

    def _make_rnn(self, i):
        common = dict(return_sequences=True, return_state=True, stateful=self.stateful,
                      name=f"{self.cell_type}_{i}")
        if self.cell_type != "elman" and self.recurrent_dropout:
            common["recurrent_dropout"] = self.recurrent_dropout
        if self.cell_type == "lstm":
            return keras.layers.LSTM(self.hidden_dim, **common)
        if self.cell_type == "gru":
            return keras.layers.GRU(self.hidden_dim, **common)
        if self.cell_type == "rnn":
            return keras.layers.SimpleRNN(self.hidden_dim, activation=self.activation, **common)
        return keras.layers.RNN(ElmanRNNCell(self.hidden_dim, activation=self.activation), **common)

    # ---- forward -------------------------------------------------------------------------
    def embed(self, token_ids):
        """h^0: the embedding (or one-hot) of int ids of any shape."""
        if self.embedding is not None:
            return self.embedding(token_ids)
        return ops.one_hot(ops.cast(token_ids, "int32"), self.vocabulary_size,
                           dtype=self.compute_dtype)

    def split_cache(self, cache):
        """The flat cache as a list of per-layer state lists."""
        cache = list(cache)
        n = self.states_per_layer
        if len(cache) != n * self.num_layers:
            raise ValueError(f"`cache` must hold {n * self.num_layers} state tensors "
                             f"({n} per layer), got {len(cache)}.")
        return [cache[i * n:(i + 1) * n] for i in range(self.num_layers)]

    def call(self, token_ids, training=None, initial_state=None, padding_mask=None,
             return_state=False):
        return self.call_on_vectors(self.embed(token_ids), training=training,
                                    initial_state=initial_state, padding_mask=padding_mask,
                                    return_state=return_state)

    def call_on_vectors(self, vectors, training=None, initial_state=None, padding_mask=None,
                        return_state=False):
        """`call` from h^0 = `embed(token_ids)` `[batch, time, d]` on (same arguments).

        Adversarial training (`keras_seq.training.AdversarialEmbeddingTrainer`) feeds it
        perturbed character vectors.
        """
        x = self.dropouts[0](vectors, training=training)
        states = None if initial_state is None else self.split_cache(initial_state)
        final = []
        for i, rnn in enumerate(self.rnn_layers):
            out = rnn(x, initial_state=None if states is None else states[i],
                      mask=padding_mask, training=training)
            x, layer_states = out[0], list(out[1:])
            final += layer_states
            x = self.dropouts[i + 1](x, training=training)
        logits = self.head(x)
        if return_state:
            return logits, tuple(final)
        return logits

    def _zero_state(self, batch_size):
        """The zero state (an empty cache) for `batch_size` sequences."""
        return tuple(ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
                     for _ in range(self.states_per_layer * self.num_layers))

    def step(self, inputs, cache):
        """One step from embedded `inputs [batch, d]`: (hidden [batch, hidden_dim], cache)."""
        x, new = inputs, []
        for rnn, layer_states in zip(self.rnn_layers, self.split_cache(cache)):
            x, s = rnn.cell(x, list(layer_states), training=False)
            new += list(s) if isinstance(s, (list, tuple)) else [s]
        return x, tuple(new)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, advances the state one step.

        Returns:
            `(logits [batch, vocabulary_size], hidden [batch, hidden_dim], cache)`: the logits of
            the token at `cache_update_index`.
        """
        token = ops.take(token_ids, ops.cast(cache_update_index, "int32") - 1, axis=1)
        hidden, cache = self.step(self.embed(token), cache)
        return self.head(hidden), hidden, cache

    def build_cache(self, inputs, max_length):
        """The state after reading the prompts up to the shortest prompt's last id (prefill).

        The decode loop then reads that id at `index` = the shortest prompt's length, and the
        longer rows' remaining prompt ids one step at a time (they are given tokens).

        Args:
            inputs: int `[batch, W]` prompt ids, right-padded with 0.
            max_length: length of the token buffer (unused: an RNN's cache is its state).

        Returns:
            The cache: a flat tuple of `[batch, hidden_dim]` states (zeros when the shortest
            prompt has one id).
        """
        prompt = ops.cast(inputs, "int32")
        real = ops.not_equal(prompt, 0)
        index = ops.min(ops.sum(ops.cast(real, "int32"), axis=1))
        read = ops.logical_and(real, ops.arange(ops.shape(prompt)[1])[None, :] < index - 1)

        def prefill():
            _, cache = self(prompt, training=False, padding_mask=read, return_state=True)
            return tuple(ops.cast(c, self.compute_dtype) for c in cache)

        def empty():  # nothing to read before the loop (and no all-padding RNN call)
            return self._zero_state(ops.shape(prompt)[0])

        return ops.cond(index > 1, prefill, empty)

    def unroll(self, token_ids, initial_state=None):
        """Runs step by step (Python loop): (logits [B,T,V], list of top hidden [B,hidden_dim]).

        Each returned hidden state h_t is a separate tensor, so a gradient tape can take
        derivatives with respect to it (gradient flow through time).
        """
        batch = ops.shape(token_ids)[0]
        cache = self._zero_state(batch) if initial_state is None else initial_state
        inputs = self.embed(token_ids)
        hidden, logits = [], []
        for t in range(token_ids.shape[1]):
            h, cache = self.step(inputs[:, t], cache)
            hidden.append(h)
            logits.append(self.head(h))
        return ops.stack(logits, axis=1), hidden

    def reset_rnn_states(self):
        """Zeros the carried state of every stateful RNN layer (no-op when not stateful)."""
        for rnn in self.rnn_layers:
            if rnn.stateful and rnn.states is not None:
                rnn.reset_state()

    # ---- generation ----------------------------------------------------------------------
    def stateless_copy(self):
        """A non-stateful model with the same config and (copied) weights."""
        config = self.get_config()
        config["stateful"] = False
        twin = CharLanguageModel.from_config(config)
        twin(np.ones((1, 1), "int32"))
        twin.set_weights(self.get_weights())
        return twin

    def _generation_network(self):
        """Self, or a stateless twin with this model's weights when it is stateful."""
        if not self.built:
            self(np.ones((1, 1), "int32"))
        if not self.stateful:
            return self
        if self._runtime.twin is None:
            self._runtime.twin = self.stateless_copy()
        else:
            self._runtime.twin.set_weights(self.get_weights())
        return self._runtime.twin

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, cell=self.cell_type,
                      hidden_dim=self.hidden_dim,
                      num_layers=self.num_layers, embedding_dim=self.embedding_dim,
                      dropout=self.dropout_rate, recurrent_dropout=self.recurrent_dropout,
                      activation=self.activation, stateful=self.stateful)
        return config


class _Untracked:
    """A plain attribute holder that Keras' layer tracking leaves alone."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

