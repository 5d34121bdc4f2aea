"""The ELMo tutorial's quick mode (the docstrings: tests/test_docstrings.py)."""

import pytest

from tests.tutorial_runner import assert_figures, run_tutorial


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_elmo_tutorial_quick(tmp_path):
    out = run_tutorial("elmo_language_model.py", tmp_path, steps=5)
    assert "Validation perplexity per token: forward" in out
    assert "cosine per layer (0 = token layer): 0: 1.000" in out  # the token layer is context-free
    assert "softmax(s) = [" in out and "embed: embeddings (2, 5, 48)" in out
    assert_figures(tmp_path, ("elmo_perplexity.png", "elmo_contexts.png",
                              "elmo_layer_weights.png"))
