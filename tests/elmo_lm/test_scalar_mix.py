"""ScalarMix: the layer harness, the formula against NumPy, masks and argument errors."""

import numpy as np
import pytest
from keras import ops

from keras_seq.layers.scalar_mix import ScalarMix
from tests.layer_harness import assert_padding_invariant, run_layer_test


def _stack(rng, b=2, layers=3, t=5, d=4):
    return rng.normal(size=(b, layers, t, d)).astype("float32")


def test_scalar_mix_through_the_layer_harness():
    x = _stack(np.random.default_rng(0))
    run_layer_test(ScalarMix, {"num_layers": 3}, {"inputs": x}, expected_output_shape=(2, 5, 4))
    run_layer_test(ScalarMix, {"num_layers": 3, "layer_norm": True,
                               "initial_scalar_parameters": [0.5, -1.0, 2.0]},
                   {"inputs": x}, expected_output_shape=(2, 5, 4))


def _numpy_mix(x, s, gamma, mask=None, layer_norm=False):
    if layer_norm:
        m = np.ones(x.shape[::2][:1] + x.shape[2:3], bool) if mask is None else mask
        out = np.empty_like(x)
        for b in range(x.shape[0]):
            for j in range(x.shape[1]):
                real = x[b, j][m[b]]
                out[b, j] = (x[b, j] - real.mean()) / np.sqrt(real.var() + 1e-12)
        x = out
    w = np.exp(s - s.max())
    w /= w.sum()
    return gamma * np.einsum("bltd,l->btd", x, w)


def test_formula_matches_a_numpy_transcription():
    rng = np.random.default_rng(1)
    x = _stack(rng, layers=4)
    mix = ScalarMix(4)
    mix.build(x.shape)
    s, gamma = np.array([0.3, -1.2, 2.0, 0.1], "float32"), 1.7
    mix.scalar_parameters.assign(s)
    mix.gamma.assign(gamma)
    np.testing.assert_allclose(ops.convert_to_numpy(mix(x)), _numpy_mix(x, s, gamma),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(mix.layer_weights()),
                               np.exp(s) / np.exp(s).sum(), rtol=1e-6)
    # s = 0, γ = 1 (the initial state) is the plain mean of the layers.
    np.testing.assert_allclose(ops.convert_to_numpy(ScalarMix(4)(x)), x.mean(axis=1), atol=1e-6)


def test_layer_norm_uses_only_real_steps_and_padding_changes_nothing():
    rng = np.random.default_rng(2)
    x = _stack(rng, t=6)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    x = x * mask[:, None, :, None]
    mix = ScalarMix(3, layer_norm=True)
    out = ops.convert_to_numpy(mix(x, padding_mask=mask))
    expected = _numpy_mix(x, np.zeros(3), 1.0, mask, layer_norm=True)
    np.testing.assert_allclose(out * mask[..., None], expected * mask[..., None], atol=1e-4)

    def fn(stack, m):  # the harness pads the time axis of (B, T, L, D); mix wants (B, L, T, D)
        return mix(np.transpose(stack, (0, 2, 1, 3)), padding_mask=m)

    assert_padding_invariant(fn, np.transpose(x, (0, 2, 1, 3)), mask, atol=1e-4)


def test_mask_is_propagated_and_bad_arguments_name_themselves():
    x = _stack(np.random.default_rng(3))
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    assert np.array_equal(ops.convert_to_numpy(ScalarMix(3).compute_mask(x, mask)), mask)
    with pytest.raises(ValueError, match="num_layers"):
        ScalarMix(0)
    with pytest.raises(ValueError, match="initial_scalar_parameters"):
        ScalarMix(3, initial_scalar_parameters=[0.0, 1.0])
    with pytest.raises(ValueError, match="num_layers=2"):
        ScalarMix(2)(x)
