"""The `captioner` task through the task harness, and its one-line errors on bad input."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_seq.data.shape_scenes import generate_shape_scenes
from keras_seq.tasks import Captioner
from tests.task_harness import run_task_test

CAPTIONS = ["a large red circle", "a small blue square", "two small green triangles",
            "a large white square above a small red circle"] * 4
SIZES = dict(image_size=32, embedding_dim=8, hidden_dim=16, encoder_filters=(4, 8),
             max_caption_length=12)


def _png(pixels):
    return tf.io.encode_png(pixels).numpy()


def _data():
    pixels, _ = generate_shape_scenes(CAPTIONS, image_size=32, seed=0)
    return [_png(p) for p in pixels], CAPTIONS


def _odd_images():
    """Images of other formats and shapes: grayscale JPEG, RGBA PNG, GIF, BMP, 1x1, 500x40."""
    out = []
    for mode, size, fmt in (("L", (50, 40), "JPEG"), ("RGBA", (70, 30), "PNG"),
                            ("P", (20, 20), "GIF"), ("RGB", (33, 17), "BMP"),
                            ("RGB", (1, 1), "PNG"), ("RGB", (500, 40), "JPEG")):
        buffer = io.BytesIO()
        Image.new(mode, size, 128 if mode in ("L", "P") else (10, 200, 30, 90)[:len(mode)]) \
            .save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


def test_captioner_task_harness(tmp_path):
    images, captions = _data()
    task = Captioner.from_captions(images, captions, **SIZES)
    # The export defines no caption for bytes that are no image (it raises), so the inputs
    # are images only: scenes, other formats, a 1x1 pixel and a very wide photo.
    inputs = images[:3] + _odd_images()

    def check(inputs, outputs):
        assert all(isinstance(c, str) for c in outputs["caption"])

    outputs = run_task_test(task, images, captions, tmp_path, predict_inputs=inputs,
                            check_output=check, export_input="image_bytes",
                            export_dtype="string")
    assert len(outputs["caption"]) == len(inputs)


def test_references_dataset_input_and_generate():
    images, captions = _data()
    task = Captioner.from_captions(images, captions, **SIZES)
    references = [[c, "an image"] for c in captions]  # several references per image
    task.fit(images, references, epochs=1, batch_size=8, verbose=0, seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, captions))
    history = task.fit(ds, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    (x, target, weights), = task.dataset(images[:2], captions[:2], batch_size=2)[0].take(1)
    assert x["image"].shape == (2, 32, 32, 3) and target.shape == (2, 12)
    assert np.array_equal(x["caption_in"][:, 1:], target[:, :-1])  # teacher forcing
    assert np.array_equal(weights, target != 0)
    greedy = task.generate(images[:2])
    assert greedy == task.predict(images[:2])["caption"]
    assert len(task.generate(images[:2], max_length=3, sampler="beam")) == 2
    short = task.generate(images[:2], max_length=2)  # [START] + one token: at most one word
    assert all(len(c.split()) <= 1 for c in short)
    from keras_seq.generation import get_sampler

    assert len(task.generate(images[:1], sampler=get_sampler("top_k", k=2, seed=1))) == 1
    assert task.predict([]) == {"caption": []}


def test_bad_inputs_raise_one_clear_value_error():
    images, captions = _data()
    task = Captioner.from_captions(images, captions, **SIZES)
    cases = [
        (lambda: task.predict([images[0], b"not an image at all"]),
         r"images\[1\]. must be an encoded JPEG.*not a JPEG, PNG, GIF or BMP image"),
        (lambda: task.predict([b""]), "not a JPEG, PNG, GIF or BMP image: 0 bytes"),
        (lambda: task.predict([images[0][:60]]), r"images\[0\]. must be .*Invalid PNG data"),
        (lambda: task.predict(["photo.jpg"]), "got str at index 0"),
        (lambda: task.predict(images[0]), "wrap it in a list"),
        (lambda: task.generate(images[:1], sampler="nope"), "sampler"),
        (lambda: task.generate(images[:1], max_length=1), "max_length"),
        (lambda: task.fit(images, captions[:3]), "same length"),
        (lambda: task.fit(images, [1] * len(images)), "caption string"),
        (lambda: task.fit(["a.png"] * 2, captions[:2]), "got str at index 0"),
        (lambda: Captioner.from_captions(images, "a red circle"), "wrap it in a list"),
        (lambda: Captioner(task.network, task.preprocessor, sampler="top_p"), "sampler"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_registered_by_its_stem_and_docstring_examples_run():

    from keras_seq.tasks import TASK_CLASSES

    assert TASK_CLASSES["captioner"] is Captioner and Captioner.stem == "captioner"
