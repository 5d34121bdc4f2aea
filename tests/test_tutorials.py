"""The tutorials run from start to end and write their figures (into a temporary folder)."""

import pytest

from tests.tutorial_runner import assert_figures, run_script, run_tutorial


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_attention_tutorial_quick(tmp_path):
    out = run_tutorial("attention_and_translation.py", tmp_path, steps=4)
    assert "seq2seq   : exact match" in out and "attention : exact match" in out
    assert "largest: key 4" in out  # the dot-product picks the key the query was made from
    assert_figures(tmp_path, ("attention_scores.png", "seq2seq_vs_attention.png",
                              "bahdanau_alignment.png", "transformer_heads.png"))


@pytest.mark.slow
def test_char_rnn_bptt_tutorial(tmp_path):
    run_script(["tutorials/char_rnn_bptt.py"], env={"KERAS_SEQ_FIGURES_DIR": str(tmp_path)})
    assert_figures(tmp_path, ("gradient_flow.png", "exploding_clipping.png"))


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_image_captioning_tutorial_quick(tmp_path):
    out = run_tutorial("image_captioning.py", tmp_path, steps=4)
    assert "Test captions never seen in training: 100%" in out
    for name in ("state:", "input:", "both :", "with attention", "greedy:", "beam-4:"):
        assert name in out
    assert_figures(tmp_path, ("captioning_scenes.png", "captioning_conditioning.png",
                              "captioning_attention.png"))
