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
    out = L.BidirectionalMeanPooledRNN(keras.layers.LSTM(3))(
        keras.layers.Embedding(10, 4, mask_zero=True)(inp))
    model = keras.Model(inp, keras.layers.Dense(1)(out))
    model.compile("adam", "mse", jit_compile=True)
    hist = model.fit(ids, np.ones((2, 1)), epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    from keras_seq.models import GPTLanguageModel
    gpt = GPTLanguageModel(20, max_length=24, num_layers=2, num_heads=2, embedding_dim=16,
                           intermediate_dim=32, dropout=0.0, position="learned")
    dense_ids = np.array([[3, 4, 5, 6, 7], [1, 2, 3, 4, 5]])
    full = np.asarray(gpt(dense_ids))
    cache = gpt.build_cache(dense_ids[:, :2], 5)
    for t in range(2, 5):
        lg, _, cache = gpt.call_with_cache(dense_ids, cache, t + 1)
        np.testing.assert_allclose(np.asarray(lg), full[:, t], atol=1e-5)
    assert gpt.generate(np.array([[3, 4, 5], [6, 0, 0]]), 7).shape == (2, 7)
    from keras_seq.models import BidirectionalLanguageModel, ElmoEmbedding
    lm = BidirectionalLanguageModel(20, embedding_dim=6, hidden_dim=8, num_layers=2)
    short = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32")
    emb, _ = lm.embed(short)
    longer, _ = lm.embed(np.pad(short, [(0, 0), (0, 3)]))
    assert np.abs(np.asarray(longer)[:, :4] - np.asarray(emb)).max() < 1e-5
    assert tuple(lm(short)["backward"].shape) == (2, 4, 20)
    assert tuple(ElmoEmbedding(lm)(short).shape) == (2, 4, 16)
    from keras_seq.models import SequenceTagger
    ids5 = np.array([[40, 41, 42, 0, 0], [5, 6, 7, 8, 9]])
    for cell in ("elman", "lstm"):
        tagger = SequenceTagger(97, 5, cell=cell, hidden_dim=4, num_layers=2, bidirectional=True,
                                embedding_dim=4)
        a, b = np.asarray(tagger(ids5)), np.asarray(tagger(np.pad(ids5, ((0, 0), (0, 4)))))
        np.testing.assert_allclose(a[ids5 != 0], b[:, :5][ids5 != 0], atol=1e-5)
        tagger.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       jit_compile=True)
        assert np.isfinite(tagger.fit(ids5, ids5 % 5, sample_weight=(ids5 != 0).astype("float32"),
                                      epochs=1, verbose=0).history["loss"][-1])
    from keras_seq.models import MaskedLanguageModel
    mids = np.array([[2, 9, 4, 11, 3, 0], [2, 8, 9, 4, 3, 12]])
    mx = {"token_ids": mids, "segment_ids": np.zeros_like(mids), "padding_mask": mids != 0,
          "mask_positions": np.array([[2, 0], [3, 1]])}
    mlm = MaskedLanguageModel(20, 6, num_layers=1, num_heads=2, embedding_dim=8,
                              intermediate_dim=16)
    assert mlm(mx).shape == (2, 2, 20)
    mlm.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"), jit_compile=True)
    h = mlm.fit(mx, np.array([[4, 0], [9, 8]]), sample_weight=np.array([[1., 0.], [1., 1.]]),
                epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"][-1])
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


# Keras-private names that are not (yet) compat targets but must not appear either.
KNOWN_PRIVATE_KERAS_NAMES = {
    "_keras_mask", "_keras_history", "_load_model", "_save_model", "_should_save_on_batch",
    "_current_epoch", "_last_batch_seen", "_backend_update_step", "_compute_loss_has_training_arg",
    "_outbound_nodes", "_layers", "_tracker", "_functional", "_trainable_variables",
}


def _private_keras_uses(source, private_names):
    """(line, text) of each `keras.src` or private Keras name in the code `source`."""
    import io
    import tokenize

    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1:i + 3]
        if tok.type == tokenize.NAME and tok.string == "keras" and \
                [t.string for t in nxt] == [".", "src"]:
            yield tok.start[0], "keras.src"
        elif tok.type == tokenize.NAME and tok.string in private_names and i and \
                tokens[i - 1].string == ".":
            yield tok.start[0], "." + tok.string
        elif tok.type == tokenize.STRING:  # getattr(x, "_keras_mask"), import_module("keras.src")
            text = tok.string.strip("rbuRBU").strip("'\"")
            if text in private_names or text.startswith("keras.src"):
                yield tok.start[0], tok.string


def test_private_keras_apis_are_used_only_in_compat():
    """Every private Keras API goes through keras_seq/compat.py, which checks it exists."""
    from keras_seq import compat

    private = KNOWN_PRIVATE_KERAS_NAMES | {
        t.attribute for t in compat.TARGETS.values() if t.attribute.startswith("_")}
    files = sorted((ROOT / "keras_seq").rglob("*.py")) + sorted(
        (ROOT / "applications").rglob("*.py"))
    assert len(files) > 50
    bad = [f"{path.relative_to(ROOT)}:{line}: {text}"
           for path in files if path != ROOT / "keras_seq" / "compat.py"
           for line, text in _private_keras_uses(path.read_text(), private)]
    assert not bad, "use keras_seq.compat instead:\n" + "\n".join(bad)
    # The check sees each kind of use, and not a name in a comment or docstring.
    sample = textwrap.dedent('''
        """Docs may name keras.src and model._initial_epoch."""
        from keras.src.backend import get_keras_mask  # a comment: ._keras_mask
        import keras.src.losses.loss
        model._initial_epoch = 3
        mask = getattr(x, "_keras_mask", None)
        module = importlib.import_module("keras.src.testing")
        self._hoisted_kernels = None
        ''')
    assert [line for line, _ in _private_keras_uses(sample, private)] == [3, 4, 5, 6, 7]


def _tf_function_calls(path):
    """(line, keywords) of every `tf.function(...)` call (decorator or not) in `path`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "function" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "tf"):
            yield node.lineno, {k.arg: k.value for k in node.keywords}


def test_serving_and_task_functions_are_traced_without_autograph():
    """AutoGraph reads a function's source file when it converts it, so a function traced after
    a long `fit` (the export, the task's generation) would convert whatever the file holds by
    then. Every `tf.function` of the exports and tasks says `autograph=False`."""
    files = sorted((ROOT / "keras_seq" / "export").glob("*.py")) + sorted(
        (ROOT / "keras_seq" / "tasks").glob("*.py"))
    found, missing = 0, []
    for path in files:
        for line, keywords in _tf_function_calls(path):
            found += 1
            value = keywords.get("autograph")
            if not (isinstance(value, ast.Constant) and value.value is False):
                missing.append(f"{path.relative_to(ROOT)}:{line}")
    assert found >= 20, found  # the walk sees the exports' and tasks' functions
    assert not missing, missing
