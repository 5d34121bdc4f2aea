"""Design rules: model code stays on keras + keras.ops and also runs on the JAX backend."""

import ast
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND_NEUTRAL = ["keras_seq/layers", "keras_seq/models", "keras_seq/generation"]
FORBIDDEN = ("tensorflow", "tensorflow_text", "keras_seq.data", "keras_seq.export",
             "keras_seq.callbacks", "keras_seq.applications")


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("folder", BACKEND_NEUTRAL)
def test_model_code_never_imports_tensorflow_or_higher_floors(folder):
    files = sorted((ROOT / folder).rglob("*.py"))
    bad = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in _imports(f)
        if any(name == x or name.startswith(x + ".") for x in FORBIDDEN)
    ]
    assert not bad, "\n".join(bad)


JAX_SCRIPT = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    assert keras.backend.backend() == "jax", keras.backend.backend()
    import keras_seq.layers as L
    assert "tensorflow" not in sys.modules, "keras_seq.layers pulled in tensorflow"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    m = rng.normal(size=(2, 4, 8)).astype("float32")
    ids = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5]])
    assert L.BidirectionalMeanPooledRNN(keras.layers.GRU(3))(x).shape == (2, 6)
    assert keras.layers.RNN(L.ElmanRNNCell(4, output_units=2))(x).shape == (2, 2)
    assert L.BahdanauAttention(4)(x[:, 0], m).shape == (2, 8)
    emb = L.PositionalEmbedding(10, 8, 8)
    h = emb(ids)
    enc = L.TransformerEncoderBlock(2, 16)(h, padding_mask=ids != 0)
    dec = L.TransformerDecoderBlock(2, 16, dropout=0.0)
    full = np.asarray(dec(x, enc, encoder_padding_mask=ids != 0))
    sc, cc = dec.init_self_attention_cache(2, 5), dec.compute_cross_attention_cache(enc)
    steps = []
    for t in range(5):
        y, sc, cc = dec(x[:, t:t+1], self_attention_cache=sc,
                        self_attention_cache_update_index=t, cross_attention_cache=cc,
                        encoder_padding_mask=ids != 0)
        steps.append(np.asarray(y))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    mha = L.MultiHeadAttention(2, 4)
    for impl in ("fused", "explicit"):
        mha.attention_impl = impl
        assert mha(x, use_causal_mask=True).shape == (2, 5, 8)
    inp = keras.Input((5,), dtype="int32")
    out = L.BidirectionalMeanPooledRNN(keras.layers.LSTM(3))(keras.layers.Embedding(10, 4, mask_zero=True)(inp))
    model = keras.Model(inp, keras.layers.Dense(1)(out))
    model.compile("adam", "mse", jit_compile=True)
    hist = model.fit(ids, np.ones((2, 1)), epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    from keras_seq.models import BahdanauEncoderDecoder, TransformerEncoderDecoder
    src, tgt = np.array([[5, 6, 7, 0], [4, 5, 6, 7]]), np.array([[2, 4, 5, 6], [2, 7, 8, 9]])
    for seq2seq in (TransformerEncoderDecoder(20, 15, 8, 8, embed_dim=16, num_heads=2,
                                              intermediate_dim=32),
                    BahdanauEncoderDecoder(20, 15, embed_dim=8, hidden_dim=8)):
        assert seq2seq({"source": src, "target_in": tgt}).shape == (2, 4, 15)
        assert np.asarray(seq2seq.generate(src, 6)).shape == (2, 6)
    print("JAX OK")
    """
)


def test_layers_run_on_the_jax_backend():
    pytest.importorskip("jax", reason="jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "JAX OK" in proc.stdout
