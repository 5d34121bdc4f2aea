"""ELMo-style bidirectional language model: a forward and a backward LSTM LM sharing embeddings."""

import keras
from keras import ops

from keras_seq.layers.scalar_mix import ScalarMix


@keras.saving.register_keras_serializable(package="keras_seq")
class BidirectionalLanguageModel(keras.Model):
    """Two LSTM language models over one token embedding, trained jointly (ELMo's biLM).

    For a sequence x_1..x_T (right-padded with id 0):

        e_t    = W_p Emb(x_t)        (the token layer; W_p only when embedding_dim != hidden_dim)
        h→_t,j = LSTM→_j(h→_{t,j-1})   reads x_1..x_t;   p(x_{t+1} | x_≤t) = softmax(W h→_t,L)
        h←_t,j = LSTM←_j(h←_{t,j-1})   reads x_T'..x_t;  p(x_{t-1} | x_≥t) = softmax(W' h←_t,L)

    (T' = the last real token: the backward stack reads the real tokens only; the padding it
    meets first is masked, its state stays zero.) Layers j >= 2 add a residual connection.
    W' = W with `share_softmax=True`. The joint loss is the mean of both directions' cross
    entropies over the positions that have a target: real tokens whose right (forward) or
    left (backward) neighbour is real; see `targets`.

    Contextual embeddings (`embed`): the L+1 layer outputs h_{t,0} = [e_t; e_t] and
    h_{t,j} = [h→_t,j; h←_t,j] (each 2·units wide) mixed by a `ScalarMix`,
    ELMo_t = γ Σ_j softmax(s)_j h_{t,j}. The biLM loss does not train s and γ: a task
    learns its own mix (`keras_seq.models.elmo_embedding.ElmoEmbedding`).

    Args:
        vocabulary_size: number of token ids, padding (0) and OOV (1) included (int >= 3).
        embedding_dim: token embedding width.
        hidden_dim: LSTM units per direction and layer (H).
        num_layers: LSTM layers per direction (L).
        dropout: dropout on the token layer, between layers and before the softmax.
        share_softmax: one output projection for both directions (else two).
        residual: residual connections between LSTM layers j >= 2.
        **kwargs: base `keras.Model` arguments.

    Call arguments:
        token_ids: int tensor `(batch, time)`, 0 = padding (right-padded).
        training: Python bool (dropout).

    Returns:
        `call`: dict `{"forward": logits (B, T, V), "backward": logits (B, T, V)}` (float32):
        "forward"[t] scores x_{t+1}, "backward"[t] scores x_{t-1}.
        `embed`: `(embeddings (B, T, 2H), padding_mask (B, T) bool)`.
        `layer_stack`: `(stack (B, L+1, T, 2H), padding_mask)`.

    Example:

    >>> import numpy as np
    >>> lm = BidirectionalLanguageModel(50, embedding_dim=8, hidden_dim=8, num_layers=2)
    >>> ids = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32")
    >>> tuple(lm(ids)["backward"].shape)
    (2, 4, 50)
    >>> emb, mask = lm.embed(ids)
    >>> tuple(emb.shape), int(np.asarray(mask).sum())
    ((2, 4, 16), 5)
    """

    def __init__(self, vocabulary_size, embedding_dim=128, hidden_dim=128, num_layers=2,
                 dropout=0.1, share_softmax=True, residual=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocabulary_size, int) or vocabulary_size < 3:
            raise ValueError("`vocabulary_size` must be an int >= 3 (padding, OOV, tokens), "
                             f"got vocabulary_size={vocabulary_size!r}.")
        for arg, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
                           ("num_layers", num_layers)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{arg}` must be a positive int, got {arg}={value!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.share_softmax = bool(share_softmax)
        self.residual = bool(residual)
        policy = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, dtype=policy, name="token_embedding")
        self.token_projection = (
            keras.layers.Dense(hidden_dim, use_bias=False, dtype=policy, name="token_projection")
            if embedding_dim != hidden_dim else None)
        self.forward_layers = [
            keras.layers.LSTM(hidden_dim, return_sequences=True, dtype=policy,
                              name=f"forward_lstm_{j}")
            for j in range(num_layers)]
        self.backward_layers = [
            keras.layers.LSTM(hidden_dim, return_sequences=True, dtype=policy,
                              name=f"backward_lstm_{j}")
            for j in range(num_layers)]
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.forward_softmax = keras.layers.Dense(vocabulary_size, dtype=policy,
                                                  name="forward_softmax")
        self.backward_softmax = self.forward_softmax if share_softmax else keras.layers.Dense(
            vocabulary_size, dtype=policy, name="backward_softmax")
        # A uniform mix (s = 0, γ = 1) that the LM loss never sees: frozen here.
        self.scalar_mix = ScalarMix(num_layers + 1, dtype=policy, name="scalar_mix")
        self.scalar_mix.trainable = False

    def build(self, input_shape=None):
        # Sub-layers may already be built by an earlier `embed()` call: build only the rest.
        shapes = [(self.token_embedding, (None, None))]
        if self.token_projection is not None:
            shapes.append((self.token_projection, (None, None, self.embedding_dim)))
        shapes += [(layer, (None, None, self.hidden_dim))
                   for layer in self.forward_layers + self.backward_layers]
        shapes.append((self.forward_softmax, (None, None, self.hidden_dim)))
        if not self.share_softmax:
            shapes.append((self.backward_softmax, (None, None, self.hidden_dim)))
        shapes.append((self.scalar_mix, (None, self.num_layers + 1, None, 2 * self.hidden_dim)))
        for layer, shape in shapes:
            if not layer.built:
                layer.build(shape)
        self.built = True

    # ---- the two stacks ------------------------------------------------------------------
    def _token_layer(self, token_ids, training):
        x = self.token_embedding(token_ids)  # (B, T, E)
        if self.token_projection is not None:
            x = self.token_projection(x)  # (B, T, H)
        return x

    def _run_stack(self, layers, x, mask, training):
        outputs = []
        for j, layer in enumerate(layers):
            h = layer(self.dropout_layer(x, training=training), mask=mask, training=training)
            if self.residual and j > 0:
                h = h + x
            outputs.append(h)  # (B, T, H)
            x = h
        return outputs

    def directional_states(self, token_ids, training=False):
        """The token layer and each direction's layer outputs.

        Args:
            token_ids: int `(batch, time)`, 0 = padding.
            training: Python bool.

        Returns:
            `(token_layer (B, T, H), [forward (B, T, H)] * L, [backward (B, T, H)] * L,
            padding_mask (B, T))`; padded positions hold zeros.
        """
        token_ids = ops.convert_to_tensor(token_ids, "int32")
        mask = ops.not_equal(token_ids, 0)  # (B, T)
        real = ops.cast(mask, self.compute_dtype)[..., None]  # (B, T, 1)
        x0 = self._token_layer(token_ids, training) * real
        forward = self._run_stack(self.forward_layers, x0, mask, training)
        # Reversing the time axis turns right padding into left padding: the masked steps
        # come first and leave the zero initial state untouched, so the backward LSTMs read
        # exactly the real tokens x_T'..x_1.
        backward = self._run_stack(self.backward_layers, ops.flip(x0, axis=1),
                                   ops.flip(mask, axis=1), training)
        backward = [ops.flip(h, axis=1) for h in backward]
        forward = [h * real for h in forward]
        backward = [h * real for h in backward]
        return x0, forward, backward, mask

    def call(self, token_ids, training=None):
        _, forward, backward, _ = self.directional_states(token_ids, training=training)
        f = self.dropout_layer(forward[-1], training=training)
        b = self.dropout_layer(backward[-1], training=training)
        return {"forward": ops.cast(self.forward_softmax(f), "float32"),     # (B, T, V)
                "backward": ops.cast(self.backward_softmax(b), "float32")}  # (B, T, V)

    # ---- contextual embeddings -----------------------------------------------------------
    def layer_stack(self, token_ids, training=False):
        """The L+1 representations `(B, L+1, T, 2H)`: [e; e], then [h→_j; h←_j] per layer.

        Args:
            token_ids: int `(batch, time)`, 0 = padding.
            training: Python bool.

        Returns:
            `(stack, padding_mask (B, T) bool)`.
        """
        x0, forward, backward, mask = self.directional_states(token_ids, training=training)
        layers = [ops.concatenate([x0, x0], axis=-1)]  # (B, T, 2H)
        layers += [ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward)]
        return ops.stack(layers, axis=1), mask  # (B, L+1, T, 2H)

    def embed(self, token_ids, training=False):
        """ELMo embeddings `(B, T, 2H)` (zeros at padding) and the padding mask `(B, T)`.

        Args:
            token_ids: int `(batch, time)`, 0 = padding.
            training: Python bool.

        Returns:
            `(embeddings, padding_mask)`.
        """
        stack, mask = self.layer_stack(token_ids, training=training)
        mixed = self.scalar_mix(stack, padding_mask=mask)  # (B, T, 2H)
        return mixed * ops.cast(mask, mixed.dtype)[..., None], mask

    # ---- targets of the joint loss -------------------------------------------------------
    @staticmethod
    def targets(token_ids):
        """Targets and weights of both directions for right-padded `token_ids` `(B, T)`.

            forward:  y→_t = x_{t+1}, weight 1 where x_t and x_{t+1} are real tokens
            backward: y←_t = x_{t-1}, weight 1 where x_t and x_{t-1} are real tokens

        Args:
            token_ids: int `(batch, time)`, 0 = padding.

        Returns:
            `(targets, sample_weights)`: dicts with keys "forward", "backward" of
            `(B, T)` int32 targets and float32 weights.
        """
        ids = ops.cast(ops.convert_to_tensor(token_ids), "int32")
        zeros = ops.zeros_like(ids[:, :1])
        nxt = ops.concatenate([ids[:, 1:], zeros], axis=1)    # x_{t+1}
        prev = ops.concatenate([zeros, ids[:, :-1]], axis=1)  # x_{t-1}
        real = ops.not_equal(ids, 0)
        w_f = ops.cast(ops.logical_and(real, ops.not_equal(nxt, 0)), "float32")
        w_b = ops.cast(ops.logical_and(real, ops.not_equal(prev, 0)), "float32")
        return {"forward": nxt, "backward": prev}, {"forward": w_f, "backward": w_b}

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, embedding_dim=self.embedding_dim,
                      hidden_dim=self.hidden_dim, num_layers=self.num_layers, dropout=self.dropout,
                      share_softmax=self.share_softmax, residual=self.residual)
        return config
