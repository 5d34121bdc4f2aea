"""`tutorials/sequence_tagging.py --quick` runs from start to end and writes its figures."""

import pytest

from tests.tutorial_runner import assert_figures, run_tutorial


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_sequence_tagging_tutorial_quick(tmp_path):
    out = run_tutorial("sequence_tagging.py", tmp_path, steps=5,
                       env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert "uni-GRU x1: span F1" in out and "bi-GRU x1: span F1" in out
    assert "span F1 1 layer" in out and "gold:" in out
    diff = float(out.split("max |difference| = ")[1].split()[0])
    assert diff < 1e-5  # the Keras model is the formula
    assert_figures(tmp_path, ("tagging_uni_vs_bi.png", "tagging_depth.png",
                              "tagging_examples.png"))
