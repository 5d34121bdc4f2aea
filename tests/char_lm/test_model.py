import keras
import numpy as np
import pytest

from keras_seq.generation import get_sampler
from keras_seq.models.char_language_model import CELLS, CharLanguageModel

RNG = np.random.default_rng(0)


def _model(cell, **kwargs):
    kwargs = {"hidden_dim": 12, "num_layers": 2, "embedding_dim": 6, **kwargs}
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
    out = model.generate(batch, 20, jit_compile=False)
    assert out.shape == (2, 20) and out.dtype == np.int32  # max_length: the whole buffer
    for row, prefix in enumerate(prefixes):  # each prompt moved to the left, then continued
        n = len(prefix)
        np.testing.assert_array_equal(out[row], _rerun_greedy(model, prefix, 20 - n))


def test_generate_is_traced_once_for_prompts_and_lengths_in_one_bucket():
    model = _model("lstm")
    model.generate(np.array([[3, 4, 5]]), 23)
    traces = model.generate_traces
    assert traces >= 1
    model.generate(np.array([[7, 8, 9, 10, 11]]), 35)  # same buckets (16, 64)
    model.generate(np.array([[2]]), 64)
    assert model.generate_traces == traces
    runner = next(iter(model._generate_runners().values()))
    assert runner.jit_compile is True  # XLA for the inference loop on CPU


def test_build_cache_reads_up_to_the_shortest_prompt():
    model = _model("gru")
    prompts = np.array([[5, 6, 7], [8, 9, 0]])  # right-padded; the shortest has 2 ids
    cache = model.build_cache(prompts, 8)
    _, expected = model(prompts[:, :1], return_state=True)  # everything before its last id
    for a, b in zip(cache, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # The loop goes on at index 2, reading id 1 of each row: the full forward's logits.
    full = np.asarray(model(prompts[:1]))
    logits, _, cache = model.call_with_cache(prompts, cache, 2)
    np.testing.assert_allclose(np.asarray(logits)[0], full[0, 1], atol=1e-5)
    # A one-id prompt: nothing to read before the loop, the zero state.
    for state in model.build_cache(np.array([[5, 0], [6, 7]]), 8):
        np.testing.assert_array_equal(np.asarray(state), 0.0)


def test_sampling_is_seeded_and_top_k_one_is_greedy():
    model = _model("lstm")
    prefix = np.array([[3, 4, 5]])
    a = model.generate(prefix, 33, sampler=get_sampler("random", temperature=1.0, seed=7))
    b = model.generate(prefix, 33, sampler=get_sampler("random", temperature=1.0, seed=7))
    np.testing.assert_array_equal(a, b)
    greedy = model.generate(prefix, 33)
    np.testing.assert_array_equal(
        model.generate(prefix, 33, sampler=get_sampler("top_k", k=1, temperature=1.0,
                                                       seed=1)), greedy)
    hot = model.generate(prefix, 203, sampler=get_sampler("random", temperature=5.0, seed=3))
    assert len(set(hot[0, 3:].tolist())) > len(set(greedy[0, 3:].tolist()))


def test_stateful_model_carries_the_state_across_batches_and_resets():
    model = CharLanguageModel(20, cell="lstm", hidden_dim=8, embedding_dim=4, stateful=True)
    stateless = CharLanguageModel(20, cell="lstm", hidden_dim=8, embedding_dim=4)
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
    out = model.generate(ids[:1, :4], 9, jit_compile=False)  # through a stateless twin
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
    ({"vocabulary_size": 20, "hidden_dim": 0}, "hidden_dim"),
    ({"vocabulary_size": 20, "dropout": 1.0}, "dropout"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CharLanguageModel(**kwargs)


def test_bad_generate_arguments():
    model = _model("gru")
    with pytest.raises(ValueError, match="inputs"):
        model.generate(np.array([3, 4]), 5)
    with pytest.raises(ValueError, match="non-padding"):
        model.generate(np.array([[3, 0], [0, 0]]), 5)
    with pytest.raises(ValueError, match="max_length"):
        model.generate(np.array([[3, 4]]), 2)
    with pytest.raises(ValueError, match="`k`"):
        model.generate(np.array([[3]]), 5, sampler=get_sampler("top_k", k=99))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[3]]), 5, sampler=get_sampler("random", temperature=-1.0))


JAX_SCRIPT = """
import numpy as np
import keras
assert keras.backend.backend() == "jax"
from keras_seq.generation import get_sampler
from keras_seq.models.char_language_model import CharLanguageModel
m = CharLanguageModel(20, cell="lstm", hidden_dim=8, embedding_dim=4)
p = np.array([[3, 4, 5]])
out = m.generate(p, 13)
seq = p
for _ in range(10):
    seq = np.concatenate([seq, [[int(np.argmax(np.asarray(m(seq))[0, -1]))]]], 1)
assert (out == seq).all(), (out, seq)
a = m.generate(p, 13, sampler=get_sampler("random", temperature=1.0, seed=3))
b = m.generate(p, 13, sampler=get_sampler("random", temperature=1.0, seed=3))
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
