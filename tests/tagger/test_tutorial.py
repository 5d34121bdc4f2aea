"""`tutorials/sequence_tagging.py --quick` runs from start to end and writes its figures."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_sequence_tagging_tutorial_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tutorials/sequence_tagging.py", "--quick", "--runs-root",
         str(tmp_path / "runs"), "--figures-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out
    assert "uni-GRU x1: span F1" in out and "bi-GRU x1: span F1" in out
    assert "span F1 1 layer" in out and "gold:" in out
    diff = float(out.split("max |difference| = ")[1].split()[0])
    assert diff < 1e-5  # the Keras model is the formula
    for name in ("tagging_uni_vs_bi.png", "tagging_depth.png", "tagging_examples.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
