"""The generated shape-scene captions: combinations, splits, and images that show the caption."""

import numpy as np
import pytest
from scipy import ndimage

from keras_seq.data.shape_scenes import (
    COLOURS,
    SHAPES,
    SIZES,
    VOCABULARY,
    SceneObject,
    caption_combinations,
    caption_kind,
    describe,
    generate_shape_scenes,
    render_scene,
    sample_scene,
    shape_scene_splits,
)

NOMINAL_RGB = {
    "red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 235),
    "yellow": (230, 220, 40), "white": (235, 235, 235),
}
TRIPLES = {(s, c, h) for s in SIZES for c in COLOURS for h in SHAPES}


@pytest.fixture(scope="module")
def splits():
    return shape_scene_splits(3000, 200, 300, seed=7)


def _foreground(image):
    return image.max(-1) > 120  # background is 48 +- 8, every colour has a channel >= 205


def _blobs(image):
    """Connected foreground blobs (4-connectivity) -> list of (mask, slices)."""
    labels, count = ndimage.label(_foreground(image))
    return [(labels[box] == i + 1, box) for i, box in enumerate(ndimage.find_objects(labels))]


def _decode(image):
    """Reads the objects back from the pixels alone: colour, size, shape and position."""
    size = image.shape[0]
    objects = []
    for mask, (rows, cols) in _blobs(image):
        pixels = image[rows, cols][mask].astype(float)
        mean = pixels.mean(0)
        colour = min(NOMINAL_RGB, key=lambda c: np.sum((mean - NOMINAL_RGB[c]) ** 2))
        height, width = mask.shape
        corners = mask[[0, 0, -1, -1], [0, -1, 0, -1]].all()
        shape = "square" if corners else "circle" if mask.mean() > 0.65 else "triangle"
        big = max(height, width) >= 14 * size / 64
        x = (cols.start + cols.stop) / 2 / size
        y = (rows.start + rows.stop) / 2 / size
        objects.append(SceneObject("large" if big else "small", colour, shape, x, y))
    return objects


def test_combinations_and_vocabulary():
    combos = caption_combinations()
    assert len(combos) == len(set(combos)) == 30 + 30 * 29 * 2 + 30 * 2
    assert combos == sorted(combos)
    kinds = [caption_kind(c) for c in combos]
    assert (kinds.count("single"), kinds.count("pair"), kinds.count("count")) == (30, 1740, 60)
    assert {w for c in combos for w in c.split()} == set(VOCABULARY)
    assert len(VOCABULARY) == len(set(VOCABULARY))
    for c in combos:
        assert c == c.lower() == " ".join(c.split()) and c.replace(" ", "").isalpha()
    combos.append("mutated")
    assert "mutated" not in caption_combinations()  # a pure function: a new list every call
    assert "a small red circle left of a large blue square" in combos
    assert "a small red circle above a large blue square" in combos
    assert "three large blue squares" in combos and "two small red circles" in combos


def test_describe_rules():
    red, blue = ("small", "red", "circle"), ("large", "blue", "square")
    assert describe([(*red, 0.5, 0.5)]) == "a small red circle"
    left_of = "a small red circle left of a large blue square"
    assert describe([(*blue, 0.8, 0.5), (*red, 0.2, 0.55)]) == left_of
    assert describe([{"size": "small", "colour": "red", "shape": "circle", "x": 0.2, "y": 0.5},
                     SceneObject(*blue, 0.8, 0.4)]) == left_of
    assert describe([(*blue, 0.5, 0.2), (*red, 0.45, 0.8)]) == (
        "a large blue square above a small red circle")
    assert describe([(*red, 0.2, 0.2), (*red, 0.8, 0.8), (*red, 0.2, 0.8)]) == (
        "three small red circles")
    assert describe([(*red, 0.2, 0.2), (*red, 0.8, 0.8)]) == "two small red circles"


@pytest.mark.parametrize("image_size", [64, 32])
def test_sample_scene_caption_roundtrip_every_combination(image_size):
    rng = np.random.default_rng(0)
    for caption in caption_combinations():
        image, objects = sample_scene(caption, image_size, rng)
        assert image.shape == (image_size, image_size, 3) and image.dtype == np.uint8
        assert describe(objects) == caption
        for o in objects:  # inside the image, with the largest radius and a border
            r = (10.5 if o.size == "large" else 5.5) / 64
            assert r < o.x < 1 - r and r < o.y < 1 - r
        for i, a in enumerate(objects):  # bounding boxes never touch
            for b in objects[i + 1:]:
                reach = sum((11 if o.size == "large" else 6) / 64 for o in (a, b))
                assert max(abs(a.x - b.x), abs(a.y - b.y)) > reach
        if caption_kind(caption) == "pair":  # the relation is unambiguous: ratio >= 2
            dx, dy = abs(objects[0].x - objects[1].x), abs(objects[0].y - objects[1].y)
            assert max(dx, dy) >= 2 * min(dx, dy)


def test_pixels_spell_the_caption_for_every_combination():
    combos = caption_combinations()
    images, captions = generate_shape_scenes(combos, seed=3)
    wrong = [c for image, c in zip(images, captions) if describe(_decode(image)) != c]
    assert not wrong, wrong[:5]
    small, _ = generate_shape_scenes(combos, image_size=32, seed=5)
    for image, caption in zip(small, combos):  # shapes get tiny at 32: count blobs only
        kind = caption_kind(caption)
        expected = {"single": 1, "pair": 2}.get(kind) or (2 if caption[:3] == "two" else 3)
        assert len(_blobs(image)) == expected, caption
    big, _ = generate_shape_scenes(combos[::7], image_size=96, seed=4)
    wrong = [c for image, c in zip(big, combos[::7]) if describe(_decode(image)) != c]
    assert not wrong, wrong[:5]


def test_large_red_circle_is_red_and_larger_than_small():
    rng = np.random.default_rng(1)
    areas = {}
    for size in SIZES:
        areas[size] = []
        for _ in range(20):
            image, _ = sample_scene(f"a {size} red circle", rng=rng)
            pixels = image[_foreground(image)].astype(int)
            assert (pixels[:, 0] > 190).all() and (pixels[:, 1:] < 70).all()
            areas[size].append(len(pixels))
    assert min(areas["large"]) > 2.5 * max(areas["small"])
    nominal = render_scene([("large", "red", "circle", 0.5, 0.5)], image_size=128)
    assert abs(_foreground(nominal).sum() - np.pi * (10.5 * 2) ** 2) < 40  # scales with size


def test_left_of_and_above_in_pixels():
    rng = np.random.default_rng(2)
    for _ in range(20):
        image, _ = sample_scene("a small red circle left of a large blue square", rng=rng)
        red = (image[..., 0] > 150) & (image[..., 2] < 100)
        blue = (image[..., 2] > 150) & (image[..., 0] < 100)
        assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()
        image, _ = sample_scene("a large green triangle above a small yellow square", rng=rng)
        green = (image[..., 1] > 150) & (image[..., 0] < 100)
        yellow = (image[..., 0] > 150) & (image[..., 1] > 150) & (image[..., 2] < 100)
        assert np.nonzero(green)[0].mean() < np.nonzero(yellow)[0].mean()


@pytest.mark.parametrize("caption,count", [("two large white squares", 2),
                                           ("three small blue triangles", 3),
                                           ("three large yellow circles", 3),
                                           ("a small green square", 1)])
def test_blob_count_matches_the_number_word(caption, count):
    images, _ = generate_shape_scenes([caption] * 30, seed=5)
    for image in images:
        blobs = _blobs(image)
        assert len(blobs) == count
        areas = [mask.sum() for mask, _ in blobs]
        assert max(areas) < 1.7 * min(areas)  # identical objects, up to the radius jitter


def test_generation_is_deterministic_and_matches_sample_scene():
    captions = caption_combinations()[::61]
    a, caps = generate_shape_scenes(captions, image_size=48, seed=9)
    b, _ = generate_shape_scenes(captions, image_size=48, seed=9)
    c, _ = generate_shape_scenes(captions, image_size=48, seed=10)
    assert a.shape == (len(captions), 48, 48, 3) and a.dtype == np.uint8
    assert caps == captions and caps is not captions
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.default_rng(9)
    for image, caption in zip(a, captions):
        np.testing.assert_array_equal(image, sample_scene(caption, 48, rng)[0])


def test_render_scene_nominal_and_jittered():
    objects = [SceneObject("large", "white", "triangle", 0.3, 0.5),
               ("small", "yellow", "square", 0.75, 0.5)]
    nominal = render_scene(objects)
    assert nominal.shape == (64, 64, 3) and nominal.dtype == np.uint8
    assert (nominal[~_foreground(nominal)] == 48).all()
    assert len(_blobs(nominal)) == 2 and describe(_decode(nominal)) == describe(objects)
    np.testing.assert_array_equal(render_scene(objects, rng=4), render_scene(objects, rng=4))
    assert not np.array_equal(render_scene(objects, rng=4), nominal)


def test_splits_shapes_determinism_and_balance(splits):
    again = shape_scene_splits(3000, 200, 300, seed=7)
    for name, n in (("train", 3000), ("validation", 200), ("test", 300)):
        images, captions = splits[name]
        assert images.shape == (n, 64, 64, 3) and images.dtype == np.uint8
        assert len(captions) == n
        np.testing.assert_array_equal(images, again[name][0])
        assert captions == again[name][1]
    kinds = [caption_kind(c) for c in splits["train"][1]]
    assert [kinds.count(k) for k in ("single", "pair", "count")] == [600, 1800, 600]
    kinds = [caption_kind(c) for c in splits["test"][1]]
    assert [kinds.count(k) for k in ("single", "pair", "count")] == [0, 225, 75]
    other = shape_scene_splits(30, 10, 10, seed=8)
    assert other["info"]["combinations"]["test"] != splits["info"]["combinations"]["test"]


def test_held_out_combinations_are_unseen_but_made_of_seen_parts(splits):
    info = splits["info"]
    assert info["num_combinations"] == {"train": 1470, "validation": 180, "test": 180,
                                        "total": 1830}
    assert info["num_combinations_per_kind"]["test"] == {"single": 0, "pair": 174, "count": 6}
    combos = {name: set(info["combinations"][name]) for name in ("train", "validation", "test")}
    assert set.union(*combos.values()) == set(caption_combinations())
    assert not combos["train"] & combos["validation"]
    assert not combos["train"] & combos["test"]
    assert not combos["validation"] & combos["test"]
    train = set(splits["train"][1])
    assert train <= combos["train"]
    assert set(splits["validation"][1]) <= combos["validation"]
    assert set(splits["test"][1]) <= combos["test"]
    assert not train & set(splits["test"][1]) and not train & set(splits["validation"][1])
    assert {w for c in train for w in c.split()} == set(VOCABULARY)
    singles = {tuple(c.split()[1:]) for c in train if caption_kind(c) == "single"}
    assert singles == TRIPLES
    # Every held-out pair is made of objects that train shows inside pairs too.
    in_pairs = set()
    for c in combos["train"]:
        if caption_kind(c) == "pair":
            words = c.replace("left of", "left_of").split()
            in_pairs |= {tuple(words[1:4]), tuple(words[6:9])}
    assert in_pairs == TRIPLES


@pytest.mark.parametrize("kwargs,name", [
    ({"image_size": 31}, "image_size"),
    ({"image_size": 64.0}, "image_size"),
    ({"train_size": 0}, "train_size"),
    ({"validation_size": -3}, "validation_size"),
    ({"test_size": 2.5}, "test_size"),
    ({"held_out_fraction": 0.0}, "held_out_fraction"),
    ({"held_out_fraction": 1.0}, "held_out_fraction"),
    ({"held_out_fraction": -0.2}, "held_out_fraction"),
    ({"held_out_fraction": 0.99}, "held_out_fraction"),  # "two" or "three" left out of train
])
def test_bad_split_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        shape_scene_splits(**{"train_size": 10, "validation_size": 5, "test_size": 5, **kwargs})


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="image_size"):
        sample_scene("a small red circle", image_size=16, rng=0)
    with pytest.raises(ValueError, match="caption"):
        sample_scene("a purple circle", rng=0)
    with pytest.raises(ValueError, match="captions"):
        generate_shape_scenes(["a small red circle", "four red circles"])
    with pytest.raises(ValueError, match="captions"):
        generate_shape_scenes([])
    with pytest.raises(ValueError, match="image_size"):
        generate_shape_scenes(["a small red circle"], image_size=20)
    with pytest.raises(ValueError, match="objects"):
        render_scene([("large", "red", "circle", 0.02, 0.5)])
    with pytest.raises(ValueError, match="objects"):
        render_scene([("huge", "red", "circle", 0.5, 0.5)])
    with pytest.raises(ValueError, match="objects"):
        describe([("small", "red", "circle", 0.2, 0.2), ("small", "red", "square", 0.5, 0.5),
                  ("small", "red", "circle", 0.8, 0.8)])
