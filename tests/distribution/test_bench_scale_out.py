"""`benchmarks/bench_scale_out.py` runs end to end on a tiny job (its options reach the job)."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_scale_out_benchmark_runs_its_reference_job(tmp_path):
    out = tmp_path / "scale_out.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scale_out.py"), "--rounds", "1",
         "--setups", "none", "--examples", "64", "--batch-size", "16", "--epochs", "1",
         "--max-length", "12", "--vocabulary-size", "50", "--embedding-dim", "8",
         "--hidden-dim", "8", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["setup"] == "none" and row["replicas"] == 1 and row["samples_per_second"] > 0
    assert report["options"]["hidden_dim"] == 8
