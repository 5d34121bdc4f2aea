"""The translator task through the task harness, and its bad-input contract."""

import pytest

from keras_seq.data.date_normalization import generate_date_pairs
from keras_seq.tasks import Translator
from tests.task_harness import ODD_TEXTS, run_task_test


def test_translator_harness(tmp_path):
    pairs = generate_date_pairs(64, seed=0)
    task = Translator.from_pairs(pairs, model="attention", target_tokens="character",
                                 embedding_dim=8, hidden_dim=8, max_source_length=12,
                                 max_target_length=12)

    def check(inputs, outputs):
        assert all(isinstance(t, str) and len(t) <= 12 for t in outputs["translation"])

    run_task_test(task, [s for s, _ in pairs], [t for _, t in pairs], tmp_path,
                  predict_inputs=[pairs[0][0], *ODD_TEXTS], check_output=check)


def test_translator_rejects_bad_pairs():
    with pytest.raises(ValueError, match="pairs"):
        Translator.from_pairs([("only source",)])
    with pytest.raises(ValueError, match="model"):
        Translator.from_pairs([("a", "b")], model="lstm")
    task = Translator.from_pairs([("a b", "c d")], embedding_dim=4, hidden_dim=4,
                                 max_source_length=4, max_target_length=4)
    with pytest.raises(ValueError, match="same length"):
        task.dataset(["a", "b"], ["c"])
