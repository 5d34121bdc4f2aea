"""The ELMo tutorial's quick mode (the docstrings: tests/test_docstrings.py)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
