"""HashDropout: harness, Dropout's maths, the statistics of its mask, noise_shape, XLA."""

import keras
import numpy as np
import pytest

from keras_seq.compat import get_keras_mask
from keras_seq.layers import HashDropout
from tests.layer_harness import run_layer_test

X = np.random.default_rng(0).normal(size=(4, 6, 5)).astype("float32")


def test_harness():
    run_layer_test(HashDropout, dict(rate=0.3, seed=2), {"inputs": X},
                   expected_output_shape=(4, 6, 5), run_training=False)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keeps_the_right_fraction_and_scales_like_keras_dropout(rate):
    x = np.random.default_rng(1).uniform(1, 2, size=(200, 500)).astype("float32")
    y = np.array(HashDropout(rate, seed=3)(x, training=True))
    kept = y != 0
    # 100,000 draws: the kept fraction is within 4 standard deviations of 1 - rate.
    assert abs(kept.mean() - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / x.size)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    # No pattern along either axis: every row and column keeps about 1 - rate.
    assert abs(kept.mean(axis=1) - (1 - rate)).max() < 0.12
    assert abs(kept.mean(axis=0) - (1 - rate)).max() < 0.2


def test_inference_and_rate_zero_pass_through():
    np.testing.assert_array_equal(np.array(HashDropout(0.5)(X)), X)
    np.testing.assert_array_equal(np.array(HashDropout(0.0)(X, training=True)), X)


def test_a_new_mask_every_call_and_reproducible_from_the_seed():
    a, b = HashDropout(0.5, seed=7), HashDropout(0.5, seed=7)
    first = np.array(a(X, training=True)) != 0
    second = np.array(a(X, training=True)) != 0
    assert (first != second).mean() > 0.3  # independent masks differ in ~half the places
    np.testing.assert_array_equal(np.array(b(X, training=True)) != 0, first)
    other = np.array(HashDropout(0.5, seed=8)(X, training=True)) != 0
    assert (other != first).mean() > 0.3


def test_noise_shape_drops_whole_vectors():
    y = np.array(HashDropout(0.5, noise_shape=(None, None, 1), seed=1)(np.ones((8, 50, 16),
                                                                               "float32"),
                                                                       training=True))
    rows = y.reshape(-1, 16)
    assert np.all((rows == 0).all(axis=1) | (rows == 2.0).all(axis=1))
    assert 0.3 < (rows[:, 0] > 0).mean() < 0.7
    with pytest.raises(ValueError, match="noise_shape"):
        HashDropout(0.5, noise_shape=(None, 1))(X, training=True)


def _compiled(fn):
    """XLA-compiles `fn` with the backend's own compiler."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


def test_same_in_a_compiled_function_and_keeps_the_mask():
    layer = HashDropout(0.4, seed=5)
    y = _compiled(lambda x: layer(x, training=True))(X)
    kept = np.array(y) != 0
    np.testing.assert_allclose(np.array(y)[kept], X[kept] / 0.6, rtol=1e-6)
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 3, mask_zero=True)(ids)
    assert get_keras_mask(HashDropout(0.5)(h)) is not None  # the padding mask passes on


def test_bad_arguments():
    for rate in (-0.1, 1.0, True, "0.5"):
        with pytest.raises(ValueError, match="rate"):
            HashDropout(rate)
