"""Token accuracy and span P/R/F1 on hand-made examples (valid and invalid BIO)."""

import numpy as np
import pytest

from keras_seq.metrics.tagging_metrics import (MaskedTokenAccuracy, bio_to_spans, span_scores,
                                              tag_ids_to_spans, tagging_report, token_accuracy)

NAMES = ["O", "B-NUM", "I-NUM", "B-DATE", "I-DATE"]


@pytest.mark.parametrize("tags, spans", [
    (["O", "B-NUM", "I-NUM", "O"], [(1, 3, "NUM")]),
    (["B-NUM", "B-NUM"], [(0, 1, "NUM"), (1, 2, "NUM")]),
    (["I-NUM", "I-NUM", "O"], [(0, 2, "NUM")]),  # I- without B- opens a span
    (["O", "I-DATE"], [(1, 2, "DATE")]),  # ... also at the end
    (["B-NUM", "I-DATE", "I-DATE"], [(0, 1, "NUM"), (1, 3, "DATE")]),  # type switch
    (["B-DATE", "I-DATE", "B-DATE", "I-NUM"], [(0, 2, "DATE"), (2, 3, "DATE"), (3, 4, "NUM")]),
    (["O", "O"], []),
    ([], []),
])
def test_bio_decoding(tags, spans):
    assert bio_to_spans(tags) == spans


def test_tag_ids_and_length():
    assert tag_ids_to_spans([1, 2, 0, 3, 4, 4, 0, 0], NAMES, length=5) == \
        [(0, 2, "NUM"), (3, 5, "DATE")]


def test_token_accuracy_ignores_padding():
    true = np.array([[1, 2, 0, 0], [3, 4, 4, 0]])
    pred = np.array([[1, 1, 3, 3], [3, 4, 4, 4]])
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool)
    assert token_accuracy(true, pred, mask) == pytest.approx(4 / 5)
    assert token_accuracy([np.array([1, 2]), np.array([0])],
                          [np.array([1, 1]), np.array([0])]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        token_accuracy(true, pred[:, :2])


def test_span_scores_by_hand():
    gold = [[(0, 2, "NUM"), (5, 10, "DATE")], [(1, 3, "NUM")]]
    pred = [[(0, 2, "NUM"), (5, 9, "DATE")], [(1, 3, "NUM"), (4, 6, "NUM")]]
    s = span_scores(gold, pred, ["NUM", "DATE"])
    assert s["NUM"]["precision"] == pytest.approx(2 / 3) and s["NUM"]["recall"] == 1.0
    assert s["NUM"]["f1"] == pytest.approx(0.8)
    assert s["DATE"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                         "predicted": 1, "correct": 0}  # boundary off by one: no match
    assert s["micro"]["precision"] == pytest.approx(2 / 4)
    assert s["micro"]["recall"] == pytest.approx(2 / 3)
    assert s["micro"]["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    empty = span_scores([[]], [[]], ["NUM"])
    assert empty["micro"]["f1"] == 0.0 and empty["NUM"]["support"] == 0
    with pytest.raises(ValueError, match="one list per sentence"):
        span_scores([[]], [])


def test_tagging_report_with_invalid_predicted_bio():
    true = [np.array([0, 1, 2, 0, 3, 4]), np.array([1, 0])]
    pred = np.array([[0, 2, 2, 0, 3, 4, 9], [1, 0, 0, 0, 0, 0, 0]])  # I-NUM without B-NUM
    report = tagging_report(true, pred, NAMES)
    assert report["token_accuracy"] == pytest.approx(7 / 8)
    assert report["spans"]["micro"]["f1"] == 1.0  # the invalid I-NUM still gives span (1, 3)
    assert set(report["spans"]) == {"NUM", "DATE", "micro"}


def test_keras_masked_token_accuracy():
    m = MaskedTokenAccuracy()
    y_pred = np.eye(5)[[[1, 1, 0], [3, 4, 0]]].astype("float32")
    m.update_state(np.array([[1, 2, 0], [3, 4, 0]]), y_pred,
                   sample_weight=np.array([[1, 1, 0], [1, 1, 0]], "float32"))
    assert float(m.result()) == pytest.approx(3 / 4)
    m2 = MaskedTokenAccuracy(ignore_index=0)
    m2.update_state(np.array([[1, 2, 0]]), y_pred[:1])
    assert float(m2.result()) == pytest.approx(1 / 2)
    assert MaskedTokenAccuracy.from_config(m2.get_config()).ignore_index == 0
