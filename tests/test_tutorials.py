"""The tutorials run from start to end and write their figures (into a temporary folder)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(args, env=None, timeout=900):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _assert_figures(folder, names):
    for name in names:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_attention_tutorial_quick(tmp_path):
    out = _run(["tutorials/attention_and_translation.py", "--quick",
                "--runs-root", str(tmp_path / "runs"), "--figures-dir", str(tmp_path)])
    for step in ("== 1.", "== 2.", "== 3.", "== 4."):
        assert step in out
    assert "seq2seq   : exact match" in out and "attention : exact match" in out
    assert "largest: key 4" in out  # the dot-product picks the key the query was made from
    _assert_figures(tmp_path, ("attention_scores.png", "seq2seq_vs_attention.png",
                               "bahdanau_alignment.png", "transformer_heads.png"))


@pytest.mark.slow
def test_char_rnn_bptt_tutorial(tmp_path):
    _run(["tutorials/char_rnn_bptt.py"], env={"KERAS_SEQ_FIGURES_DIR": str(tmp_path)})
    _assert_figures(tmp_path, ("gradient_flow.png", "exploding_clipping.png"))


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_image_captioning_tutorial_quick(tmp_path):
    out = _run(["tutorials/image_captioning.py", "--quick",
                "--runs-root", str(tmp_path / "runs"), "--figures-dir", str(tmp_path)])
    for step in ("== 1.", "== 2.", "== 3.", "== 4."):
        assert step in out
    assert "Test captions never seen in training: 100%" in out
    for name in ("state:", "input:", "both :", "with attention", "greedy:", "beam-4:"):
        assert name in out
    _assert_figures(tmp_path, ("captioning_scenes.png", "captioning_conditioning.png",
                               "captioning_attention.png"))
