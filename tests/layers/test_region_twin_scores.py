"""RegionTwinScores: harness, the maths against NumPy, and what it measures."""

import numpy as np
import pytest

from keras_seq.layers import ConvImageEncoder, RegionTwinScores
from tests.layer_harness import run_layer_test

GRID = np.random.default_rng(0).normal(size=(2, 16, 6)).astype("float32")


def test_harness():
    run_layer_test(RegionTwinScores, dict(num_heads=2, key_dim=4, grid_shape=(4, 4)),
                   {"grid": GRID}, expected_output_shape=[(2, 16, 2), (2, 2)])


def test_matches_numpy_formula():
    layer = RegionTwinScores(num_heads=2, key_dim=4, grid_shape=(4, 4), min_distance=2)
    per_region, per_image = (np.array(t) for t in layer(GRID))
    (kernel,) = (np.array(w) for w in layer.appearance.weights)  # no bias: a is normalised
    a = np.einsum("bnc,ckd->bnkd", GRID, kernel)
    a /= np.sqrt((a ** 2).sum(-1, keepdims=True) + 1e-6)
    s = np.einsum("bnkd,bmkd->bknm", a, a)
    rows, cols = np.divmod(np.arange(16), 4)
    far = np.maximum(abs(rows[:, None] - rows), abs(cols[:, None] - cols)) >= 2
    beta = np.exp(float(np.array(layer.log_sharpness)))
    logits = np.where(far, beta * s, -1e9)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    twin = (w * np.where(far, s, 0)).sum(-1).transpose(0, 2, 1)  # (B, N, K)
    wo, bo = (np.array(v) for v in layer.objectness.weights)
    obj = 1 / (1 + np.exp(-(GRID @ wo + bo)))  # (B, N, 1)
    np.testing.assert_allclose(per_region, obj * twin, atol=1e-5)
    np.testing.assert_allclose(per_image, (obj * twin).sum(1) / (obj.sum(1) + 1e-6), atol=1e-5)


def test_a_repeated_pattern_scores_higher_than_two_different_ones():
    """Same weights, any pattern: a region whose features recur far away scores ~1."""
    rng = np.random.default_rng(1)
    layer = RegionTwinScores(num_heads=3, key_dim=8, grid_shape=(4, 4))
    for _ in range(5):
        x, y = rng.normal(size=(2, 6)).astype("float32")
        same = np.zeros((1, 16, 6), "float32")  # an empty background: features 0
        different = same.copy()
        same[0, 0], same[0, 15] = x, x  # the same thing in two far corners
        different[0, 0], different[0, 15] = x, y  # two different things
        t_same = np.array(layer(same)[0])[0, 0] / np.array(layer.objectness(same))[0, 0]
        t_diff = np.array(layer(different)[0])[0, 0] / np.array(layer.objectness(different))[0, 0]
        assert np.all(t_same > 0.99) and np.all(t_same > t_diff)


def test_conv_encoder_reads_twin_scores():
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    run_layer_test(ConvImageEncoder, dict(filters=(4, 8), embedding_dim=6, twin_heads=2),
                   {"images": images}, expected_output_shape=[(2, 64, 8), (2, 6)],
                   run_mixed_precision=True, run_save=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        RegionTwinScores(num_heads=0)
    with pytest.raises(ValueError, match="grid_shape"):
        RegionTwinScores(grid_shape=(4,))
    with pytest.raises(ValueError, match="regions"):
        RegionTwinScores(grid_shape=(4, 4))(GRID[:, :9])
    with pytest.raises(ValueError, match="twin_heads"):
        ConvImageEncoder(twin_heads=-1)
