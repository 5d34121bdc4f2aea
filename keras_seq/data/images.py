"""Image decoding and tf.data image pipelines for the captioner (TensorFlow only).

Every function here is made of TensorFlow ops only, so it runs eagerly, inside `tf.data.map`
and inside the `tf.function` of an exported SavedModel (no Python, PIL or NumPy at run time).

What `decode_image` accepts, as measured with TensorFlow 2.21:

- JPEG: RGB, grayscale, and CMYK (Adobe) JPEGs. TensorFlow converts CMYK to RGB itself with
  the multiplicative formula `R = (1 - C) * (1 - K)`, so colours are close to, but not the
  same as, what Pillow's subtractive conversion gives.
- PNG: RGB, grayscale, palette, gray+alpha, RGBA, 8 and 16 bits per channel (16-bit samples
  are kept at full precision, then scaled to [0, 1]). Alpha is composited over white.
- GIF: the first frame only. BMP: 24- and 32-bit (a 32-bit BMP's 4th channel is treated as
  alpha, like PNG's).
- Anything else (WebP, TIFF, text, random or empty bytes) fails a magic-byte check with an
  `InvalidArgumentError` that says "image_bytes is not a JPEG, PNG, GIF or BMP image".
- A truncated or corrupt file whose header is right fails inside TensorFlow's decoder, also
  with `InvalidArgumentError` (for JPEG: "jpeg::Uncompress failed. Invalid JPEG data ...";
  for PNG: "Invalid PNG data"); it never gives a silently half-grey image.
"""

import tensorflow as tf

NOT_AN_IMAGE = "image_bytes is not a JPEG, PNG, GIF or BMP image"

# Leading bytes of the supported formats.
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_GIFS = (b"GIF87a", b"GIF89a")
_BMP = b"BM"


def _check_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}.")


def _assert_known_format(image_bytes, source=None):
    """An assertion op that fails unless `image_bytes` starts like a JPEG, PNG, GIF or BMP."""
    head = tf.strings.substr(image_bytes, 0, 8)
    ok = tf.reduce_any(tf.stack([
        tf.equal(tf.strings.substr(head, 0, 3), _JPEG),
        tf.equal(head, _PNG),
        tf.equal(tf.strings.substr(head, 0, 6), _GIFS[0]),
        tf.equal(tf.strings.substr(head, 0, 6), _GIFS[1]),
        tf.equal(tf.strings.substr(head, 0, 2), _BMP),
    ]))
    if tf.executing_eagerly():  # a plain message rather than the summarized assertion data
        if not bool(ok):
            where = f" ({source.numpy().decode(errors='replace')})" if source is not None else ""
            raise tf.errors.InvalidArgumentError(
                None, None, f"{NOT_AN_IMAGE}{where}: {int(tf.strings.length(image_bytes))} "
                f"bytes, starting {head.numpy()!r}.")
        return tf.no_op()
    data = [NOT_AN_IMAGE + "; its length in bytes and first bytes are:",
            tf.strings.length(image_bytes), head]
    if source is not None:
        data = [NOT_AN_IMAGE + " (file:", source, ") its length and first bytes are:"] + data[1:]
    return tf.debugging.Assert(ok, data, summarize=8, name="check_image_format")


def _to_rgb_over_white(image):
    """(h, w, 1|2|3|4) float in [0, 1] → (h, w, 3): gray is repeated, alpha is put on white."""
    channels = tf.shape(image)[-1]
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    color_index = tf.where(channels >= 3, tf.constant([0, 1, 2]), tf.constant([0, 0, 0]))
    rgb = tf.gather(image, color_index, axis=-1)
    alpha = tf.gather(image, [channels - 1], axis=-1)
    alpha = tf.where(has_alpha, alpha, tf.ones_like(alpha))
    rgb = rgb * alpha + (1.0 - alpha)
    rgb.set_shape([None, None, 3])
    return rgb


def decode_image(image_bytes, image_size, preserve_aspect_ratio=False, source=None):
    """Decodes one encoded image into a float32 `(image_size, image_size, 3)` tensor in [0, 1].

    Graph-safe: usable eagerly, in `tf.data.Dataset.map` and in a SavedModel's `tf.function`.
    The format is recognised from the leading bytes (JPEG, PNG, GIF, BMP; see the module
    docstring for the variants and the CMYK caveat). Grayscale is repeated to RGB, alpha is
    composited over white, a GIF gives its first frame, 16-bit PNGs keep their precision.
    The result is resized with `tf.image.resize` (bilinear, antialiased).

    Args:
        image_bytes: scalar `tf.string`, the bytes of an image file.
        image_size: int, the side of the square output.
        preserve_aspect_ratio: False (default) stretches the image to the square, so the
            aspect ratio is NOT preserved (a 500x375 photo is squeezed horizontally). True
            scales the long side to `image_size` and pads the short side with black
            (`tf.image.resize_with_pad`).
        source: optional scalar `tf.string` (e.g. the file path) shown in the error message.

    Returns:
        float32 tensor of shape `(image_size, image_size, 3)`, values in [0, 1].

    Raises:
        tf.errors.InvalidArgumentError: when `image_bytes` is empty or not a JPEG, PNG, GIF
            or BMP (message: "image_bytes is not a JPEG, PNG, GIF or BMP image"), or when the
            decoder fails on a truncated/corrupt file (TensorFlow's own message).
        ValueError: when `image_size` is not a positive int.

    Example:
        >>> transparent = tf.io.encode_png(tf.zeros([5, 9, 4], tf.uint8))  # RGBA, alpha 0
        >>> image = decode_image(transparent, 4)
        >>> image.shape, image.dtype.name, round(float(tf.reduce_min(image)), 3)  # white
        (TensorShape([4, 4, 3]), 'float32', 1.0)
        >>> decode_image(tf.constant(b"hello"), 4)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tensorflow.python.framework.errors_impl.InvalidArgumentError: ...not a JPEG, PNG, ...
    """
    _check_size(image_size)
    image_bytes = tf.convert_to_tensor(image_bytes, tf.string)
    image_bytes.shape.assert_has_rank(0)
    if source is not None:
        source = tf.convert_to_tensor(source, tf.string)
    with tf.control_dependencies([_assert_known_format(image_bytes, source)]):
        image = tf.io.decode_image(
            tf.identity(image_bytes), channels=0, dtype=tf.float32, expand_animations=False)
    image = _to_rgb_over_white(image)
    if preserve_aspect_ratio:
        image = tf.image.resize_with_pad(image, image_size, image_size, antialias=True)
    else:
        image = tf.image.resize(image, [image_size, image_size], method="bilinear",
                                antialias=True)
    image = tf.clip_by_value(image, 0.0, 1.0)
    image.set_shape([image_size, image_size, 3])
    return image


def decode_images(image_bytes_batch, image_size, preserve_aspect_ratio=False):
    """Decodes a batch of encoded images (see `decode_image`); an empty batch is fine.

    Args:
        image_bytes_batch: `tf.string` tensor of shape `(batch,)`.
        image_size: int, the side of the square outputs.
        preserve_aspect_ratio: as in `decode_image`.

    Returns:
        float32 tensor of shape `(batch, image_size, image_size, 3)`, values in [0, 1].

    Raises:
        tf.errors.InvalidArgumentError: when one of the images cannot be decoded.

    Example:
        >>> png = tf.io.encode_png(tf.zeros([3, 7, 1], tf.uint8))
        >>> decode_images(tf.stack([png, png]), 8).shape
        TensorShape([2, 8, 8, 3])
        >>> decode_images(tf.constant([], tf.string), 8).shape
        TensorShape([0, 8, 8, 3])
    """
    _check_size(image_size)
    image_bytes_batch = tf.convert_to_tensor(image_bytes_batch, tf.string)
    image_bytes_batch.shape.assert_has_rank(1)
    return tf.map_fn(
        lambda b: decode_image(b, image_size, preserve_aspect_ratio),
        image_bytes_batch,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))


def augment_image(image, seed, max_brightness=0.1, contrast=(0.9, 1.1), min_crop=0.85):
    """Light, seeded augmentation: a small random crop resized back, brightness, contrast.

    There is deliberately no horizontal flip: captions say "left" and "right", and a flipped
    image would contradict them.

    Args:
        image: float32 `(size, size, 3)` in [0, 1] (a `decode_image` output).
        seed: int tensor of shape `(2,)` for the stateless random ops (same seed, same result).
        max_brightness: brightness is shifted by a uniform delta in [-max_brightness,
            max_brightness].
        contrast: (lower, upper) contrast factor range.
        min_crop: each side of the crop is a uniform fraction in [min_crop, 1] of the image.

    Returns:
        float32 tensor with the shape of `image`, values in [0, 1].

    Example:
        >>> image = tf.fill([6, 6, 3], 0.5)
        >>> out = augment_image(image, tf.constant([1, 2]))
        >>> out.shape, bool(tf.reduce_all((out >= 0) & (out <= 1)))
        (TensorShape([6, 6, 3]), True)
        >>> bool(tf.reduce_all(out == augment_image(image, tf.constant([1, 2]))))
        True
    """
    image = tf.convert_to_tensor(image, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    size = tf.shape(image)[:2]
    scale = tf.random.stateless_uniform([2], seeds[0], minval=min_crop, maxval=1.0)
    offset = tf.random.stateless_uniform([2], seeds[1]) * (1.0 - scale)
    box = tf.concat([offset, offset + scale], 0)  # y0, x0, y1, x1 (normalised)
    cropped = tf.image.crop_and_resize(image[None], box[None], [0], size)[0]
    cropped = tf.image.stateless_random_brightness(cropped, max_brightness, seeds[2])
    cropped = tf.image.stateless_random_contrast(cropped, contrast[0], contrast[1], seeds[3])
    cropped = tf.clip_by_value(cropped, 0.0, 1.0)
    cropped.set_shape(image.shape)
    return cropped


def image_file_dataset(paths, image_size, augment=False, seed=None, preserve_aspect_ratio=False):
    """A `tf.data.Dataset` of decoded images read from files, in the order of `paths`.

    Files are read with `tf.io.read_file` and decoded with `decode_image` in a parallel map
    (`AUTOTUNE`, deterministic order). With `augment=True` each image also goes through
    `augment_image` (small crop, brightness, contrast; no horizontal flip, since captions
    mention left and right); the random draws come from `tf.data.Dataset.random(seed)`, so
    a given seed gives the same sequence of augmentations, different in each epoch.

    Args:
        paths: list of file paths (str or `pathlib.Path`) or a 1-D `tf.string` tensor.
        image_size: int, the side of the square images.
        augment: whether to apply `augment_image`.
        seed: int or None, for the augmentation.
        preserve_aspect_ratio: as in `decode_image`.

    Returns:
        A `tf.data.Dataset` of float32 `(image_size, image_size, 3)` tensors in [0, 1].

    Raises:
        ValueError: when `image_size` is not a positive int (an unreadable file raises while
            iterating: `NotFoundError` or `InvalidArgumentError` naming the file).

    Example:
        >>> ds = image_file_dataset(["a.jpg", "b.png"], 64)  # doctest: +SKIP
        >>> next(iter(ds)).shape  # doctest: +SKIP
        TensorShape([64, 64, 3])
    """
    _check_size(image_size)
    if not isinstance(paths, tf.Tensor):
        paths = tf.constant([str(p) for p in paths], dtype=tf.string, shape=[len(paths)])

    def load(path):
        return decode_image(tf.io.read_file(path), image_size, preserve_aspect_ratio, path)

    dataset = tf.data.Dataset.from_tensor_slices(paths)
    if not augment:
        return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda path, pair: augment_image(load(path), pair),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
