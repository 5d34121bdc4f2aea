"""A generated image-caption task: coloured shapes on a plain background (NumPy only).

Every image shows one, two or three filled shapes on a dark gray background with light
noise, and has exactly one canonical English caption (lower case, single spaces, no
punctuation)::

    a large red circle                                    one object
    a small red circle left of a large blue square        two different objects, horizontal
    a small green triangle above a small green square     two different objects, vertical
    two small red circles / three large blue squares      two or three identical objects

An object is a (size, colour, shape) triple: sizes `small`, `large`; colours `red`, `green`,
`blue`, `yellow`, `white`; shapes `circle`, `square`, `triangle` (pointing up), so 30
objects. The caption is a function of the image alone: two different objects are named
left object first ("left of") when the horizontal offset dominates and upper object first
("above") when the vertical one does, and they are placed so the dominant axis is at least
twice the other one and the objects never overlap. A captioner has to look at counts,
colours, sizes and spatial relations to get a caption right.

Combinations (`caption_combinations()`): 30 singles + 30 * 29 * 2 = 1740 ordered pairs with
a relation + 30 * 2 = 60 counts = 1830 captions. `shape_scene_splits` holds out a seeded
fraction of the pair and count combinations for validation and test (unseen compositions
of objects and words that all occur in train).

Speed (measured on one CPU core of the development machine): `generate_shape_scenes` renders
20,000 images of 64x64 in 2.9-3.3 s with captions drawn uniformly from all combinations
(about 0.15 ms an image), 2.2-2.4 s with the train mix of `shape_scene_splits`.
"""

import functools
from typing import NamedTuple

import numpy as np

SIZES = ("small", "large")
COLOURS = ("red", "green", "blue", "yellow", "white")
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("left of", "above")
COUNT_WORDS = {2: "two", 3: "three"}
VOCABULARY = (
    "a", "two", "three", "small", "large", "red", "green", "blue", "yellow", "white",
    "circle", "square", "triangle", "circles", "squares", "triangles", "left", "of", "above",
)
KINDS = ("single", "pair", "count")

# Geometry, as fractions of the image side (the numbers are pixels of a 64x64 image).
_RADIUS = {"small": 5.5 / 64, "large": 10.5 / 64}  # half the side of the bounding box
_RADIUS_JITTER = 0.5 / 64  # uniform +-, when rendering with an rng
_EXTENT = {size: r + _RADIUS_JITTER for size, r in _RADIUS.items()}  # largest half-box
_MARGIN = 1.0 / 64  # free border between an object's box and the image edge
_GAP = 3.0 / 64  # smallest free distance between the boxes of two objects
_AXIS_RATIO = 2.0  # the dominant offset of a pair is at least twice the other one
_SQUARE_HALF = 0.85  # square half side, relative to the radius (about the circle's area)
_TRIANGLE_BASE = 0.8  # triangle: apex at y - r, base at y + 0.8 r, base half width r
_RGB = {
    "red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 235),
    "yellow": (230, 220, 40), "white": (235, 235, 235),
}
_COLOUR_JITTER = 15  # uniform +- per channel and object
_BACKGROUND = 48  # dark gray
_BACKGROUND_NOISE = 8  # uniform +- per pixel and channel
_TRAIN_KIND_FRACTIONS = {"single": 0.2, "pair": 0.6, "count": 0.2}
_HELD_OUT_KIND_FRACTIONS = {"pair": 0.75, "count": 0.25}
_CANDIDATES = 64  # positions tried at once by the rejection sampler


class SceneObject(NamedTuple):
    """One object of a scene.

    `x`, `y` are the centre as fractions of the image width and height (0 = left/top,
    1 = right/bottom), so the same objects render at any `image_size`.
    """

    size: str
    colour: str
    shape: str
    x: float
    y: float


def _object_phrase(triple):
    return "a " + " ".join(triple)


def _count_phrase(triple, count):
    size, colour, shape = triple
    return f"{COUNT_WORDS[count]} {size} {colour} {shape}s"


def _triples():
    return [(s, c, h) for s in SIZES for c in COLOURS for h in SHAPES]


@functools.lru_cache(maxsize=None)
def _specs():
    """caption -> spec: ("single", triple) | ("pair", a, b, relation) | ("count", triple, n)."""
    specs = {}
    triples = _triples()
    for t in triples:
        specs[_object_phrase(t)] = ("single", t)
    for a in triples:
        for b in triples:
            if a == b:
                continue
            for relation in RELATIONS:
                specs[f"{_object_phrase(a)} {relation} {_object_phrase(b)}"] = (
                    "pair", a, b, relation)
    for t in triples:
        for n in COUNT_WORDS:
            specs[_count_phrase(t, n)] = ("count", t, n)
    return specs


def caption_combinations():
    """Returns every caption the scenes can have, sorted.

    Rules: 30 singles `a {size} {colour} {shape}`; for every ordered pair of different
    objects (a, b) and relation in ("left of", "above") the caption `{a} {relation} {b}`
    (30 * 29 * 2 = 1740); for every object and n in (2, 3) the caption
    `{two|three} {size} {colour} {shape}s` (60). Total 30 + 1740 + 60 = 1830.

    Returns:
        A new sorted list of the 1830 caption strings.

    Example:

    >>> combos = caption_combinations()
    >>> len(combos), "a large red circle" in combos, "three small white triangles" in combos
    (1830, True, True)
    """
    return sorted(_specs())


def caption_kind(caption):
    """Returns the kind of a caption: "single", "pair" or "count".

    Args:
        caption: one of `caption_combinations()`.

    Returns:
        The kind as a string.

    Example:

    >>> caption_kind("two small red circles")
    'count'
    """
    return _spec(caption, "caption")[0]


def _spec(caption, name):
    spec = _specs().get(caption)
    if spec is None:
        raise ValueError(f"`{name}` must be one of caption_combinations(), got {caption!r}.")
    return spec


def _as_object(obj):
    if isinstance(obj, SceneObject):
        return obj
    obj = SceneObject(**obj) if isinstance(obj, dict) else SceneObject(*obj)
    if obj.size not in SIZES or obj.colour not in COLOURS or obj.shape not in SHAPES:
        raise ValueError(f"`objects` has an unknown size, colour or shape: {obj!r}.")
    return obj


def describe(objects):
    """Returns the canonical caption of a scene.

    Rules: one object -> `a {size} {colour} {shape}`; two or three identical objects
    (same size, colour and shape) -> `{two|three} {size} {colour} {shape}s`; two different
    objects -> with dx, dy the centre offsets, if |dx| >= |dy| the left object is named
    first with "left of", otherwise the upper one (smaller y) first with "above".

    Args:
        objects: a list of `SceneObject`s, `(size, colour, shape, x, y)` tuples or dicts with
            those keys.

    Returns:
        The caption string.

    Example:

    >>> describe([("large", "blue", "square", 0.7, 0.5), ("small", "red", "circle", 0.2, 0.4)])
    'a small red circle left of a large blue square'
    """
    objects = [_as_object(o) for o in objects]
    triples = [o[:3] for o in objects]
    if len(objects) == 1:
        return _object_phrase(triples[0])
    if len(objects) in COUNT_WORDS and len(set(triples)) == 1:
        return _count_phrase(triples[0], len(objects))
    if len(objects) == 2:
        a, b = objects
        if abs(b.x - a.x) >= abs(b.y - a.y):
            relation, swap = "left of", b.x < a.x
        else:
            relation, swap = "above", b.y < a.y
        first, second = (b, a) if swap else (a, b)
        return f"{_object_phrase(first[:3])} {relation} {_object_phrase(second[:3])}"
    raise ValueError(
        "`objects` must be one object, two objects or two/three identical objects, "
        f"got {len(objects)} objects with {len(set(triples))} different kinds.")


def _check_image_size(image_size):
    if not isinstance(image_size, (int, np.integer)) or isinstance(image_size, bool) \
            or image_size < 32:
        raise ValueError(f"`image_size` must be an int >= 32, got image_size={image_size!r}.")
    return int(image_size)


def _object_mask(obj, radius, size):
    """Boolean mask of `obj` on its bounding patch, and the patch's (top, left)."""
    cx, cy, r = obj.x * size, obj.y * size, radius * size
    left, top = max(int(np.floor(cx - r)), 0), max(int(np.floor(cy - r)), 0)
    right, bottom = min(int(np.ceil(cx + r)) + 1, size), min(int(np.ceil(cy + r)) + 1, size)
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5 - cy
    xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5 - cx
    if obj.shape == "circle":
        mask = xs * xs + ys * ys <= r * r
    elif obj.shape == "square":
        half = _SQUARE_HALF * r
        mask = (np.abs(xs) <= half) & (np.abs(ys) <= half)
    else:  # triangle pointing up: half width grows linearly from the apex to the base
        height = (1.0 + _TRIANGLE_BASE) * r
        depth = ys + r
        mask = (depth >= 0) & (depth <= height) & (np.abs(xs) <= r * depth / height)
    return mask, top, left


def _render(objects, size, rng):
    if rng is None:
        image = np.full((size, size, 3), _BACKGROUND, np.uint8)
    else:
        noise = rng.integers(-_BACKGROUND_NOISE, _BACKGROUND_NOISE + 1, (size, size, 3),
                             dtype=np.int16)
        image = (noise + _BACKGROUND).astype(np.uint8)
    for obj in objects:
        radius, rgb = _RADIUS[obj.size], np.array(_RGB[obj.colour], np.int16)
        if rng is not None:
            radius += rng.uniform(-_RADIUS_JITTER, _RADIUS_JITTER)
            rgb = rgb + rng.integers(-_COLOUR_JITTER, _COLOUR_JITTER + 1, 3)
        mask, top, left = _object_mask(obj, radius, size)
        patch = image[top:top + mask.shape[0], left:left + mask.shape[1]]
        patch[mask] = np.clip(rgb, 0, 255).astype(np.uint8)
    return image


def render_scene(objects, image_size=64, rng=None):
    """Renders objects on a dark gray background.

    Each object is drawn filled inside its bounding box of half side r centred at
    (x, y) * image_size, with r = 5.5/64 (small) or 10.5/64 (large) of the side: circle of
    radius r; square of half side 0.85 r; triangle pointing up with apex at y - r, base at
    y + 0.8 r and base half width r. Objects are painted in order (no overlap check).

    Args:
        objects: a list of `SceneObject`s, `(size, colour, shape, x, y)` tuples or dicts with
            those keys; x, y are fractions of the width and height, and the bounding box
            (with r + 0.5/64 when jittered) must lie inside the image.
        image_size: int >= 32, the side of the square image in pixels.
        rng: None for the nominal rendering (flat background, exact radius and colour), or
            a `np.random.Generator` / int seed for a jittered one: background noise of
            +-8 per pixel and channel, radius +-0.5/64, colour +-15 per channel.

    Returns:
        A uint8 array of shape (image_size, image_size, 3).

    Example:

    >>> image = render_scene([("large", "red", "circle", 0.5, 0.5)])
    >>> image.shape, image.dtype.name, image[32, 32].tolist(), image[0, 0].tolist()
    ((64, 64, 3), 'uint8', [220, 40, 40], [48, 48, 48])
    """
    size = _check_image_size(image_size)
    objects = [_as_object(o) for o in objects]
    for obj in objects:
        extent = _EXTENT[obj.size] if rng is not None else _RADIUS[obj.size]
        if min(obj.x, obj.y) - extent < 0 or max(obj.x, obj.y) + extent > 1:
            raise ValueError(f"`objects` has an object outside the image: {obj!r}.")
    if rng is not None:
        rng = np.random.default_rng(rng)
    return _render(objects, size, rng)


def _uniform_centres(rng, extent, shape):
    low, high = _MARGIN + extent, 1.0 - _MARGIN - extent
    return rng.uniform(low, high, shape)


def _place_pair(a, b, relation, rng):
    """Centres for a (first) and b with b right of / below a, unambiguously."""
    ea, eb = _EXTENT[a[0]], _EXTENT[b[0]]
    while True:
        xa, ya = _uniform_centres(rng, ea, (2, _CANDIDATES))
        xb, yb = _uniform_centres(rng, eb, (2, _CANDIDATES))
        main, other = (xb - xa, yb - ya) if relation == "left of" else (yb - ya, xb - xa)
        ok = (main >= ea + eb + _GAP) & (main >= _AXIS_RATIO * np.abs(other))
        if ok.any():
            i = int(np.argmax(ok))
            return [SceneObject(*a, float(xa[i]), float(ya[i])),
                    SceneObject(*b, float(xb[i]), float(yb[i]))]


def _place_count(triple, count, rng):
    """`count` non-overlapping centres anywhere (restarts when the last one has no room)."""
    extent = _EXTENT[triple[0]]
    distance = 2 * extent + _GAP
    while True:
        placed = []
        for _ in range(count):
            xs, ys = _uniform_centres(rng, extent, (2, _CANDIDATES))
            ok = np.ones(_CANDIDATES, bool)
            for px, py in placed:
                ok &= np.maximum(np.abs(xs - px), np.abs(ys - py)) >= distance
            if not ok.any():
                break
            i = int(np.argmax(ok))
            placed.append((float(xs[i]), float(ys[i])))
        if len(placed) == count:
            return [SceneObject(*triple, x, y) for x, y in placed]


def _sample_objects(spec, rng):
    kind = spec[0]
    if kind == "single":
        (x, y) = _uniform_centres(rng, _EXTENT[spec[1][0]], 2)
        return [SceneObject(*spec[1], float(x), float(y))]
    if kind == "pair":
        return _place_pair(spec[1], spec[2], spec[3], rng)
    return _place_count(spec[1], spec[2], rng)


def sample_scene(caption, image_size=64, rng=None):
    """Renders a random scene whose canonical caption is exactly `caption`.

    Positions are uniform among the placements that keep every object (with its largest
    jittered radius) and a 1/64 border inside the image and respect the rules: pairs have
    the dominant offset >= 2x the other and boxes at least 3/64 apart along it (the first
    named object left of / above the second); counts have boxes at least 3/64 apart.
    The image is rendered with jitter (see `render_scene`).

    Args:
        caption: one of `caption_combinations()`.
        image_size: int >= 32, the side of the square image in pixels.
        rng: a `np.random.Generator` or an int seed (None: fresh entropy).

    Returns:
        `(image, objects)`: a uint8 array (image_size, image_size, 3) and the list of
        `SceneObject`s drawn, with `describe(objects) == caption`.

    Example:

    >>> image, objects = sample_scene("a small red circle above a large blue square", rng=0)
    >>> image.shape, describe(objects)
    ((64, 64, 3), 'a small red circle above a large blue square')
    """
    spec = _spec(caption, "caption")
    size = _check_image_size(image_size)
    rng = np.random.default_rng(rng)
    objects = _sample_objects(spec, rng)
    return _render(objects, size, rng), objects


def generate_shape_scenes(captions, image_size=64, seed=0):
    """Renders one random scene per caption.

    Image i is `sample_scene(captions[i], image_size, rng)[0]` with one generator
    `np.random.default_rng(seed)` used in order, so the result is fully determined by the
    arguments (about 0.15 ms an image at 64x64 on one core).

    Args:
        captions: a non-empty sequence of captions from `caption_combinations()`.
        image_size: int >= 32, the side of the square images in pixels.
        seed: int, the generator's seed.

    Returns:
        `(images, captions)`: a uint8 array (N, image_size, image_size, 3) and the captions
        as a new list.

    Example:

    >>> images, caps = generate_shape_scenes(["two large white squares", "a small red circle"])
    >>> images.shape, images.dtype.name, caps[0]
    ((2, 64, 64, 3), 'uint8', 'two large white squares')
    """
    captions = [captions] if isinstance(captions, str) else list(captions)
    if not captions:
        raise ValueError("`captions` must hold at least one caption, got an empty sequence.")
    specs = [_spec(c, "captions") for c in captions]
    size = _check_image_size(image_size)
    rng = np.random.default_rng(seed)
    images = np.empty((len(captions), size, size, 3), np.uint8)
    for i, spec in enumerate(specs):
        images[i] = _render(_sample_objects(spec, rng), size, rng)
    return images, captions


def _check_positive(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")


def _draw_captions(by_kind, fractions, count, rng):
    """`count` captions: exact kind quotas (rounded), combinations uniform within a kind."""
    kinds = list(fractions)
    quotas = [int(round(fractions[k] * count)) for k in kinds[1:]]
    quotas = [count - sum(quotas)] + quotas
    drawn = []
    for kind, quota in zip(kinds, quotas):
        combos = by_kind[kind]
        drawn += [combos[i] for i in rng.integers(len(combos), size=quota)]
    return [drawn[i] for i in rng.permutation(count)]


def shape_scene_splits(train_size=20000, validation_size=1000, test_size=2000, image_size=64,
                       seed=0, held_out_fraction=0.2, train_kind_fractions=None):
    """Train/validation/test scenes whose validation and test captions never occur in train.

    Rule: the singles (30) all stay in train. Of the pair (1740) and count (60)
    combinations, a seeded `round(held_out_fraction * n)` of each kind is held out and cut in
    two halves: the first half (rounded down) for validation, the rest for test; the others
    are train combinations. Every word of `VOCABULARY` and every (size, colour, shape) object
    must occur in a train caption (checked; a ValueError otherwise), so held-out captions are
    new compositions of seen parts. Examples: train is 20% singles / 60% pairs / 20% counts,
    validation and test (no singles to use) 75% pairs / 25% counts (exact quotas, rounded),
    combinations uniform within a kind, order shuffled. With the defaults: train 1470
    combinations (30 + 1392 + 48), validation 180 (174 + 6), test 180 (174 + 6).

    Args:
        train_size, validation_size, test_size: positive ints, the numbers of images.
        image_size: int >= 32, the side of the square images in pixels.
        seed: int; it fixes the combination split and every image.
        held_out_fraction: float in (0, 1), the fraction of pair and count combinations
            held out (half for validation, half for test).
        train_kind_fractions: dict `{"single": f1, "pair": f2, "count": f3}` (fractions
            summing to 1) for the train split; default 0.2 / 0.6 / 0.2.

    Returns:
        A dict with "train", "validation", "test" -> `(images uint8 (N, H, W, 3),
        captions list[str])` and "info" -> a dict with the rule, the combinations of each
        split, their numbers (per kind too) and the arguments.

    Example:

    >>> splits = shape_scene_splits(40, 8, 8, image_size=32, seed=1)
    >>> splits["train"][0].shape, splits["info"]["num_combinations"]
    ((40, 32, 32, 3), {'train': 1470, 'validation': 180, 'test': 180, 'total': 1830})
    >>> set(splits["test"][1]) & set(splits["info"]["combinations"]["train"])
    set()
    """
    for name, value in (("train_size", train_size), ("validation_size", validation_size),
                        ("test_size", test_size)):
        _check_positive(name, value)
    _check_image_size(image_size)
    if isinstance(held_out_fraction, bool) or not isinstance(
            held_out_fraction, (int, float, np.floating)) or not 0 < held_out_fraction < 1:
        raise ValueError(
            f"`held_out_fraction` must be in (0, 1), got held_out_fraction={held_out_fraction!r}.")
    train_fractions = dict(_TRAIN_KIND_FRACTIONS)
    if train_kind_fractions is not None:
        given = dict(train_kind_fractions)
        if set(given) != set(KINDS) or any(not 0 <= float(v) <= 1 for v in given.values()) \
                or abs(sum(float(v) for v in given.values()) - 1.0) > 1e-6:
            raise ValueError(f"`train_kind_fractions` must map each of {list(KINDS)} to a "
                             f"fraction, summing to 1; got {train_kind_fractions!r}.")
        train_fractions = {kind: float(given[kind]) for kind in train_fractions}
    split_seq, *image_seqs = np.random.SeedSequence(seed).spawn(4)
    split_rng = np.random.default_rng(split_seq)
    by_kind = {kind: [] for kind in KINDS}
    for caption in caption_combinations():
        by_kind[_specs()[caption][0]].append(caption)
    names = ("train", "validation", "test")
    combos = {name: {kind: [] for kind in KINDS} for name in names}
    combos["train"]["single"] = list(by_kind["single"])
    for kind in ("pair", "count"):
        shuffled = [by_kind[kind][i] for i in split_rng.permutation(len(by_kind[kind]))]
        held = int(round(held_out_fraction * len(shuffled)))
        if held < 2 or held >= len(shuffled):
            raise ValueError(
                f"`held_out_fraction`={held_out_fraction} holds out {held} of the "
                f"{len(shuffled)} {kind} combinations; it must leave at least one for each of "
                "validation and test and one for train.")
        combos["validation"][kind] = sorted(shuffled[:held // 2])
        combos["test"][kind] = sorted(shuffled[held // 2:held])
        combos["train"][kind] = sorted(shuffled[held:])
    train_words = {w for kind in KINDS for c in combos["train"][kind] for w in c.split()}
    missing = [w for w in VOCABULARY if w not in train_words]
    train_objects = {_specs()[c][1] for c in combos["train"]["single"]}
    if missing or len(train_objects) != len(_triples()):
        raise ValueError(
            f"`held_out_fraction`={held_out_fraction} with seed={seed} leaves the words "
            f"{missing} out of train; use a smaller held_out_fraction or another seed.")
    fractions = {"train": train_fractions, "validation": _HELD_OUT_KIND_FRACTIONS,
                 "test": _HELD_OUT_KIND_FRACTIONS}
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    result = {}
    for name, seq in zip(names, image_seqs):
        rng = np.random.default_rng(seq)
        captions = _draw_captions(combos[name], fractions[name], int(sizes[name]), rng)
        image_seed = int(rng.integers(2**63 - 1))
        result[name] = generate_shape_scenes(captions, image_size, seed=image_seed)
    per_split = {name: sorted(c for kind in KINDS for c in combos[name][kind]) for name in names}
    num = {name: len(per_split[name]) for name in names}
    num["total"] = sum(num.values())
    result["info"] = {
        "rule": ("all 30 singles in train; round(held_out_fraction * n) of the pair and of "
                 "the count combinations held out (seeded), first half validation, rest "
                 "test; every vocabulary word and object occurs in train"),
        "num_combinations": num,
        "num_combinations_per_kind": {
            name: {kind: len(combos[name][kind]) for kind in KINDS} for name in names},
        "combinations": per_split,
        "kind_fractions": {name: dict(fractions[name]) for name in names},
        "seed": seed,
        "image_size": int(image_size),
        "held_out_fraction": held_out_fraction,
    }
    return result


def png_bytes(images):
    """uint8 images `(N, S, S, 3)` → a list of PNG files (lossless: decoding gives them back)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(images).map(
        tf.io.encode_png, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return [png for batch in ds.batch(1024).as_numpy_iterator() for png in batch]
