"""An image encoder around a `keras.applications` backbone (random or user-given weights)."""

import keras
from keras import ops

# name -> (constructor, how our [0, 1] RGB images become the backbone's expected input)
BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", "minus_one_to_one"),
    "resnet50": ("ResNet50", "caffe"),
    "efficientnet_b0": ("EfficientNetB0", "zero_to_255"),
}
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="keras_seq")
class BackboneImageEncoder(keras.layers.Layer):
    """`(grid, global)` from a `keras.applications` CNN without its classifier head.

        F      = backbone(preprocess(x))          (h, w, C)
        grid   = reshape(F, (h·w, C))
        global = ReLU(W_g mean_{i,j} F_ij + b_g)   (embedding_dim,)

    Nothing is downloaded: the backbone starts from random weights (`weights=None`) or from
    a weights file the user gives (`backbone_weights`, e.g. one saved earlier with
    `keras.applications.MobileNetV2(include_top=False, ...).save_weights(...)`). With
    `trainable_backbone=False` the backbone is frozen (and runs in inference mode, so batch
    norm statistics stay fixed); only the global projection and the decoder learn.

    Args:
        backbone: one of `BACKBONES` ("mobilenet_v2", "resnet50", "efficientnet_b0").
        embedding_dim: int, size of the global embedding.
        backbone_weights: None (random init) or a path to a weights file for the headless
            backbone.
        trainable_backbone: bool, fine-tune the backbone (True) or freeze it (False).
        dropout: float, dropout on the global embedding.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        images: float `(B, H, W, 3)` RGB in [0, 1], H and W >= 32 and known at build time.
        training: bool.

    Returns:
        A tuple `(grid (B, h*w, C), global (B, embedding_dim))`.

    Example:

    >>> import numpy as np
    >>> encoder = BackboneImageEncoder("mobilenet_v2", embedding_dim=16)
    >>> grid, vector = encoder(np.zeros((1, 64, 64, 3), "float32"))
    >>> tuple(grid.shape), tuple(vector.shape)
    ((1, 4, 1280), (1, 16))
    """

    def __init__(self, backbone="mobilenet_v2", embedding_dim=256, backbone_weights=None,
                 trainable_backbone=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if backbone not in BACKBONES:
            raise ValueError(f"`backbone` must be one of {sorted(BACKBONES)}, got "
                             f"backbone={backbone!r}.")
        if not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError("`embedding_dim` must be a positive int, got "
                             f"embedding_dim={embedding_dim!r}.")
        self.backbone_name = backbone
        self.embedding_dim = embedding_dim
        self.backbone_weights = backbone_weights
        self.trainable_backbone = bool(trainable_backbone)
        self.dropout_rate = float(dropout)
        self.grid_shape = None

    def build(self, images_shape):
        height, width = images_shape[1], images_shape[2]
        if height is None or width is None or min(height, width) < 32:
            raise ValueError(f"BackboneImageEncoder needs known image sides >= 32, got input "
                             f"shape {tuple(images_shape)}.")
        constructor = getattr(keras.applications, BACKBONES[self.backbone_name][0])
        self.backbone = constructor(include_top=False, weights=None,
                                    input_shape=(height, width, 3))
        if self.backbone_weights:
            self.backbone.load_weights(self.backbone_weights)
        self.backbone.trainable = self.trainable_backbone
        shape = self.backbone.output_shape  # (None, h, w, C)
        self.grid_shape = (int(shape[1]), int(shape[2]))
        self.channels = int(shape[3])
        self.global_dense = keras.layers.Dense(self.embedding_dim, activation="relu",
                                               dtype=self.dtype_policy, name="global_dense")
        self.global_dense.build((None, self.channels))
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)
        self.built = True

    def _preprocess(self, images):
        mode = BACKBONES[self.backbone_name][1]
        if mode == "minus_one_to_one":
            return images * 2.0 - 1.0
        if mode == "zero_to_255":
            return images * 255.0
        bgr = ops.flip(images, axis=-1) * 255.0  # caffe style: BGR, mean subtracted
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, bgr.dtype)

    def call(self, images, training=False):
        x = self._preprocess(ops.cast(images, "float32"))
        features = self.backbone(x, training=training and self.trainable_backbone)  # (B,h,w,C)
        features = ops.cast(features, self.compute_dtype)
        h, w = self.grid_shape
        grid = ops.reshape(features, (-1, h * w, self.channels))  # (B, h*w, C)
        vector = self.global_dense(ops.mean(features, axis=(1, 2)))  # (B, D)
        return grid, self.dropout(vector, training=training)

    def compute_output_shape(self, images_shape):
        if self.grid_shape is None:
            self.build(images_shape)
        h, w = self.grid_shape
        return ((images_shape[0], h * w, self.channels), (images_shape[0], self.embedding_dim))

    def get_config(self):
        config = super().get_config()
        config.update(backbone=self.backbone_name, embedding_dim=self.embedding_dim,
                      backbone_weights=self.backbone_weights,
                      trainable_backbone=self.trainable_backbone, dropout=self.dropout_rate)
        return config
