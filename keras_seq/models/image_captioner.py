"""CNN-RNN image captioner (conditional Vec2Seq), optionally with attention over image regions."""

import keras
from keras import ops

from keras_seq.layers import BackboneImageEncoder, BahdanauAttention, ConvImageEncoder
from keras_seq.models.seq2seq_model import Seq2SeqModel

CONDITIONING = ("both", "state", "input")


@keras.saving.register_keras_serializable(package="keras_seq")
class ImageCaptioner(Seq2SeqModel):
    """The seed's captioner: p(y_{1:T} | x) = Π_t p(y_t | h_t),  h_t = RNN(h_{t-1}, y_{t-1}, x).

    A CNN embeds the image x into a global vector x̄ and a grid of region features
    v_1..v_N (`ConvImageEncoder`, or a `keras.applications` backbone). The decoder RNN
    (GRU or LSTM) is conditioned on the image in the two ways the lecture allows
    (`condition_on`):

        state:  h_0 = tanh(W_init x̄ + b_init)                       (else h_0 = 0)
        input:  h_t = φ(W_xh [x̄; E y_{t-1}] + W_hh h_{t-1})          (else [E y_{t-1}] only)

    and, with `attention=True`, also on a new context at each step (Bahdanau attention,
    the query is the previous state; Xu et al., 2015 "Show, Attend and Tell"):

        c_t = Σ_i α_{t,i} v_i,   α_{t,:} = softmax_i(w_vᵀ tanh(W_q h_{t-1} + W_k v_i))
        h_t = φ(W_xh [x̄; E y_{t-1}; c_t] + W_hh h_{t-1})
        p(y_t | ·) = softmax(W_o [h_t; c_t] + b_o)          (W_o h_t + b_o without attention)

    Training is teacher forcing on `[START] y_1 .. y_{T-1}` (unrolled for a static caption
    length, which XLA needs); `generate` runs the same step per token inside one
    `ops.while_loop` (greedy, beam or sampling), the state and the image features as cache.

    Args:
        vocabulary_size: int, caption vocabulary (id 0 = padding, 2 = [START], 3 = [END]).
        image_size: int, side of the square input images.
        embedding_dim: word embedding size (and size of the global image embedding x̄).
        hidden_dim: RNN state size.
        rnn: "gru" or "lstm".
        attention: bool, attend over the image grid at every step.
        condition_on: "both" (default), "state" or "input" (see above).
        encoder_filters: channels of the `ConvImageEncoder` stages.
        encoder_pooling: how `ConvImageEncoder` makes x̄ from the grid: "both" (flattened
            and averaged), "flatten" or "mean".
        encoder_self_attention_heads: heads of a self-attention block over the regions in
            `ConvImageEncoder` (0 = none).
        encoder_twin_heads: heads of the `RegionTwinScores` (a same/different feature) that
            `ConvImageEncoder`'s global embedding reads (0 = none).
        encoder_self_similarity: bool, append the image's `ImageSelfSimilarity` score
            ("the image repeats itself", the same/different feature for counts) to x̄.
        encoder_self_similarity_heads: learned `ImageSelfSimilarity` heads appended too.
        backbone: None (our conv stack) or a `BackboneImageEncoder.BACKBONES` name.
        backbone_weights: weights file for the backbone (None: random init).
        trainable_backbone: fine-tune (True) or freeze (False) the backbone.
        attention_units: hidden size of the additive score (default `hidden_dim`).
        dropout: dropout on embeddings and RNN outputs.
        **kwargs: `keras.Model` arguments.

    Call arguments:
        inputs: dict `{"image": float (B, H, W, 3) in [0, 1], "caption_in": int (B, T)}`.
        training: bool.

    Returns:
        Logits `(B, T, vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> model = ImageCaptioner(12, image_size=32, embedding_dim=8, hidden_dim=16,
    ...                        encoder_filters=(4, 8))
    >>> images, caption_in = np.zeros((2, 32, 32, 3), "float32"), np.array([[2, 5, 6]] * 2)
    >>> tuple(model({"image": images, "caption_in": caption_in}).shape)
    (2, 3, 12)
    >>> tuple(model.attention_weights(images, caption_in).shape)  # 8x8 regions
    (2, 3, 64)
    >>> model.generate(images, max_length=5, jit_compile=False).shape
    (2, 5)
    """

    def __init__(self, vocabulary_size, image_size=64, embedding_dim=128, hidden_dim=256, rnn="gru",
                 attention=True, condition_on="both", encoder_filters=(32, 64, 128),
                 encoder_pooling="both", encoder_self_attention_heads=0, encoder_twin_heads=0,
                 encoder_self_similarity=False, encoder_self_similarity_heads=0,
                 backbone=None,
                 backbone_weights=None, trainable_backbone=False,
                 attention_units=None, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if rnn not in ("gru", "lstm"):
            raise ValueError(f"`rnn` must be 'gru' or 'lstm', got rnn={rnn!r}.")
        if condition_on not in CONDITIONING:
            raise ValueError(f"`condition_on` must be one of {CONDITIONING}, got "
                             f"condition_on={condition_on!r}.")
        if not isinstance(image_size, int) or image_size < 16:
            raise ValueError(f"`image_size` must be an int >= 16, got image_size={image_size!r}.")
        self.vocabulary_size = vocabulary_size
        self.image_size = image_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.rnn = rnn
        self.use_attention = bool(attention)
        self.condition_on = condition_on
        self.encoder_filters = tuple(encoder_filters)
        self.encoder_pooling = encoder_pooling
        self.encoder_self_attention_heads = int(encoder_self_attention_heads)
        self.encoder_twin_heads = int(encoder_twin_heads)
        self.encoder_self_similarity = bool(encoder_self_similarity)
        self.encoder_self_similarity_heads = int(encoder_self_similarity_heads)
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.trainable_backbone = bool(trainable_backbone)
        self.attention_units = attention_units or hidden_dim
        self.dropout_rate = dropout
        if backbone:
            self.image_encoder = BackboneImageEncoder(
                backbone, embedding_dim=embedding_dim, backbone_weights=backbone_weights,
                trainable_backbone=trainable_backbone, dropout=dropout, name="image_encoder")
        else:
            self.image_encoder = ConvImageEncoder(self.encoder_filters, embedding_dim=embedding_dim,
                                                  dropout=dropout, pooling=encoder_pooling,
                                                  self_attention_heads=encoder_self_attention_heads,
                                                  twin_heads=self.encoder_twin_heads,
                                                  self_similarity=self.encoder_self_similarity,
                                                  self_similarity_heads=(
                                                      self.encoder_self_similarity_heads),
                                                  name="image_encoder")
        self.word_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                     name="word_embedding")
        self.initial_state = None  # h_0 = 0 when the image enters only the input
        if condition_on in ("both", "state"):
            self.initial_state = keras.layers.Dense(hidden_dim, activation="tanh",
                                                    name="initial_state")
        self.attention = (BahdanauAttention(self.attention_units, name="attention")
                          if self.use_attention else None)
        cell = keras.layers.GRUCell if rnn == "gru" else keras.layers.LSTMCell
        self.decoder_cell = cell(hidden_dim, name="decoder_cell")
        self.dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(vocabulary_size, name="output_projection")

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape=None):
        size = self.image_size
        self.image_encoder.build((None, size, size, 3))
        grid_shape, vector_shape = self.image_encoder.compute_output_shape((None, size, size, 3))
        self.grid_channels = int(grid_shape[-1])
        self.vector_dim = int(vector_shape[-1])  # x̄: embedding_dim (+ self-similarity scores)
        self.word_embedding.build((None, None))
        if self.initial_state is not None:
            self.initial_state.build((None, self.vector_dim))
        if self.use_attention:
            self.attention.build((None, self.hidden_dim), (None, None, self.grid_channels))
        self.decoder_cell.build((None, self._step_input_dim()))
        features = self.hidden_dim + (self.grid_channels if self.use_attention else 0)
        self.output_projection.build((None, features))
        self.built = True

    def _step_input_dim(self):
        dim = self.embedding_dim
        if self.condition_on in ("both", "input"):
            dim += self.vector_dim
        if self.use_attention:
            dim += self.grid_channels
        return dim

    @property
    def grid_shape(self):
        """(h, w) of the region grid the attention weights refer to."""
        return self.image_encoder.grid_shape

    # -- encoder and one decoder step -------------------------------------------------------
    source_dtype = "float32"  # `generate` and `build_cache` read images

    def encode(self, images, training=False):
        """Region grid `(B, N, C)`, global embedding `(B, E)` and the initial state(s)."""
        if not self.built:
            self.build()
        grid, vector = self.image_encoder(images, training=training)
        batch = ops.shape(vector)[0]
        if self.initial_state is not None:
            h0 = self.initial_state(vector)  # (B, H)
        else:
            h0 = ops.zeros((batch, self.hidden_dim), vector.dtype)
        c0 = ops.zeros_like(h0)  # the LSTM's cell state; unused by the GRU
        return grid, vector, (h0, c0)

    def _step(self, y_embedded, state, vector, grid, projected_keys):
        """(B, E), ((B, H), (B, H)) → features (B, H [+ C]), new state, α (B, N) or None."""
        h, c = state
        parts = [y_embedded]
        if self.condition_on in ("both", "input"):
            parts.insert(0, ops.cast(vector, y_embedded.dtype))
        context, alpha = None, None
        if self.use_attention:
            context, alpha = self.attention(h, grid, projected_key=projected_keys,
                                            return_attention_scores=True)  # (B, C), (B, N)
            parts.append(ops.cast(context, y_embedded.dtype))
        x = ops.concatenate(parts, axis=-1)  # (B, step_input_dim)
        if self.rnn == "gru":
            output, new = self.decoder_cell(x, [h])
            new_state = (new[0] if isinstance(new, (list, tuple)) else new, c)
        else:
            output, new = self.decoder_cell(x, [h, c])
            new_state = (new[0], new[1])
        features = output
        if self.use_attention:
            features = ops.concatenate([output, ops.cast(context, output.dtype)], axis=-1)
        return features, new_state, alpha

    def _teacher_forced(self, images, caption_in, training):
        grid, vector, state = self.encode(images, training)
        projected_keys = self.attention.project_key(grid) if self.use_attention else None
        y = self.dropout(self.word_embedding(caption_in), training=training)  # (B, T, E)
        steps = y.shape[1]
        if isinstance(steps, int):
            features, alphas = [], []
            for t in range(steps):  # static length: unrolled (XLA-friendly)
                f_t, state, a_t = self._step(y[:, t], state, vector, grid, projected_keys)
                features.append(f_t)
                alphas.append(a_t)
            alphas = ops.stack(alphas, axis=1) if self.use_attention else None  # (B, T, N)
            return ops.stack(features, axis=1), alphas  # (B, T, F)

        def step(carry, y_t):
            f_t, new_state, a_t = self._step(y_t, (carry[0], carry[1]), vector, grid,
                                             projected_keys)
            if a_t is None:
                a_t = ops.zeros_like(carry[3])
            new_carry = (new_state[0], new_state[1], f_t, ops.cast(a_t, f_t.dtype))
            return new_carry, new_carry  # Keras' TF scan wants outputs shaped like the carry

        batch = ops.shape(vector)[0]
        regions = ops.shape(grid)[1] if self.use_attention else 1
        width = self.hidden_dim + (self.grid_channels if self.use_attention else 0)
        init = (state[0], state[1], ops.zeros((batch, width), state[0].dtype),
                ops.zeros((batch, regions), state[0].dtype))
        _, (_, _, features, alphas) = ops.scan(step, init, ops.transpose(y, (1, 0, 2)))
        features = ops.transpose(features, (1, 0, 2))  # (B, T, F)
        alphas = ops.transpose(alphas, (1, 0, 2)) if self.use_attention else None
        return features, alphas

    def call(self, inputs, training=False):
        features, _ = self._teacher_forced(inputs["image"], inputs["caption_in"], training)
        return self.output_projection(self.dropout(features, training=training))

    def attention_weights(self, images, caption_in):
        """α `(B, T, N)` over the `grid_shape` regions for each caption step, or None."""
        return self._teacher_forced(ops.convert_to_tensor(images, "float32"),
                                    ops.convert_to_tensor(caption_in, "int32"), False)[1]

    # -- generation -------------------------------------------------------------------------
    def build_cache(self, inputs, max_length):
        """`(h_0, c_0, x̄, region grid, projected keys)` for images `inputs` (max_length unused).

        Without attention the grid and keys are `(B, 1)` placeholders (one cache structure).
        """
        grid, vector, (h, c) = self.encode(ops.cast(inputs, "float32"))
        if self.use_attention:
            keys = self.attention.project_key(grid)  # (B, N, U): once per image, not per step
        else:  # keep one cache structure; a (B, 1) placeholder costs nothing
            grid = keys = ops.zeros((ops.shape(vector)[0], 1), vector.dtype)
        return (h, c, vector, grid, keys)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Reads `token_ids[:, cache_update_index - 1]`, advances the decoder one step.

        Returns:
            `(logits (B, V), features (B, H [+ C]), cache)`.
        """
        h, c, vector, grid, keys = cache
        y = self.word_embedding(self.previous_token(token_ids, cache_update_index))[:, 0]
        features, (h, c), _ = self._step(y, (h, c), vector, grid,
                                         keys if self.use_attention else None)
        return self.output_projection(features), features, (h, c, vector, grid, keys)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, image_size=self.image_size,
                      embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim, rnn=self.rnn,
                      attention=self.use_attention, condition_on=self.condition_on,
                      encoder_filters=list(self.encoder_filters),
                      encoder_pooling=self.encoder_pooling,
                      encoder_self_attention_heads=self.encoder_self_attention_heads,
                      encoder_twin_heads=self.encoder_twin_heads,
                      encoder_self_similarity=self.encoder_self_similarity,
                      encoder_self_similarity_heads=self.encoder_self_similarity_heads,
                      backbone=self.backbone,
                      backbone_weights=self.backbone_weights,
                      trainable_backbone=self.trainable_backbone,
                      attention_units=self.attention_units, dropout=self.dropout_rate)
        return config
