"""The GPT tutorial runs in --quick mode and writes its three figures."""

import os
import re
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_gpt_tutorial_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tutorials/gpt_language_model.py", "--quick", "--runs-root",
         str(tmp_path / "runs"), "--figures-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out
    moved = re.search(r"moves the logits of positions 0\.\.5 by (\S+) and", out)
    assert moved and float(moved.group(1)) < 1e-5  # causal: the past ignores the future
    assert "Weight above the diagonal (future tokens), largest over heads: 0.0e+00" in out
    assert "Validation perplexity per character" in out and "top-p p=" in out
    for name in ("gpt_perplexity.png", "gpt_attention.png", "gpt_sampling.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
