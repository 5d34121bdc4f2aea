import keras
import numpy as np
import pytest

from keras_seq.models.char_language_model import CELLS, CharLanguageModel

RNG = np.random.default_rng(0)


def _model(cell, **kwargs):
    kwargs = {"units": 12, "num_layers": 2, "embedding_dim": 6, **kwargs}
    model = CharLanguageModel(20, cell=cell, **kwargs)
    model(np.ones((1, 2), "int32"))
    return model


def _rerun_greedy(model, prefix, n):
    """Re-runs the whole model on the growing prefix (the slow, obviously-right way)."""
    seq = prefix[None]
    for _ in range(n):
        nxt = int(np.argmax(np.asarray(model(seq, training=False))[0, -1]))
        seq = np.concatenate([seq, [[nxt]]], axis=1)
    return seq[0]


@pytest.mark.parametrize("cell", CELLS)
def test_cached_generation_equals_rerunning_the_model_on_the_growing_prefix(cell):
    model = _model(cell)
    prefixes = [np.array([3, 4, 5, 6, 7]), np.array([9, 2])]
    batch = np.zeros((2, 5), "int32")
    batch[0], batch[1, 3:] = prefixes[0], prefixes[1]  # second row left-padded
    out = model.generate(batch, num_chars=15)
    assert out.shape == (2, 20)
    for row, prefix in enumerate(prefixes):
        expected = _rerun_greedy(model, prefix, 15)
        np.testing.assert_array_equal(out[row, -15:], expected[-15:])
    np.testing.assert_array_equal(out[:, :5], batch)


def test_generate_is_traced_once_for_prompts_and_lengths_in_one_bucket():
    model = _model("lstm")
    model.generate(np.array([[3, 4, 5]]), num_chars=20)
    traces = model.generate_traces
    assert traces >= 1
    model.generate(np.array([[7, 8, 9, 10, 11]]), num_chars=30)  # same buckets (64, 64)
    model.generate(np.array([[2]]), num_chars=64)
    assert model.generate_traces == traces
    runner = next(iter(model._runtime.generators.values()))
    assert runner.jit_compile is True  # XLA for the inference loop on CPU


def test_prefill_ignores_left_padding():
    model = _model("gru")
    ids = np.array([[5, 6, 7]])
    padded = np.array([[0, 0, 5, 6, 7]])
    for a, b in zip(model.prefill(ids), model.prefill(padded)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_sampling_is_seeded_and_top_k_one_is_greedy():
    model = _model("lstm")
    prefix = np.array([[3, 4, 5]])
    a = model.generate(prefix, 30, temperature=1.0, seed=7)
    b = model.generate(prefix, 30, temperature=1.0, seed=7)
    np.testing.assert_array_equal(a, b)
    greedy = model.generate(prefix, 30)
    np.testing.assert_array_equal(model.generate(prefix, 30, temperature=1.0, top_k=1, seed=1),
                                  greedy)
    hot = model.generate(prefix, 200, temperature=5.0, seed=3)
    assert len(set(hot[0, 3:].tolist())) > len(set(greedy[0, 3:].tolist()))


def test_stateful_model_carries_the_state_across_batches_and_resets():
    model = CharLanguageModel(20, cell="lstm", units=8, embedding_dim=4, stateful=True)
    stateless = CharLanguageModel(20, cell="lstm", units=8, embedding_dim=4)
    ids = RNG.integers(2, 20, (3, 12)).astype("int32")
    model(ids[:, :6])
    stateless(ids[:, :6])
    stateless.set_weights(model.get_weights())
    model.reset_rnn_states()
    first, second = np.asarray(model(ids[:, :6])), np.asarray(model(ids[:, 6:]))
    whole = np.asarray(stateless(ids))
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, atol=1e-5)
    model.reset_rnn_states()
    np.testing.assert_allclose(np.asarray(model(ids[:, :6])), whole[:, :6], atol=1e-5)
    out = model.generate(ids[:1, :4], 5)  # through a stateless twin
    assert out.shape == (1, 9)


def test_keras_save_and_load_keeps_outputs(tmp_path):
    model = _model("elman", embedding_dim=None, dropout=0.1)
    ids = RNG.integers(2, 20, (2, 7))
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(back(ids)), np.asarray(model(ids)), atol=1e-6)
    assert back.get_config()["cell"] == "elman"


@pytest.mark.parametrize("kwargs, match", [
    ({"vocabulary_size": 2}, "vocabulary_size"),
    ({"vocabulary_size": 20, "cell": "transformer"}, "cell"),
    ({"vocabulary_size": 20, "units": 0}, "units"),
    ({"vocabulary_size": 20, "dropout": 1.0}, "dropout"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CharLanguageModel(**kwargs)


def test_bad_generate_arguments():
    model = _model("gru")
    with pytest.raises(ValueError, match="prefix"):
        model.generate(np.array([3, 4]), 5)
    with pytest.raises(ValueError, match="prefix"):
        model.generate(np.array([[3, 0]]), 5)
    with pytest.raises(ValueError, match="num_chars"):
        model.generate(np.array([[3]]), 0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(np.array([[3]]), 5, temperature=1.0, top_k=99)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[3]]), 5, temperature=-1.0)


JAX_SCRIPT = """
import numpy as np
import keras
assert keras.backend.backend() == "jax"
from keras_seq.models.char_language_model import CharLanguageModel
m = CharLanguageModel(20, cell="lstm", units=8, embedding_dim=4)
p = np.array([[3, 4, 5]])
out = m.generate(p, 10)
seq = p
for _ in range(10):
    seq = np.concatenate([seq, [[int(np.argmax(np.asarray(m(seq))[0, -1]))]]], 1)
assert (out == seq).all(), (out, seq)
a = m.generate(p, 10, temperature=1.0, seed=3)
b = m.generate(p, 10, temperature=1.0, seed=3)
assert (a == b).all()
print("JAX OK")
"""


@pytest.mark.slow
def test_generate_on_the_jax_backend():
    import os
    import subprocess
    import sys

    pytest.importorskip("jax", reason="jax is not installed")
    from tests.char_lm.helpers import ROOT

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and "JAX OK" in proc.stdout, proc.stderr[-3000:]
