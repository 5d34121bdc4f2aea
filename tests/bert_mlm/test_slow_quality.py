"""A real (short) training on The Time Machine beats the unigram baseline (slow)."""

import json

import pytest

from tests.shared_data import missing_data

from keras_seq import cli
from tests.char_lm.helpers import timemachine_path


@pytest.mark.slow
def test_time_machine_training_learns_context(tmp_path):
    path = timemachine_path()
    if path is None:
        missing_data("The Time Machine is not available (set KERAS_SEQ_DATA_DIR)")
    run_dir = tmp_path / "run"
    assert cli.main(["train", "bert-mlm", "--data-file", str(path), "--run-dir", str(run_dir),
                     "--epochs", "8", "--verbose", "0"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # uniform over the vocabulary would be perplexity = vocabulary size
    assert metrics["validation_masked_perplexity"] < 0.5 * metrics["vocabulary_size"]
    assert metrics["validation_masked_accuracy"] > 0.08
    assert metrics["export_matches_keras"]
