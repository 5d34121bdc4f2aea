"""The tutorial's quick mode, and the docstrings (sections and an example) of the new code."""

import doctest
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

from tests.docstring_checks import assert_sections

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = [
    ("keras_seq.layers.scalar_mix", "ScalarMix"),
    ("keras_seq.models.bidirectional_language_model", "BidirectionalLanguageModel"),
    ("keras_seq.models.elmo_embedding", "ElmoEmbedding"),
    ("keras_seq.data.word_tokenizer", "WordTokenizer"),
    ("keras_seq.callbacks.bidirectional_lm_logger", "BidirectionalLMLogger"),
    ("keras_seq.export.elmo_lm_module", "ElmoLMServingModule"),
]


@pytest.mark.parametrize("module_name,name", CLASSES, ids=[c[1] for c in CLASSES])
def test_docstring_sections_and_example(module_name, name):
    module = importlib.import_module(module_name)
    cls = getattr(module, name)
    assert_sections(cls)
    tests = [t for t in doctest.DocTestFinder().find(cls, module=module, globs=vars(module))
             if t.examples]
    assert tests, f"{name} has no example"


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_elmo_tutorial_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tutorials/elmo_language_model.py", "--quick",
         "--runs-root", str(tmp_path / "runs"), "--figures-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out
    assert "Validation perplexity per token: forward" in out
    assert "cosine per layer (0 = token layer): 0: 1.000" in out  # the token layer is context-free
    assert "softmax(s) = [" in out and "embed: embeddings (2, 5, 48)" in out
    for name in ("elmo_perplexity.png", "elmo_contexts.png", "elmo_layer_weights.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
