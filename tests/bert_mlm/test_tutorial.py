"""The masked-LM tutorial runs end to end in --quick mode and writes its four figures."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("mlm_masking_statistics.png", "mlm_training_curve.png",
           "mlm_fill_mask_candidates.png", "mlm_attention_map.png")


@pytest.mark.slow  # about 1 min alone (TF start, a 1-epoch app run, the export): over budget
def test_masked_language_model_tutorial_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tutorials/masked_language_model.py", "--quick", "--runs-root",
         str(tmp_path / "runs"), "--figures-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out
    assert "-> [MASK] 0.8" in out or "-> [MASK] 0.7" in out  # the measured 80/10/10 split
    assert "specials selected: 0" in out
    assert "[MASK]1:" in out and "[MASK]2:" in out  # the lecture's example has two masks
    for name in FIGURES:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
