"""The GPT model runs on JAX; word pieces behind the char-tokenizer interface (the docstrings:
tests/test_docstrings.py)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_word_piece_tokenizer_round_trip_and_vocabulary_file(tmp_path):
    from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer
    from keras_seq.data.word_pieces import RESERVED_TOKENS

    text = "The Time Traveller smiled. The machine was ready.\n" * 30
    tok = WordPieceTextTokenizer.train(text, 80)
    assert tok.vocabulary[:len(RESERVED_TOKENS)] == list(RESERVED_TOKENS)
    ids = tok.tokenize_text(text)
    assert ids.dtype == np.int32 and ids.min() > 0
    padded = np.array([[*tok.tokenize_text("the machine"), 0, 0]])
    assert tok.detokenize(padded).numpy()[0].decode() == "the machine"
    again = WordPieceTextTokenizer.load(tok.save_vocabulary(tmp_path / "vocabulary.txt"))
    assert again.vocabulary == tok.vocabulary
    with pytest.raises(ValueError, match="text"):
        WordPieceTextTokenizer.train("   \n  ", 80)


JAX_SCRIPT = textwrap.dedent("""
    import sys
    import keras, numpy as np
    assert keras.backend.backend() == "jax"
    from keras_seq.models.gpt_language_model import GPTLanguageModel
    # Sinusoidal positions: the learned table of PositionalEmbedding fails under JAX in
    # Keras 3.15 (ops.slice on a Variable; see the gpt-lm report).
    m = GPTLanguageModel(20, max_length=24, num_layers=2, num_heads=2, embedding_dim=16,
                         intermediate_dim=32, dropout=0.0, position="sinusoidal")
    x = np.random.default_rng(0).integers(1, 20, (2, 9)).astype("int32")
    full = np.asarray(m(x))
    cache = m.build_cache(x[:, :3], 9)
    for t in range(3, 9):
        logits, _, cache = m.call_with_cache(x, cache, t + 1)
        np.testing.assert_allclose(np.asarray(logits), full[:, t], atol=1e-5)
    out = m.generate(np.array([[3, 4, 5], [6, 0, 0]]), 8)
    assert out.shape == (2, 8)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert np.isfinite(m.fit(x, x, epochs=1, verbose=0).history["loss"][-1])
    print("JAX OK")
""")


@pytest.mark.slow
def test_gpt_runs_on_the_jax_backend():
    pytest.importorskip("jax", reason="jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "JAX OK" in proc.stdout
