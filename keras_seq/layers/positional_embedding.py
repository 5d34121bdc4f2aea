"""Token embedding plus positional encoding, with a padding mask."""

import math

import keras
from keras import ops

from keras_seq.layers.argument_checks import check_rank, check_token_ids, static_shape
from keras_seq.layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding


@keras.saving.register_keras_serializable(package="keras_seq")
class PositionalEmbedding(keras.layers.Layer):
    """Token embedding + positional encoding: x_i = E[token_i] (* sqrt(d)) + p_i.

    `position="sinusoidal"` uses the fixed encoding p_{i,2j} = sin(i/10000^{2j/d}),
    p_{i,2j+1} = cos(i/10000^{2j/d}); `position="learned"` a trained table P (L x d),
    p_i = P[i]. Token id 0 is padding: with `mask_zero=True` the layer emits the Keras
    mask `token_ids != 0`, which attention and RNN layers downstream consume.

    Args:
        vocabulary_size: int, number of token ids (including 0 = padding).
        sequence_length: int, the longest position supported (the learned table's size;
            with sinusoidal encoding only used to validate `start_index` eagerly).
        embedding_dim: int, d.
        position: "sinusoidal" or "learned".
        mask_zero: whether id 0 is padding (emits a mask).
        scale_embeddings: multiply token embeddings by sqrt(d) as in the transformer paper.
        max_wavelength: base of the sinusoidal encoding.
        embeddings_initializer: initializer of the token (and learned position) tables.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        token_ids: int tensor `(batch, T)`.
        start_index: int or scalar tensor, absolute position of the first token (the
            cache index during incremental decoding). Default 0.

    Returns:
        `(batch, T, embedding_dim)` embeddings, with a Keras mask when `mask_zero=True`.

    Raises:
        ValueError: `token_ids` not of rank 2; positions beyond `sequence_length` or a
            negative `start_index` (when it is a Python int); and, in eager calls only, ids
            outside `[0, vocabulary_size)`. Ids are not checked inside `tf.function`, XLA or
            `jax.jit` (a data-dependent check would cost every compiled step), where an
            out-of-range id gives an error on CPU and a zero or clamped row elsewhere.

    Example:

    >>> import numpy as np
    >>> emb = PositionalEmbedding(vocabulary_size=10, sequence_length=8, embedding_dim=4)
    >>> tuple(emb(np.array([[3, 4, 0]])).shape)
    (1, 3, 4)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        position="sinusoidal",
        mask_zero=True,
        scale_embeddings=False,
        max_wavelength=10000.0,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, v in (
            ("vocabulary_size", vocabulary_size),
            ("sequence_length", sequence_length),
            ("embedding_dim", embedding_dim),
        ):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {name}={v!r}.")
        if position not in ("sinusoidal", "learned"):
            raise ValueError(
                "`position` must be 'sinusoidal' or 'learned', got "
                f"position={position!r}."
            )
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.position = position
        self.mask_zero = mask_zero
        self.scale_embeddings = scale_embeddings
        self.max_wavelength = float(max_wavelength)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = mask_zero

    def build(self, input_shape):
        check_rank(self, "token_ids", tuple(input_shape), 2, "(batch, T)")
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build(input_shape)
        if self.position == "learned":
            self.position_embedding = self.add_weight(
                name="position_embedding",
                shape=(self.sequence_length, self.embedding_dim),
                initializer=self.embeddings_initializer,
            )
        else:
            self.position_encoding = SinusoidalPositionalEncoding(
                self.max_wavelength, dtype=self.dtype_policy, name="position_encoding"
            )
        self.built = True

    def call(self, token_ids, start_index=0):
        check_rank(self, "token_ids", static_shape(token_ids), 2, "(batch, T)")
        check_token_ids(self, "token_ids", token_ids, self.vocabulary_size)  # eager calls only
        x = self.token_embedding(token_ids)  # (B, T, d)
        if self.scale_embeddings:
            x = x * ops.cast(math.sqrt(self.embedding_dim), x.dtype)
        if isinstance(start_index, int) and start_index < 0:
            raise ValueError(f"`start_index` must be >= 0, got start_index={start_index}.")
        length = ops.shape(token_ids)[1]
        if (
            isinstance(start_index, int)
            and isinstance(length, int)
            and start_index + length > self.sequence_length
        ):
            raise ValueError(
                f"Positions {start_index}..{start_index + length - 1} exceed "
                f"sequence_length={self.sequence_length} of this PositionalEmbedding."
            )
        if self.position == "learned":
            positions = ops.slice(
                ops.convert_to_tensor(self.position_embedding),  # a Variable fails on JAX
                [ops.cast(start_index, "int32"), 0],
                [length, self.embedding_dim],
            )  # (T, d)
            x = x + ops.cast(positions, x.dtype)
        else:
            x = x + self.position_encoding(x, start_index=start_index)
        return x

    def compute_mask(self, token_ids, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            sequence_length=self.sequence_length,
            embedding_dim=self.embedding_dim,
            position=self.position,
            mask_zero=self.mask_zero,
            scale_embeddings=self.scale_embeddings,
            max_wavelength=self.max_wavelength,
            embeddings_initializer=keras.initializers.serialize(
                self.embeddings_initializer
            ),
        )
        return config
