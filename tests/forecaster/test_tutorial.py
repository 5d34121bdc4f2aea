"""tutorials/time_series_forecasting.py --quick runs end to end and writes its figures."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_forecasting_tutorial_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tutorials/time_series_forecasting.py", "--quick",
         "--runs-root", str(tmp_path / "runs"), "--figures-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out
    for needle in ("persistence     ŷ_{t+h} = y_t", "beats both?", "95 % interval coverage",
                   "forecast_text:", "signatures: ['forecast', 'serving_default']"):
        assert needle in out
    for name in ("forecasting_series_split.png", "forecasting_vs_baselines.png",
                 "forecasting_uncertainty.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
