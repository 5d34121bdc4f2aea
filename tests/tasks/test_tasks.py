"""Every task through the task harness, plus the task API's own contracts."""

import numpy as np
import pytest

import keras_seq
from keras_seq.data.date_normalization import generate_date_pairs
from keras_seq.data.synthetic_reviews import generate_reviews
from keras_seq.tasks import ImdbClassifier, Task, Translator
from tests.task_harness import ODD_TEXTS, run_task_test


@pytest.fixture(scope="module")
def reviews():
    data = generate_reviews(96, seed=3)
    return list(data.texts), [int(v) for v in data.labels]


def _imdb_task(texts, labels):
    return ImdbClassifier.from_texts(texts, labels, vocabulary_size=200, max_sequence_length=32,
                                     embedding_dim=8, hidden_dim=4, adversarial=0.5)


def test_imdb_classifier_harness(reviews, tmp_path):
    texts, labels = reviews

    def check(inputs, outputs):
        assert set(outputs["label"]) <= {"negative", "positive"}
        p = np.asarray(outputs["probability"])
        assert np.all((p >= 0) & (p <= 1))
        assert outputs["label"] == ["positive" if v >= 0.5 else "negative" for v in p]

    run_task_test(_imdb_task(texts, labels), texts, labels, tmp_path, check_output=check)


def test_translator_harness(tmp_path):
    pairs = generate_date_pairs(64, seed=0)
    task = Translator.from_pairs(pairs, model="attention", target_tokens="character",
                                 embedding_dim=8, hidden_dim=8, max_source_length=12,
                                 max_target_length=12)

    def check(inputs, outputs):
        assert all(isinstance(t, str) and len(t) <= 12 for t in outputs["translation"])

    run_task_test(task, [s for s, _ in pairs], [t for _, t in pairs], tmp_path,
                  predict_inputs=[pairs[0][0], *ODD_TEXTS], check_output=check)


def test_imdb_classifier_learns_and_reports_bad_input(reviews):
    texts, labels = reviews
    task = _imdb_task(texts, labels)
    with pytest.raises(ValueError, match="wrap it in a list"):
        task.predict("one string")
    with pytest.raises(ValueError, match="must hold strings"):
        task.predict([1, 2])
    with pytest.raises(ValueError, match="one 0/1 label per text"):
        task.fit(texts, labels[:-1], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="one 0/1 label per text"):
        task.fit(texts, [2] * len(texts), epochs=1, verbose=0)
    assert task.predict([])["label"] == []


def test_translator_rejects_bad_pairs():
    with pytest.raises(ValueError, match="pairs"):
        Translator.from_pairs([("only source",)])
    with pytest.raises(ValueError, match="model"):
        Translator.from_pairs([("a", "b")], model="lstm")
    task = Translator.from_pairs([("a b", "c d")], embedding_dim=4, hidden_dim=4,
                                 max_source_length=4, max_target_length=4)
    with pytest.raises(ValueError, match="same length"):
        task.dataset(["a", "b"], ["c"])


def test_load_refuses_what_is_not_a_task(tmp_path):
    (tmp_path / "not.kseq").write_text("hello")
    with pytest.raises(ValueError, match="task file"):
        keras_seq.load(tmp_path / "not.kseq")
    with pytest.raises(ValueError, match="not found"):
        keras_seq.load(tmp_path / "missing.kseq")
    with pytest.raises(ValueError, match="without task.kseq"):
        keras_seq.load(tmp_path)


def test_every_task_class_is_known_by_its_stem():
    from keras_seq.tasks import TASK_CLASSES

    assert {"imdb": ImdbClassifier, "translator": Translator}.items() <= TASK_CLASSES.items()
    assert all(issubclass(cls, Task) for cls in TASK_CLASSES.values())
