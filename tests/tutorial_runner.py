"""Runs a tutorial script in a fresh process; checks its printed steps and its figures."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_script(args, env=None, timeout=900):
    """Runs `python ARGS` in the repository root; asserts it exits 0; returns its stdout."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def run_tutorial(script, tmp_path, steps, env=None):
    """Runs `tutorials/SCRIPT --quick`, runs and figures under `tmp_path`.

    Asserts it exits 0 and prints its headings "== 1." .. "== STEPS."; returns its stdout.
    """
    out = run_script([f"tutorials/{script}", "--quick", "--runs-root", str(tmp_path / "runs"),
                      "--figures-dir", str(tmp_path)], env=env)
    for step in range(1, steps + 1):
        assert f"== {step}." in out, f"{script} printed no step {step}"
    return out


def assert_figures(folder, names):
    """Each of `names` in `folder` is a PNG of more than 5 kB (a drawn figure, not a blank)."""
    for name in names:
        data = (pathlib.Path(folder) / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
