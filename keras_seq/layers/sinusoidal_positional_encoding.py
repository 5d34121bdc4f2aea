"""Fixed sinusoidal positional encoding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """The transformer's sinusoidal positional encoding (Vaswani et al., 2017).

    For position i and feature pair j (d = feature size):

        p_{i, 2j}   = sin(i / max_wavelength^{2j/d})
        p_{i, 2j+1} = cos(i / max_wavelength^{2j/d})

    Computed on the fly (no table, so any length works). Returns only the encoding,
    broadcast to the input's shape; add it to the embeddings yourself, or use
    `PositionalEmbedding`.

    Args:
        max_wavelength: float, the base (10000 in the paper).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, T, d)` embeddings (only the shape is used).
        start_index: int or scalar tensor, the position of the first step (for cached
            decoding: the cache update index). Default 0.

    Returns:
        The encoding `(batch, T, d)` in the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> pe = SinusoidalPositionalEncoding()
    >>> p = pe(np.zeros((1, 3, 4), "float32"))
    >>> [round(float(v), 3) for v in np.asarray(p)[0, 1]]
    [0.841, 0.54, 0.01, 1.0]
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if float(max_wavelength) <= 1.0:
            raise ValueError(
                f"`max_wavelength` must be > 1, got max_wavelength={max_wavelength!r}."
            )
        self.max_wavelength = float(max_wavelength)
        self.supports_masking = True
        # Stateless: built now, unless a subclass brings its own `build` (Keras's rule).
        self.built = type(self).build is keras.layers.Layer.build

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length, dim = shape[-2], shape[-1]
        positions = ops.cast(
            ops.arange(length) + ops.cast(start_index, "int32"), "float32"
        )  # (T,)
        features = ops.arange(dim)  # (d,)
        pair = ops.cast(features // 2 * 2, "float32")  # 2j for both 2j and 2j+1
        inv_freq = ops.power(
            self.max_wavelength, -pair / ops.cast(dim, "float32")
        )  # (d,)
        angles = ops.expand_dims(positions, -1) * inv_freq  # (T, d)
        is_even = ops.equal(features % 2, 0)
        encoding = ops.where(is_even, ops.sin(angles), ops.cos(angles))  # (T, d)
        return ops.broadcast_to(ops.cast(encoding, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["max_wavelength"] = self.max_wavelength
        return config
