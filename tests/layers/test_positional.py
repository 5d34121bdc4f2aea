import keras
import numpy as np
import pytest

from keras_seq.compat import get_keras_mask
from keras_seq.layers import PositionalEmbedding, SinusoidalPositionalEncoding
from tests import numpy_reference as ref
from tests.layer_harness import run_layer_test

IDS = np.array([[4, 9, 2, 0, 0], [1, 2, 3, 4, 5]], "int32")


@pytest.mark.parametrize("dim", [6, 7])
def test_sinusoidal_matches_formula(dim):
    layer = SinusoidalPositionalEncoding()
    out = np.array(layer(np.zeros((2, 9, dim), "float32")))
    np.testing.assert_allclose(out[0], ref.sinusoidal(9, dim), atol=1e-5)
    np.testing.assert_array_equal(out[0], out[1])
    shifted = np.array(layer(np.zeros((1, 4, dim), "float32"), start_index=5))
    np.testing.assert_allclose(shifted[0], ref.sinusoidal(9, dim)[5:], atol=1e-5)


def test_sinusoidal_harness():
    run_layer_test(
        SinusoidalPositionalEncoding,
        dict(max_wavelength=100.0),
        {"inputs": np.zeros((2, 5, 8), "float32")},
        expected_output_shape=(2, 5, 8),
        run_training=False,
    )


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_positional_embedding_harness(position):
    run_layer_test(
        PositionalEmbedding,
        dict(vocabulary_size=10, sequence_length=8, embedding_dim=6, position=position),
        {"token_ids": IDS},
        expected_output_shape=(2, 5, 6),
    )


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_is_token_embedding_plus_position(position):
    layer = PositionalEmbedding(10, 8, 6, position=position, scale_embeddings=True)
    out = np.array(layer(IDS))
    E = np.array(layer.token_embedding.embeddings)
    P = np.array(layer.position_embedding) if position == "learned" else ref.sinusoidal(8, 6)
    expected = E[IDS] * np.sqrt(6) + P[None, :5]
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_start_index_matches_one_shot(position):
    layer = PositionalEmbedding(10, 8, 6, position=position)
    full = np.array(layer(IDS))
    steps = [np.array(layer(IDS[:, t : t + 1], start_index=t)) for t in range(5)]
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-6)


def test_mask_propagates_to_downstream_layers():
    inputs = keras.Input((None,), dtype="int32")
    x = PositionalEmbedding(10, 8, 4)(inputs)
    assert get_keras_mask(x) is not None
    mask = np.array(PositionalEmbedding(10, 8, 4).compute_mask(IDS))
    np.testing.assert_array_equal(mask, IDS != 0)
    assert PositionalEmbedding(10, 8, 4, mask_zero=False).compute_mask(IDS) is None


def test_errors():
    with pytest.raises(ValueError, match="position"):
        PositionalEmbedding(10, 8, 4, position="rotary")
    with pytest.raises(ValueError, match="sequence_length"):
        PositionalEmbedding(10, 0, 4)
    layer = PositionalEmbedding(10, 4, 4, position="learned")
    with pytest.raises(ValueError, match="exceed"):
        layer(IDS)
    with pytest.raises(ValueError, match="max_wavelength"):
        SinusoidalPositionalEncoding(max_wavelength=1)
