import keras
import numpy as np
import pytest

from keras_seq.layers import ElmanRNNCell
from tests import numpy_reference as ref
from tests.layer_harness import assert_padding_invariant, run_layer_test


def relu(z):
    return np.maximum(z, 0)


def test_lecture_worked_example():
    """U, V, W of the lecture, zero biases, ReLU.

    h_{t-1}=[1,0,0], x_t=[1,0] -> h_t=[1,0,0], o_t=1.
    """
    cell = ElmanRNNCell(3, output_units=1, activation="relu")
    cell.build((None, 2))
    cell.U.assign([[1, 0], [0, 1], [-1, 0]])
    cell.V.assign([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    cell.W.assign([[1, 0, -1]])
    assert tuple(cell.U.shape) == (3, 2) and tuple(cell.V.shape) == (3, 3)
    assert tuple(cell.W.shape) == (1, 3)
    np.testing.assert_array_equal(np.array(cell.b_h), [0, 0, 0])
    np.testing.assert_array_equal(np.array(cell.b_o), [0])
    o, [h] = cell(np.array([[1.0, 0.0]], "float32"), [np.array([[1.0, 0.0, 0.0]], "float32")])
    np.testing.assert_array_equal(np.array(h), [[1, 0, 0]])
    np.testing.assert_array_equal(np.array(o), [[1]])


def test_matches_numpy_transcription_over_a_sequence():
    rnn = keras.layers.RNN(
        ElmanRNNCell(5, output_units=3, activation="relu", output_activation="sigmoid",
                     bias_initializer="random_normal"),
        return_sequences=True,
        return_state=True,
    )
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    outputs, state = rnn(x)
    c = rnn.cell
    expected_o, expected_h = ref.elman_sequence(
        x, *(np.array(w) for w in (c.U, c.V, c.W, c.b_h, c.b_o)),
        f=relu, g=lambda z: 1 / (1 + np.exp(-z)),
    )
    np.testing.assert_allclose(np.array(outputs), expected_o, atol=1e-5)
    np.testing.assert_allclose(np.array(state), expected_h, atol=1e-5)


def test_without_output_layer_output_is_state():
    cell = ElmanRNNCell(4)
    rnn = keras.layers.RNN(cell, return_state=True)
    out, state = rnn(np.ones((2, 3, 2), "float32"))
    assert cell.W is None and cell.b_o is None
    np.testing.assert_array_equal(np.array(out), np.array(state))


@pytest.mark.parametrize("output_units", [None, 3])
def test_harness(output_units):
    x = np.random.default_rng(1).normal(size=(4, 6, 5)).astype("float32")
    run_layer_test(
        keras.layers.RNN,
        dict(cell=ElmanRNNCell(8, output_units=output_units), return_sequences=True),
        {"sequences": x},
        expected_output_shape=(4, 6, output_units or 8),
        run_mixed_precision=False,
    )


def test_mixed_precision_cell():
    rnn = keras.layers.RNN(
        ElmanRNNCell(8, output_units=2, dtype="mixed_bfloat16"), dtype="mixed_bfloat16"
    )
    out = rnn(np.ones((2, 3, 4), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert rnn.cell.U.dtype == "float32"
    assert np.all(np.isfinite(np.array(keras.ops.cast(out, "float32"))))


@pytest.mark.parametrize("output_units", [None, 2])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_padding_invariance_inside_rnn(output_units, zero_output_for_mask):
    if (keras.backend.backend() == "jax" and output_units is not None
            and not zero_output_for_mask):
        pytest.skip("Keras's JAX rnn (unroll=False) carries states[0] forward as the output "
                    "at masked steps, so o_t must equal h_t there; use "
                    "zero_output_for_mask=True (or unroll=True) with output_units on JAX")
    rnn = keras.layers.RNN(ElmanRNNCell(6, output_units=output_units), return_sequences=True,
                           zero_output_for_mask=zero_output_for_mask)
    x = np.random.default_rng(2).normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1] * 5, [1] * 3 + [0] * 2, [1] + [0] * 4], bool)
    assert_padding_invariant(lambda a, m: rnn(a, mask=m), x, mask)


def test_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        ElmanRNNCell(0)
    with pytest.raises(ValueError, match="output_units"):
        ElmanRNNCell(3, output_units=-1)
