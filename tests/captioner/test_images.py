"""keras_seq.data.images: decoding every supported format, clear errors, batches, datasets."""

import io
import os
import pathlib

import numpy as np
import pytest

from tests.shared_data import missing_data
import tensorflow as tf
from PIL import Image

from keras_seq.data.images import (
    NOT_AN_IMAGE, augment_image, decode_image, decode_images, image_file_dataset)

S = 16
RED = (200, 30, 40)


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _decode(data, size=S, **kwargs):
    image = decode_image(tf.constant(data), size, **kwargs)
    assert image.shape == (size, size, 3) and image.dtype == tf.float32
    array = image.numpy()
    assert array.min() >= 0.0 and array.max() <= 1.0
    return array


def _mean_rgb(data, **kwargs):
    return _decode(data, **kwargs).reshape(-1, 3).mean(0) * 255


def _red_16bit_png():
    array = np.zeros((6, 10, 3), np.uint16)
    array[..., 0] = 40000  # only a 16-bit decode gives 40000 / 65535 exactly
    return tf.io.encode_png(tf.constant(array)).numpy()


RED_IMAGE = Image.new("RGB", (20, 12), RED)
FORMATS = {
    "rgb_jpeg": (_encode(RED_IMAGE, "JPEG", quality=95), RED),
    "gray_jpeg": (_encode(RED_IMAGE.convert("L"), "JPEG"), (82, 82, 82)),
    # Pillow stores CMYK JPEGs Adobe-inverted; TF converts with R = (1-C)(1-K): (205, 44, 44).
    "cmyk_jpeg": (_encode(Image.new("CMYK", (20, 12), (0, 200, 200, 50)), "JPEG"), (205, 44, 44)),
    "rgb_png": (_encode(RED_IMAGE, "PNG"), RED),
    "gray_png": (_encode(RED_IMAGE.convert("L"), "PNG"), (82, 82, 82)),
    "palette_png": (_encode(RED_IMAGE.convert("P"), "PNG"), RED),
    "gray_alpha_png": (_encode(RED_IMAGE.convert("LA"), "PNG"), (82, 82, 82)),
    "rgba_opaque_png": (_encode(RED_IMAGE.convert("RGBA"), "PNG"), RED),
    "png_16bit": (_red_16bit_png(), (40000 / 257, 0, 0)),
    "gif": (_encode(RED_IMAGE.convert("P"), "GIF"), RED),
    "bmp": (_encode(RED_IMAGE, "BMP"), RED),
    "gray_bmp": (_encode(RED_IMAGE.convert("L"), "BMP"), (82, 82, 82)),
}


# Lossy encodings (JPEG quantisation, Pillow's palette) move the colour: measured up to 1.5
# of 255 here, 8 allows another libjpeg. Lossless ones only see the float32 resize: measured
# at most 5.4e-4 of 255 (1e-2 leaves room for another resize kernel, not for a wrong colour).
LOSSY = {"rgb_jpeg", "gray_jpeg", "cmyk_jpeg", "gif", "palette_png"}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_decodes_to_the_right_colour(name):
    data, rgb = FORMATS[name]
    np.testing.assert_allclose(_mean_rgb(data), rgb, atol=8 if name in LOSSY else 1e-2)


def test_cmyk_jpeg_is_roughly_the_colour_pillow_sees():
    data, _ = FORMATS["cmyk_jpeg"]
    pillow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), float).reshape(-1, 3)
    ours = _mean_rgb(data)
    assert ours[0] > 150 and ours[1] < 80 and ours[2] < 80  # red, like Pillow's
    np.testing.assert_allclose(ours, pillow.mean(0), atol=45)


def test_16bit_png_keeps_its_precision():
    value = _decode(_red_16bit_png())[0, 0, 0]
    assert abs(value - 40000 / 65535) < 1e-5  # an 8-bit detour would give 156 / 255


def test_rgba_transparent_area_comes_out_white():
    array = np.zeros((10, 20, 4), np.uint8)
    array[:, :10] = (0, 0, 255, 255)  # left half opaque blue, right half transparent black
    array[:, 10:] = (0, 0, 0, 0)
    image = _decode(_encode(Image.fromarray(array, "RGBA"), "PNG"), size=20)
    np.testing.assert_allclose(image[:, :8], np.broadcast_to([0, 0, 1], (20, 8, 3)), atol=1e-6)
    np.testing.assert_allclose(image[:, 12:], 1.0, atol=1e-6)


def test_half_transparent_is_blended_with_white():
    image = _decode(_encode(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), "PNG"), size=4)
    np.testing.assert_allclose(image, 1 - 128 / 255, atol=1e-6)


def test_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c).convert("P") for c in [(0, 0, 255), (255, 255, 0)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    np.testing.assert_allclose(_mean_rgb(data), (0, 0, 255), atol=8)


@pytest.mark.parametrize("size", [(7, 300), (300, 7), (500, 375), (1, 1)])
def test_any_size_and_aspect_is_resized_to_the_square(size):
    image = Image.new("RGB", size, (10, 200, 30))
    # PNG is lossless: only the float32 resize (measured 5.5e-4 of 255); JPEG is lossy.
    np.testing.assert_allclose(_mean_rgb(_encode(image, "PNG")), (10, 200, 30), atol=1e-2)
    np.testing.assert_allclose(_mean_rgb(_encode(image, "JPEG", quality=95)), (10, 200, 30),
                               atol=8)


def test_aspect_stretches_by_default_and_pads_with_black_when_preserved():
    array = np.zeros((10, 40, 3), np.uint8)
    array[:, :20] = 255  # left half white, right half black
    data = _encode(Image.fromarray(array), "PNG")
    stretched = _decode(data, size=8)
    np.testing.assert_allclose(stretched[:, :3], 1.0, atol=1e-6)  # the whole height is image
    padded = _decode(data, size=8, preserve_aspect_ratio=True)
    np.testing.assert_allclose(padded[:3], 0.0, atol=1e-6)  # top rows are padding
    np.testing.assert_allclose(padded[4:5, :3], 1.0, atol=1e-6)  # the image sits in the middle


NOT_IMAGES = {
    "random": np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes(),
    "empty": b"",
    "text": b"a man in a red shirt is climbing a rock .\n",
    "webp_is_not_supported": b"RIFF\x1a\x00\x00\x00WEBPVP8 ",
}


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_non_images_fail_with_a_clear_message(name):
    with pytest.raises(tf.errors.InvalidArgumentError, match=NOT_AN_IMAGE):
        decode_image(tf.constant(NOT_IMAGES[name]), S)


def test_non_image_fails_inside_a_tf_function_too():
    fn = tf.function(lambda b: decode_image(b, S), input_signature=[tf.TensorSpec([], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=NOT_AN_IMAGE):
        fn(tf.constant(b"not an image"))


def _photo_jpeg():
    pixels = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    return _encode(Image.fromarray(pixels), "JPEG")


@pytest.mark.parametrize("drop", ["half", "10%", "end marker"])
def test_truncated_jpeg_is_an_error_not_a_grey_image(drop):
    data = _photo_jpeg()
    keep = {"half": len(data) // 2, "10%": int(len(data) * 0.9), "end marker": len(data) - 2}
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid JPEG data"):
        decode_image(tf.constant(data[: keep[drop]]), S)


@pytest.mark.parametrize("fmt, pattern", [("PNG", "PNG"), ("GIF", "GIF"), ("BMP", "size")])
def test_truncated_png_gif_bmp_are_errors(fmt, pattern):
    pixels = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    data = _encode(image.convert("P") if fmt == "GIF" else image, fmt)
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        decode_image(tf.constant(data[: len(data) // 2]), S)


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        decode_image(tf.constant(FORMATS["rgb_png"][0]), 0)


def _batch():
    return tf.constant([FORMATS[name][0] for name in ("rgb_jpeg", "gray_png", "gif", "bmp")])


def test_decode_images_batch_and_empty_batch():
    images = decode_images(_batch(), S)
    assert images.shape == (4, S, S, 3) and images.dtype == tf.float32
    np.testing.assert_allclose(images[0].numpy().reshape(-1, 3).mean(0) * 255, RED,
                               atol=8)  # images[0] is the (lossy) JPEG
    empty = decode_images(tf.constant([], tf.string), S)
    assert empty.shape == (0, S, S, 3) and empty.dtype == tf.float32


def test_decode_images_in_a_tf_function_with_unknown_batch():
    fn = tf.function(lambda b: decode_images(b, S),
                     input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn.get_concrete_function().structured_outputs.shape.as_list() == [None, S, S, 3]
    np.testing.assert_allclose(fn(_batch()).numpy(), decode_images(_batch(), S).numpy(),
                               atol=1e-6)
    assert fn(tf.constant([], tf.string)).shape == (0, S, S, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=NOT_AN_IMAGE):
        fn(tf.constant([FORMATS["bmp"][0], b""]))


def test_decoding_survives_a_saved_model_round_trip(tmp_path):
    module = tf.Module()
    module.decode = tf.function(lambda b: decode_images(b, S),
                                input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "model"))
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded.decode(_batch()).numpy(),
                               decode_images(_batch(), S).numpy(), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=NOT_AN_IMAGE):
        loaded.decode(tf.constant([b"junk"]))


def _write_files(folder):
    paths = []
    for i, (name, size) in enumerate([("a.jpg", (7, 300)), ("b.png", (500, 375)),
                                      ("c.gif", (20, 20))]):
        image = Image.new("RGB", size, (40 * i, 100, 200))
        image.save(folder / name)
        paths.append(folder / name)
    return paths


def test_image_file_dataset_shapes_and_order(tmp_path):
    paths = _write_files(tmp_path)
    images = list(image_file_dataset(paths, S))
    assert [tuple(x.shape) for x in images] == [(S, S, 3)] * 3
    for i, image in enumerate(images):
        np.testing.assert_allclose(image.numpy().reshape(-1, 3).mean(0) * 255,
                                   (40 * i, 100, 200),
                                   atol=1e-2 if i == 1 else 8)  # 1: PNG; JPEG, GIF: lossy
    assert image_file_dataset(paths, S).element_spec == tf.TensorSpec((S, S, 3), tf.float32)


def test_image_file_dataset_with_augmentation(tmp_path):
    paths = [str(p) for p in _write_files(tmp_path)]
    ds = image_file_dataset(paths, S, augment=True, seed=3)
    assert ds.element_spec == tf.TensorSpec((S, S, 3), tf.float32)
    first = np.stack([x.numpy() for x in ds])
    assert first.shape == (3, S, S, 3) and first.min() >= 0 and first.max() <= 1
    again = np.stack([x.numpy() for x in image_file_dataset(paths, S, augment=True, seed=3)])
    np.testing.assert_array_equal(first, again)  # same seed, same augmentations
    plain = np.stack([x.numpy() for x in image_file_dataset(paths, S)])
    assert not np.allclose(first, plain)
    np.testing.assert_allclose(first.mean((1, 2)), plain.mean((1, 2)), atol=0.2)  # light


def test_image_file_dataset_names_the_bad_file(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(tf.errors.InvalidArgumentError, match="notes.jpg"):
        list(image_file_dataset([bad], S))


def test_augment_image_keeps_shape_and_range():
    image = tf.random.stateless_uniform([S, S, 3], [0, 1])
    out = augment_image(image, tf.constant([4, 5]))
    assert out.shape == (S, S, 3)
    assert 0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1
    np.testing.assert_array_equal(out.numpy(), augment_image(image, tf.constant([4, 5])).numpy())
    assert not np.array_equal(out.numpy(), augment_image(image, tf.constant([4, 6])).numpy())


def _shared_images():
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    repo = pathlib.Path(__file__).resolve().parents[2]
    for root in ([pathlib.Path(env) / "captions"] if env else []) + [
            repo.parent / "shared" / "datasets" / "captions"]:
        if (root / "images").is_dir():
            return sorted((root / "images").glob("*.jpg"))
    return []


def test_real_flickr8k_jpegs_decode():
    paths = _shared_images()[:3]
    if not paths:
        missing_data("the shared Flickr8k copy (../shared/datasets/captions) is not here")
    images = np.stack([x.numpy() for x in image_file_dataset(paths, 32)])
    assert images.shape == (3, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    assert images.std() > 0.05  # real pictures, not flat grey
