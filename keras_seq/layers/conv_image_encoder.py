"""A small convolutional image encoder: a grid of region features and one global vector."""

import keras
from keras import ops

from keras_seq.layers.image_self_similarity import ImageSelfSimilarity
from keras_seq.layers.region_twin_scores import RegionTwinScores
from keras_seq.layers.transformer_encoder_block import TransformerEncoderBlock


@keras.saving.register_keras_serializable(package="keras_seq")
class ConvImageEncoder(keras.layers.Layer):
    """Embeds an image x for a captioner: `(grid, global)` = CNN(x).

    Stages of two 3×3 convolutions (ReLU), the second with stride 2, halve the resolution
    each time; after `len(filters)` stages an `H×W` image becomes an `(H/2^n)×(W/2^n)` grid
    of region features (the values a decoder attends over). The global embedding reads the
    grid two ways (`pooling`): flattened, which keeps *where* things are (left of, above),
    and averaged over the regions, which is the same for an object wherever it is, so two
    identical objects give twice one object's features ("two red circles") in any
    combination of colour, size and shape:

        F = conv_n(... conv_1([x; u; v]))     (h, w, C)   u, v: pixel coordinates in [-1, 1]
        grid   = reshape(F, (h·w, C))
        global = ReLU(W_g [vec(F); mean_i grid_i] + b_g)    (embedding_dim,)   pooling="both"

    The coordinate channels u, v ("CoordConv", Liu et al., 2018) make every feature know its
    position, which helps relations such as "left of" and "above". With
    `self_attention_heads > 0` the regions also attend to each other before pooling (one
    `TransformerEncoderBlock` over the h·w regions), so a region can find its twin
    elsewhere in the image: "two red circles" is a same/different relation, which plain
    convolutions learn only for the combinations they were trained on. With
    `twin_heads > 0` the global embedding also reads `RegionTwinScores` of the convolution
    grid, `T` (how closely the image's objects repeat each other, one number per head):

        global = ReLU(W_g [vec(F); mean_i grid_i; T] + b_g)

    With `self_similarity=True` the `ImageSelfSimilarity` scores S of the image itself
    (RGB, no weights) and, with `self_similarity_heads > 0`, of learned projections of the
    first stage's map are appended to the global embedding as they are (no dense layer,
    no dropout), so a decoder reads "the image repeats itself" directly:

        global = [Dropout(ReLU(W_g [...] + b_g)); S]        (embedding_dim + 1 + heads,)

    Args:
        filters: tuple of ints, channels of each stage (one stride-2 halving per stage).
        embedding_dim: int, size of the global embedding.
        add_coordinates: bool, append the u, v coordinate channels to the input.
        dropout: float, dropout on the global embedding.
        pooling: "both" (default), "flatten" or "mean": what the global embedding reads.
        self_attention_heads: int, heads of a self-attention block over the regions
            (0 = none).
        twin_heads: int, heads of `RegionTwinScores` read by the global embedding
            (0 = none).
        self_similarity: bool, append the image's `ImageSelfSimilarity` score.
        self_similarity_heads: int, learned `ImageSelfSimilarity` heads over the first
            stage's map, appended too (needs `self_similarity=True`).
        self_similarity_min_shift: float in (0, 1), the smallest shift compared, as a
            fraction of the image side (default 0.22: 14 pixels of 64, the closest two
            objects of the shape scenes can be).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: float `(B, H, W, 3)` in [0, 1] (H and W known when the layer is built).
        training: bool.

    Returns:
        A tuple `(grid (B, h*w, filters[-1]), global (B, embedding_dim [+ 1 + heads]))`.

    Example:

    >>> import numpy as np
    >>> encoder = ConvImageEncoder(filters=(8, 16), embedding_dim=32)
    >>> grid, vector = encoder(np.zeros((2, 32, 32, 3), "float32"))
    >>> tuple(grid.shape), tuple(vector.shape), encoder.grid_shape
    ((2, 64, 16), (2, 32), (8, 8))
    """

    def __init__(self, filters=(32, 64, 128), embedding_dim=256, add_coordinates=True, dropout=0.0,
                 pooling="both", self_attention_heads=0, twin_heads=0, self_similarity=False,
                 self_similarity_heads=0, self_similarity_min_shift=0.22, **kwargs):
        super().__init__(**kwargs)
        filters = tuple(int(f) for f in filters)
        if not filters or any(f <= 0 for f in filters):
            raise ValueError(f"`filters` must be a non-empty tuple of positive ints, got "
                             f"filters={filters!r}.")
        if not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError("`embedding_dim` must be a positive int, got "
                             f"embedding_dim={embedding_dim!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        if pooling not in ("both", "flatten", "mean"):
            raise ValueError(f"`pooling` must be 'both', 'flatten' or 'mean', got "
                             f"pooling={pooling!r}.")
        self.pooling = pooling
        self.self_attention_heads = int(self_attention_heads)
        if isinstance(twin_heads, bool) or not isinstance(twin_heads, int) or twin_heads < 0:
            raise ValueError(f"`twin_heads` must be an int >= 0, got twin_heads={twin_heads!r}.")
        self.twin_heads = twin_heads
        if (isinstance(self_similarity_heads, bool) or not isinstance(self_similarity_heads, int)
                or self_similarity_heads < 0):
            raise ValueError(f"`self_similarity_heads` must be an int >= 0, got "
                             f"self_similarity_heads={self_similarity_heads!r}.")
        if self_similarity_heads and not self_similarity:
            raise ValueError("`self_similarity_heads` > 0 needs `self_similarity=True`.")
        if not 0.0 < self_similarity_min_shift < 1.0:
            raise ValueError(f"`self_similarity_min_shift` must be in (0, 1), got "
                             f"self_similarity_min_shift={self_similarity_min_shift!r}.")
        self.self_similarity = bool(self_similarity)
        self.self_similarity_heads = self_similarity_heads
        self.self_similarity_min_shift = float(self_similarity_min_shift)
        self.filters = filters
        self.embedding_dim = embedding_dim
        self.add_coordinates = bool(add_coordinates)
        self.dropout_rate = float(dropout)
        self.grid_shape = None

    def build(self, images_shape):
        height, width = images_shape[1], images_shape[2]
        if height is None or width is None:
            raise ValueError(f"ConvImageEncoder needs a known image size, got input shape "
                             f"{tuple(images_shape)}.")
        channels = images_shape[-1] + (2 if self.add_coordinates else 0)
        self.convs = []
        shape = (None, height, width, channels)
        for stage, f in enumerate(self.filters):
            for stride in (1, 2):
                conv = keras.layers.Conv2D(
                    f, 3, strides=stride, padding="same", activation="relu",
                    kernel_initializer="he_normal", dtype=self.dtype_policy,
                    name=f"conv{stage + 1}_{'down' if stride == 2 else 'same'}")
                conv.build(shape)
                shape = conv.compute_output_shape(shape)
                self.convs.append(conv)
        self.grid_shape = (int(shape[1]), int(shape[2]))
        self.region_attention = None
        if self.self_attention_heads:
            self.region_attention = TransformerEncoderBlock(
                self.self_attention_heads, intermediate_dim=2 * self.filters[-1],
                dropout=self.dropout_rate, dtype=self.dtype_policy, name="region_attention")
            self.region_attention.build((None, shape[1] * shape[2], self.filters[-1]))
        self.global_dense = keras.layers.Dense(self.embedding_dim, activation="relu",
                                               dtype=self.dtype_policy, name="global_dense")
        width = 0
        self.twin_scores = None
        if self.twin_heads:
            self.twin_scores = RegionTwinScores(
                self.twin_heads, key_dim=max(8, self.filters[-1] // 4), grid_shape=self.grid_shape,
                dtype=self.dtype_policy, name="twin_scores")
            self.twin_scores.build((None, shape[1] * shape[2], self.filters[-1]))
            width += self.twin_heads
        if self.pooling in ("both", "flatten"):
            width += shape[1] * shape[2] * shape[3]
        if self.pooling in ("both", "mean"):
            width += shape[3]
        self.global_dense.build((None, width))
        self.image_similarity = self.feature_similarity = None
        if self.self_similarity:
            self.image_similarity = ImageSelfSimilarity(
                key_dim=None, min_shift=self._min_shift(height), dtype=self.dtype_policy,
                name="image_similarity")
            self.image_similarity.build(images_shape)
        if self.self_similarity_heads:
            first = self.convs[1].compute_output_shape(self.convs[0].compute_output_shape(
                (None, height, images_shape[2], channels)))  # first stage: (B, H/2, W/2, C_1)
            self.feature_similarity = ImageSelfSimilarity(
                self.self_similarity_heads, key_dim=4, min_shift=self._min_shift(first[1]),
                dtype=self.dtype_policy, name="feature_similarity")
            self.feature_similarity.build(first)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)
        self.built = True

    def _min_shift(self, side):
        return max(1, int(round(self.self_similarity_min_shift * side)))

    def _similarity_width(self):
        return (1 + self.self_similarity_heads) if self.self_similarity else 0

    def _with_coordinates(self, images):
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        v = ops.linspace(-1.0, 1.0, height)[:, None] * ops.ones((1, width))  # (H, W)
        u = ops.ones((height, 1)) * ops.linspace(-1.0, 1.0, width)[None, :]  # (H, W)
        coords = ops.stack([u, v], axis=-1)[None]  # (1, H, W, 2)
        coords = ops.broadcast_to(ops.cast(coords, images.dtype), (batch, height, width, 2))
        return ops.concatenate([images, coords], axis=-1)  # (B, H, W, 5)

    def call(self, images, training=False):
        x = ops.cast(images, self.compute_dtype)
        scores = []
        if self.image_similarity is not None:
            scores.append(self.image_similarity(images))  # (B, 1)
        if self.add_coordinates:
            x = self._with_coordinates(x)
        for index, conv in enumerate(self.convs):
            x = conv(x)  # (B, H/2^s, W/2^s, C_s)
            if index == 1 and self.feature_similarity is not None:
                scores.append(self.feature_similarity(x))  # (B, heads)
        h, w = self.grid_shape
        grid = ops.reshape(x, (-1, h * w, self.filters[-1]))  # (B, h*w, C)
        # Twin scores read the convolution grid (before the regions attend to each other).
        twins = self.twin_scores(grid)[1] if self.twin_scores is not None else None  # (B, K)
        if self.region_attention is not None:
            grid = self.region_attention(grid, training=training)  # (B, h*w, C)
            x = ops.reshape(grid, (-1, h, w, self.filters[-1]))
        parts = []
        if self.pooling in ("both", "flatten"):
            parts.append(ops.reshape(x, (-1, h * w * self.filters[-1])))  # (B, h*w*C)
        if self.pooling in ("both", "mean"):
            parts.append(ops.mean(grid, axis=1))  # (B, C)
        if twins is not None:
            parts.append(twins)  # (B, K)
        vector = self.global_dense(ops.concatenate(parts, axis=-1))  # (B, D)
        vector = self.dropout(vector, training=training)
        if scores:
            scores = [ops.cast(s, vector.dtype) for s in scores]
            vector = ops.concatenate([vector] + scores, axis=-1)  # (B, D + 1 + heads)
        return grid, vector

    def compute_output_shape(self, images_shape):
        h, w = images_shape[1], images_shape[2]
        for _ in self.filters:
            h, w = (h + 1) // 2, (w + 1) // 2
        return ((images_shape[0], h * w, self.filters[-1]),
                (images_shape[0], self.embedding_dim + self._similarity_width()))

    def get_config(self):
        config = super().get_config()
        config.update(filters=list(self.filters), embedding_dim=self.embedding_dim,
                      add_coordinates=self.add_coordinates, dropout=self.dropout_rate,
                      pooling=self.pooling, self_attention_heads=self.self_attention_heads,
                      twin_heads=self.twin_heads, self_similarity=self.self_similarity,
                      self_similarity_heads=self.self_similarity_heads,
                      self_similarity_min_shift=self.self_similarity_min_shift)
        return config
