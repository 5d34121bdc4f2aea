"""How strongly an image repeats itself under a shift: same/different by autocorrelation."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class ImageSelfSimilarity(keras.layers.Layer):
    """Peak autocorrelation of a feature map at shifts of at least `min_shift` pixels.

    Two identical objects are one pattern seen twice: shifting the image by the offset
    between them lays one copy exactly on the other. Two different objects never match that
    well. So the autocorrelation of the (mean-removed) image, normalised by its value at
    shift zero, peaks at 1/2 for two identical objects, at 1/3 for three, and lower for a
    pair of different objects, whatever their colour, size and shape. Unlike a dense layer
    over the flattened image, the score means the same thing for combinations never seen in
    training. For `K` heads over a map `F (H, W, C)`:

        G^k    = F W_k − mean_{x,y}(F W_k)                  (H, W, D)  (W_k: C → D, learned)
        R^k(d) = Σ_{x,y} G^k(p) · G^k(p + d)                  autocorrelation at shift d
        s^k    = max_{|d|∞ ≥ m} R^k(d) / R^k(0)               (the head's score, ≤ 1)

    With `key_dim=None` there are no weights and one head reads the channels as they are
    (`G = F − mean F`), e.g. an RGB image. `R` is computed with FFTs on a zero-padded
    `(2H, 2W)` grid (the Wiener–Khinchin theorem: `R = IFFT(|FFT(G)|²)`), so every shift is
    one elementwise product, not one pass over the image per shift.

    Args:
        num_heads: int >= 1, the number of learned projections `K` (ignored, 1, when
            `key_dim` is None).
        key_dim: int >= 1 or None, the size `D` of each projection; None: no projection.
        min_shift: int >= 1, the smallest shift `m` (pixels, Chebyshev distance) compared, so
            that an object's overlap with itself at small shifts does not count.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        features: float `(B, H, W, C)` (H and W known when the layer is built).

    Returns:
        `(B, K)` scores in `[-1, 1]` (in `[0, 1/2]`-ish for the scenes above).

    Example:

    >>> import numpy as np
    >>> image = np.zeros((1, 32, 32, 3), "float32")
    >>> image[0, 4:10, 4:10] = image[0, 20:26, 14:20] = 1.0  # the same square twice
    >>> layer = ImageSelfSimilarity(key_dim=None, min_shift=8)
    >>> round(float(layer(image)[0, 0]), 1)  # 1/2: each square lies on the other once
    0.5
    """

    def __init__(self, num_heads=4, key_dim=4, min_shift=8, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("min_shift", min_shift)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {name}={value!r}.")
        if key_dim is not None and (not isinstance(key_dim, int) or isinstance(key_dim, bool)
                                    or key_dim < 1):
            raise ValueError(f"`key_dim` must be an int >= 1 or None, got key_dim={key_dim!r}.")
        self.num_heads = 1 if key_dim is None else num_heads
        self.key_dim = key_dim
        self.min_shift = min_shift

    def build(self, features_shape):
        height, width = features_shape[1], features_shape[2]
        if height is None or width is None:
            raise ValueError(f"ImageSelfSimilarity needs a known map size, got input shape "
                             f"{tuple(features_shape)}.")
        if self.min_shift >= max(height, width):
            raise ValueError(f"`min_shift`={self.min_shift} leaves no shift to compare in a "
                             f"{height}x{width} map; use a smaller min_shift.")
        self.projection = None
        if self.key_dim is not None:
            self.projection = keras.layers.EinsumDense(
                "bhwc,ckd->bkdhw", output_shape=(self.num_heads, self.key_dim, height, width),
                dtype=self.dtype_policy, name="projection")
            self.projection.build(features_shape)
        self.map_shape = (int(height), int(width))
        self.built = True

    def _far_shifts(self):
        """`(2H, 2W)` float constant: 1 where the (circular) shift is at least `min_shift`."""
        height, width = self.map_shape
        dy = np.arange(2 * height)
        dx = np.arange(2 * width)
        dy = np.minimum(dy, 2 * height - dy)
        dx = np.minimum(dx, 2 * width - dx)
        return (np.maximum(dy[:, None], dx[None, :]) >= self.min_shift).astype("float32")

    def call(self, features):
        height, width = self.map_shape
        # FFTs in float32 (also under mixed precision).
        if self.projection is not None:
            g = ops.cast(self.projection(features), "float32")  # (B, K, D, H, W)
        else:
            g = ops.transpose(ops.cast(features, "float32"), (0, 3, 1, 2))
            g = g[:, None]  # (B, 1, C, H, W)
        g = g - ops.mean(g, axis=(3, 4), keepdims=True)
        g = ops.pad(g, [(0, 0), (0, 0), (0, 0), (0, height), (0, width)])  # (B, K, D, 2H, 2W)
        real, imag = ops.fft2((g, ops.zeros_like(g)))
        power = ops.sum(real * real + imag * imag, axis=2)  # (B, K, 2H, 2W): Σ_d |FFT(G_d)|²
        correlation, _ = ops.ifft2((power, ops.zeros_like(power)))  # (B, K, 2H, 2W) = R(d)
        at_zero = correlation[:, :, :1, :1]  # (B, K, 1, 1) = R(0) = Σ |G|²
        ratio = correlation / (at_zero + 1e-6)
        far = ops.convert_to_tensor(self._far_shifts())[None, None]  # (1, 1, 2H, 2W)
        ratio = ratio * far - 2.0 * (1.0 - far)  # near shifts below every score
        score = ops.max(ops.reshape(ratio, (-1, self.num_heads, 4 * height * width)), axis=-1)
        return ops.cast(score, self.compute_dtype)  # (B, K)

    def compute_output_shape(self, features_shape):
        return (features_shape[0], self.num_heads)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim, min_shift=self.min_shift)
        return config
