"""The masked-LM tutorial runs end to end in --quick mode and writes its four figures."""

import pytest

from tests.tutorial_runner import assert_figures, run_tutorial


@pytest.mark.slow  # about 1 min alone (TF start, a 1-epoch app run, the export): over budget
def test_masked_language_model_tutorial_quick(tmp_path):
    out = run_tutorial("masked_language_model.py", tmp_path, steps=5)
    assert "-> [MASK] 0.8" in out or "-> [MASK] 0.7" in out  # the measured 80/10/10 split
    assert "specials selected: 0" in out
    assert "[MASK]1:" in out and "[MASK]2:" in out  # the lecture's example has two masks
    assert_figures(tmp_path, ("mlm_masking_statistics.png", "mlm_training_curve.png",
                              "mlm_fill_mask_candidates.png", "mlm_attention_map.png"))
