"""The GPT tutorial runs in --quick mode and writes its three figures."""

import re

import pytest

from tests.tutorial_runner import assert_figures, run_tutorial


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_gpt_tutorial_quick(tmp_path):
    out = run_tutorial("gpt_language_model.py", tmp_path, steps=5)
    moved = re.search(r"moves the logits of positions 0\.\.5 by (\S+) and", out)
    assert moved and float(moved.group(1)) < 1e-5  # causal: the past ignores the future
    assert "Weight above the diagonal (future tokens), largest over heads: 0.0e+00" in out
    assert "Validation perplexity per character" in out and "top-p p=" in out
    assert_figures(tmp_path, ("gpt_perplexity.png", "gpt_attention.png", "gpt_sampling.png"))
