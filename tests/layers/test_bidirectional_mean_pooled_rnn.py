import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_seq.layers import BidirectionalMeanPooledRNN, ElmanRNNCell
from tests import numpy_reference as ref
from tests.layer_harness import assert_padding_invariant, run_layer_test

ROOT = pathlib.Path(__file__).resolve().parents[2]

RNNS = {
    "simple_rnn": lambda: keras.layers.SimpleRNN(4),
    "gru": lambda: keras.layers.GRU(4),
    "lstm": lambda: keras.layers.LSTM(4),
    "elman": lambda: keras.layers.RNN(ElmanRNNCell(4)),
}


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_harness(kind):
    x = np.random.default_rng(0).normal(size=(3, 6, 5)).astype("float32")
    run_layer_test(
        BidirectionalMeanPooledRNN,
        dict(layer=RNNS[kind]()),
        {"inputs": x},
        expected_output_shape=(3, 8),
    )


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_padding_does_not_change_the_result(kind):
    layer = BidirectionalMeanPooledRNN(RNNS[kind]())
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype("float32")
    mask = np.array([[1] * 5, [1] * 2 + [0] * 3, [1] * 4 + [0]], bool)
    x = x * mask[..., None]
    assert_padding_invariant(lambda a, m: layer(a, padding_mask=m), x, mask, extra=4)
    # and the padded tail's content is irrelevant, too
    noisy = x + (~mask[..., None]) * 7.0
    np.testing.assert_allclose(
        np.array(layer(noisy, padding_mask=mask)), np.array(layer(x, padding_mask=mask)), atol=1e-5
    )


def test_matches_numpy_transcription():
    """h_t = [h→_t; h←_t]; h̄ = 1/T Σ_{t≤T} h_t with T the true length (SimpleRNN cells)."""
    layer = BidirectionalMeanPooledRNN(keras.layers.SimpleRNN(3))
    x = np.random.default_rng(2).normal(size=(2, 6, 4)).astype("float32")
    lengths = [6, 3]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    out = np.array(layer(x, padding_mask=mask))
    fwd = [np.array(w) for w in layer.forward_layer.weights]
    bwd = [np.array(w) for w in layer.backward_layer.weights]
    for b, T in enumerate(lengths):
        h_f = ref.simple_rnn(x[b, :T], *fwd)
        h_b = ref.simple_rnn(x[b, :T][::-1], *bwd)[::-1]
        expected = np.concatenate([h_f, h_b], -1).mean(0)
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


def test_mean_max_pooling_matches_numpy_and_ignores_padding():
    """pooling="mean_max": [h̄ ; max_{t<=T} h_t] over the true length T."""
    run_layer_test(
        BidirectionalMeanPooledRNN,
        dict(layer=keras.layers.GRU(4), pooling="mean_max"),
        {"inputs": np.random.default_rng(3).normal(size=(3, 6, 5)).astype("float32")},
        expected_output_shape=(3, 16),
    )
    layer = BidirectionalMeanPooledRNN(keras.layers.SimpleRNN(3), pooling="mean_max")
    x = np.random.default_rng(2).normal(size=(3, 6, 4)).astype("float32")
    lengths = [6, 3, 0]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    out = np.array(layer(x + (~mask[..., None]) * 50.0, padding_mask=mask))  # loud padding
    assert out.shape == (3, 12)
    fwd = [np.array(w) for w in layer.forward_layer.weights]
    bwd = [np.array(w) for w in layer.backward_layer.weights]
    for b, T in enumerate(lengths[:2]):
        h_f = ref.simple_rnn(x[b, :T], *fwd)
        h_b = ref.simple_rnn(x[b, :T][::-1], *bwd)[::-1]
        h = np.concatenate([h_f, h_b], -1)  # (T, 6)
        np.testing.assert_allclose(out[b], np.concatenate([h.mean(0), h.max(0)]), atol=1e-5)
    np.testing.assert_array_equal(out[2], np.zeros(12))  # nothing real: zeros, no -1e9
    with pytest.raises(ValueError, match="pooling"):
        BidirectionalMeanPooledRNN(keras.layers.GRU(3), pooling="max")


@pytest.mark.parametrize("pooling", ["mean", "mean_max"])
def test_any_mask_gives_the_states_of_masked_keras_rnns(pooling):
    """Left padding and holes too: the packed, unmasked RNNs equal Keras's masked ones."""
    layer = BidirectionalMeanPooledRNN(keras.layers.GRU(3), pooling=pooling)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 7, 2)).astype("float32")
    mask = np.array([[0, 0, 1, 1, 1, 1, 1],   # left padding
                     [1, 0, 1, 1, 0, 0, 1],   # holes
                     [1, 1, 1, 1, 1, 1, 1],
                     [1, 1, 1, 0, 0, 0, 0]], bool)
    out = np.array(layer(x, padding_mask=mask))
    forward = keras.layers.GRU(3, return_sequences=True)
    backward = keras.layers.GRU(3, return_sequences=True, go_backwards=True)
    for rnn, source in ((forward, layer.forward_layer), (backward, layer.backward_layer)):
        rnn.build(x.shape)
        rnn.set_weights(source.get_weights())
    h_f = np.array(forward(x, mask=mask))  # (B, T, 3), masked steps carry the state
    h_b = np.array(backward(x, mask=mask))[:, ::-1]  # back in time order
    h = np.concatenate([h_f, h_b], -1)  # (B, T, 6)
    for b in range(4):
        real = h[b][mask[b]]
        expected = real.mean(0)
        if pooling == "mean_max":
            expected = np.concatenate([expected, real.max(0)])
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


def test_keras_mask_from_embedding_is_used():
    ids = np.array([[5, 2, 7, 0, 0], [1, 2, 3, 4, 5]])
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    pooled = BidirectionalMeanPooledRNN(keras.layers.GRU(3))(h)
    model = keras.Model(inputs, pooled)
    a = np.array(model(ids))
    b = np.array(model(np.pad(ids, [(0, 0), (0, 6)])))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_rejects_non_rnn_layer():
    with pytest.raises(ValueError, match="keras.layers.RNN"):
        BidirectionalMeanPooledRNN(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="return_state"):
        BidirectionalMeanPooledRNN(keras.layers.GRU(3, return_state=True))


def test_last_pooling_harness():
    run_layer_test(
        BidirectionalMeanPooledRNN,
        dict(layer=keras.layers.GRU(4), pooling="last"),
        {"inputs": np.random.default_rng(5).normal(size=(3, 6, 5)).astype("float32")},
        expected_output_shape=(3, 8),
    )


def test_last_pooling_matches_numpy_transcription():
    """pooling="last": [h→_T ; h←_1], the final state of each direction over x_1..x_T.

    T is the true length: the forward RNN stops at the last real step and the backward RNN,
    reading x_T .. x_1, ends at the first step. Loud padding must not leak in.
    """
    layer = BidirectionalMeanPooledRNN(keras.layers.SimpleRNN(3), pooling="last")
    x = np.random.default_rng(6).normal(size=(4, 6, 4)).astype("float32")
    lengths = [6, 3, 1, 0]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    out = np.array(layer(x + (~mask[..., None]) * 50.0, padding_mask=mask))
    assert out.shape == (4, 6)
    fwd = [np.array(w) for w in layer.forward_layer.weights]
    bwd = [np.array(w) for w in layer.backward_layer.weights]
    for b, T in enumerate(lengths[:3]):
        h_forward_T = ref.simple_rnn(x[b, :T], *fwd)[-1]
        h_backward_1 = ref.simple_rnn(x[b, :T][::-1], *bwd)[-1]
        np.testing.assert_allclose(out[b], np.concatenate([h_forward_T, h_backward_1]),
                                   atol=1e-5)
    np.testing.assert_array_equal(out[3], np.zeros(6))  # nothing real: zeros
    # Without any mask the layer reads every step: the padding then changes the result.
    unmasked = np.array(layer(x * mask[..., None]))
    h_forward_end = ref.simple_rnn((x * mask[..., None])[1], *fwd)[-1]
    np.testing.assert_allclose(unmasked[1, :3], h_forward_end, atol=1e-5)
    assert np.abs(unmasked[1] - out[1]).max() > 1e-3


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_last_pooling_is_padding_invariant(kind):
    layer = BidirectionalMeanPooledRNN(RNNS[kind](), pooling="last")
    x = np.random.default_rng(7).normal(size=(3, 5, 2)).astype("float32")
    mask = np.array([[1] * 5, [1] * 2 + [0] * 3, [0] + [1] * 3 + [0]], bool)  # left pad too
    x = x * mask[..., None]
    assert_padding_invariant(lambda a, m: layer(a, padding_mask=m), x, mask, extra=4)


def test_last_pooling_with_holes_equals_masked_keras_rnns():
    """Holes in the mask: the forward state at the last real step, backward at the first."""
    layer = BidirectionalMeanPooledRNN(keras.layers.LSTM(3), pooling="last")
    x = np.random.default_rng(8).normal(size=(2, 7, 2)).astype("float32")
    mask = np.array([[0, 1, 0, 1, 1, 0, 0], [1, 1, 0, 1, 0, 1, 1]], bool)
    out = np.array(layer(x, padding_mask=mask))
    forward = keras.layers.LSTM(3, return_state=True)
    backward = keras.layers.LSTM(3, return_state=True, go_backwards=True)
    for rnn, source in ((forward, layer.forward_layer), (backward, layer.backward_layer)):
        rnn.build(x.shape)
        rnn.set_weights(source.get_weights())
    h_f = np.array(forward(x, mask=mask)[1])  # final h after the last real step
    h_b = np.array(backward(x, mask=mask)[1])
    np.testing.assert_allclose(out, np.concatenate([h_f, h_b], -1), atol=1e-5)


def test_template_rnn_is_not_a_tracked_unbuilt_sublayer():
    pool = BidirectionalMeanPooledRNN(keras.layers.GRU(4, name="gru_template"))
    pool(np.zeros((2, 5, 3), "float32"))
    assert pool.forward_layer.built and pool.backward_layer.built
    assert not any("gru_template" in w.path.split("/") for w in pool.weights)
    assert pool.layer.name == "gru_template" and not pool.layer.built  # a fresh copy
    assert len(pool.trainable_weights) == 6  # forward + backward GRU: kernel, recurrent, bias


_JAX_RETRACE = """
import numpy as np, keras
from keras_seq.layers import BidirectionalMeanPooledRNN
traces = []
class Head(keras.layers.Dense):
    def call(self, x):
        traces.append(1)  # a Python side effect: runs once per trace
        return super().call(x)
inp = keras.Input((None,), dtype="int32")
x = keras.layers.Embedding(50, 8, mask_zero=True)(inp)
x = BidirectionalMeanPooledRNN(keras.layers.GRU(4))(x)
m = keras.Model(inp, Head(1, activation="sigmoid")(x))
m.compile("adam", "binary_crossentropy")
X = np.random.randint(1, 50, (8, 10)); y = np.ones((8, 1), "float32")
m.train_on_batch(X, y)
first = len(traces)
for _ in range(3):
    m.train_on_batch(X, y)
print(len(traces) - first)
"""


def test_train_on_batch_traces_once_under_jax():
    # The template RNN used to stay a tracked, never-built sublayer, and Keras's JAX trainer
    # then re-traced the train step on every train_on_batch (3 extra traces here).
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", _JAX_RETRACE], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0"
