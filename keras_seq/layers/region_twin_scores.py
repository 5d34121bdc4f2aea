"""How closely each region of an image is repeated elsewhere: a same/different feature."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class RegionTwinScores(keras.layers.Layer):
    """Twin scores of a grid of region features, per region and for the whole image.

    "Two red circles" versus "a red circle left of a blue circle" is a same/different
    judgement between two objects. A dense layer over the flattened grid learns it only for
    the combinations of colour, size and shape it was trained on; this layer computes it as a
    similarity, which means the same thing for every combination. For `K` heads, regions `i`
    and `j` of an `h×w` grid with features `f`:

        a_i^k  = W_k f_i / ||W_k f_i||                          (appearance, unit length)
        s_ij^k = a_i^k · a_j^k        for regions at least `min_distance` cells apart
        t_i^k  = Σ_j softmax_j(β s_ij^k) s_ij^k                 (smooth maximum over j)
        o_i    = sigmoid(w_o · f_i + b_o)                       (objectness)
        T^k    = Σ_i o_i t_i^k / (Σ_i o_i + ε)                  (the image's twin score)

    `t_i^k` is high when the thing at region `i` appears again somewhere else (at least
    `min_distance` cells away, so a region's own object does not count); `T^k` averages it
    over the regions that hold objects. `W_k`, `w_o` and the sharpness `β` are learned.

    Args:
        num_heads: int, number of appearance projections `K`.
        key_dim: int, size of each projection `a^k`.
        grid_shape: `(h, w)` of the region grid (the grid comes flattened, row-major).
        min_distance: int >= 1, regions closer than this many cells (Chebyshev distance)
            are not compared (default 2: a region and its 8 neighbours are skipped).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        grid: float `(B, h*w, C)` region features.

    Returns:
        A tuple `(per_region (B, h*w, K), per_image (B, K))`: `o_i t_i^k` and `T^k`.

    Example:

    >>> import numpy as np
    >>> layer = RegionTwinScores(num_heads=2, key_dim=8, grid_shape=(4, 4))
    >>> per_region, per_image = layer(np.random.rand(3, 16, 5).astype("float32"))
    >>> tuple(per_region.shape), tuple(per_image.shape)
    ((3, 16, 2), (3, 2))
    """

    def __init__(self, num_heads=4, key_dim=16, grid_shape=(8, 8), min_distance=2, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim),
                            ("min_distance", min_distance)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {name}={value!r}.")
        grid_shape = tuple(int(v) for v in grid_shape)
        if len(grid_shape) != 2 or min(grid_shape) < 1:
            raise ValueError(f"`grid_shape` must be (h, w) with h, w >= 1, got "
                             f"grid_shape={grid_shape!r}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.grid_shape = grid_shape
        self.min_distance = min_distance

    def build(self, grid_shape):
        h, w = self.grid_shape
        if grid_shape[1] is not None and grid_shape[1] != h * w:
            raise ValueError(f"RegionTwinScores expects {h}*{w}={h * w} regions (grid_shape="
                             f"{self.grid_shape}), got input shape {tuple(grid_shape)}.")
        self.appearance = keras.layers.EinsumDense(
            "bnc,ckd->bnkd", output_shape=(None, self.num_heads, self.key_dim),
            dtype=self.dtype_policy, name="appearance")
        self.appearance.build(grid_shape)
        self.objectness = keras.layers.Dense(1, activation="sigmoid", dtype=self.dtype_policy,
                                             name="objectness")
        self.objectness.build(grid_shape)
        self.log_sharpness = self.add_weight(
            name="log_sharpness", shape=(), initializer=keras.initializers.Constant(2.3))
        self.built = True

    def _far_apart(self):
        """`(N, N)` bool constant: regions at least `min_distance` cells apart (Chebyshev)."""
        rows, cols = np.divmod(np.arange(self.grid_shape[0] * self.grid_shape[1]),
                               self.grid_shape[1])  # (N,), (N,)
        distance = np.maximum(np.abs(rows[:, None] - rows[None, :]),
                              np.abs(cols[:, None] - cols[None, :]))  # (N, N)
        return distance >= self.min_distance

    def call(self, grid):
        # Similarities in float32 (bfloat16's 8 bits of mantissa blur near-twins).
        a = ops.cast(self.appearance(grid), "float32")  # (B, N, K, D)
        a = a / ops.sqrt(ops.sum(a * a, axis=-1, keepdims=True) + 1e-6)
        a = ops.transpose(a, (0, 2, 1, 3))  # (B, K, N, D)
        similarity = ops.einsum("bknd,bkmd->bknm", a, a)  # (B, K, N, N), in [-1, 1]
        far = self._far_apart()[None, None]  # (1, 1, N, N)
        sharpness = ops.exp(ops.cast(self.log_sharpness, "float32"))
        logits = ops.where(far, sharpness * similarity, -1e9)
        weights = ops.softmax(logits, axis=-1)  # (B, K, N, N)
        twin = ops.sum(weights * ops.where(far, similarity, 0.0), axis=-1)  # (B, K, N)
        twin = ops.transpose(twin, (0, 2, 1))  # (B, N, K)
        objectness = ops.cast(self.objectness(grid), "float32")  # (B, N, 1)
        per_region = objectness * twin  # (B, N, K)
        per_image = ops.sum(per_region, axis=1) / (ops.sum(objectness, axis=1) + 1e-6)  # (B, K)
        return (ops.cast(per_region, self.compute_dtype),
                ops.cast(per_image, self.compute_dtype))

    def compute_output_shape(self, grid_shape):
        return ((grid_shape[0], grid_shape[1], self.num_heads), (grid_shape[0], self.num_heads))

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim,
                      grid_shape=list(self.grid_shape), min_distance=self.min_distance)
        return config
