"""ImageSelfSimilarity: harness, the maths against a direct NumPy loop, and what it measures."""

import numpy as np
import pytest

from keras_seq.data.shape_scenes import sample_scene
from keras_seq.layers import ConvImageEncoder, ImageSelfSimilarity
from tests.layer_harness import run_layer_test

MAPS = np.random.default_rng(0).normal(size=(2, 8, 6, 5)).astype("float32")


def _direct_scores(g, min_shift):
    """max over shifts |d|∞ >= m of Σ_p g(p)·g(p+d) / Σ_p |g(p)|², one shift at a time."""
    g = g - g.mean(axis=(0, 1))  # (H, W, C)
    height, width = g.shape[:2]
    best = -np.inf
    for dy in range(-height + 1, height):
        for dx in range(-width + 1, width):
            if max(abs(dy), abs(dx)) < min_shift:
                continue
            a = g[max(0, dy):height + min(0, dy), max(0, dx):width + min(0, dx)]
            b = g[max(0, -dy):height + min(0, -dy), max(0, -dx):width + min(0, -dx)]
            best = max(best, float((a * b).sum()))
    return best / float((g * g).sum())


def test_harness():
    run_layer_test(ImageSelfSimilarity, dict(num_heads=2, key_dim=3, min_shift=2),
                   {"features": MAPS}, expected_output_shape=(2, 2))


def test_harness_without_weights():
    run_layer_test(ImageSelfSimilarity, dict(key_dim=None, min_shift=3), {"features": MAPS},
                   expected_output_shape=(2, 1), run_training=False)


@pytest.mark.parametrize("min_shift", [1, 3, 5])
def test_matches_a_direct_loop_over_shifts(min_shift):
    raw = ImageSelfSimilarity(key_dim=None, min_shift=min_shift)
    scores = np.array(raw(MAPS))
    for b in range(2):
        np.testing.assert_allclose(scores[b, 0], _direct_scores(MAPS[b], min_shift), atol=1e-5)
    learned = ImageSelfSimilarity(num_heads=2, key_dim=3, min_shift=min_shift)
    scores = np.array(learned(MAPS))
    (kernel,) = (np.array(w) for w in learned.projection.weights)  # (C, K, D); no bias
    projected = np.einsum("bhwc,ckd->bkdhw", MAPS, kernel)  # (B, K, D, H, W)
    for b in range(2):
        for k in range(2):
            g = projected[b, k].transpose(1, 2, 0)  # (H, W, D)
            np.testing.assert_allclose(scores[b, k], _direct_scores(g, min_shift), atol=1e-4)


def test_two_identical_objects_score_half_and_beat_different_pairs():
    """On rendered scenes (no training): 'two X' ≈ 1/2 whatever X; different pairs lower."""
    layer = ImageSelfSimilarity(key_dim=None, min_shift=14)
    rng = np.random.default_rng(3)
    captions = {
        "two": ["two large blue circles", "two small red squares", "two large white triangles"],
        "different": ["a large blue circle left of a small green square",
                      "a large red triangle above a large yellow circle"],
        "one": ["a large blue square", "a small white circle"],
    }
    scores = {}
    for kind, caps in captions.items():
        images = np.stack([sample_scene(c, 64, rng)[0] for c in caps for _ in range(4)])
        scores[kind] = np.array(layer(images.astype("float32") / 255.0))[:, 0]
    assert np.all(np.abs(scores["two"] - 0.5) < 0.15), scores["two"]
    assert scores["two"].min() > scores["different"].max()
    assert scores["two"].min() > scores["one"].max()


def test_conv_encoder_appends_the_scores():
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    kwargs = dict(filters=(4, 8), embedding_dim=6, self_similarity=True, self_similarity_heads=2)
    run_layer_test(ConvImageEncoder, kwargs, {"images": images},
                   expected_output_shape=[(2, 64, 8), (2, 9)], run_save=True)
    encoder = ConvImageEncoder(**kwargs)
    _, vector = encoder(images)
    image_score = np.array(ImageSelfSimilarity(key_dim=None, min_shift=7)(images))
    np.testing.assert_allclose(np.array(vector)[:, 6:7], image_score, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        ImageSelfSimilarity(num_heads=0)
    with pytest.raises(ValueError, match="key_dim"):
        ImageSelfSimilarity(key_dim=0)
    with pytest.raises(ValueError, match="min_shift"):
        ImageSelfSimilarity(min_shift=8)(MAPS)  # an 8x6 map has no shift of 8
    with pytest.raises(ValueError, match="known map size"):
        ImageSelfSimilarity().build((None, None, None, 3))
    with pytest.raises(ValueError, match="needs `self_similarity=True`"):
        ConvImageEncoder(self_similarity_heads=2)
    with pytest.raises(ValueError, match="self_similarity_min_shift"):
        ConvImageEncoder(self_similarity=True, self_similarity_min_shift=1.5)
