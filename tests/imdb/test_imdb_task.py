"""The imdb task through the task harness, and its bad-input contract."""

import numpy as np
import pytest

from keras_seq.data.synthetic_reviews import generate_reviews
from keras_seq.tasks import ImdbClassifier
from tests.task_harness import run_task_test


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
