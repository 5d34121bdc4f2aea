"""The `tagger` task through the task harness, and its bad-input errors."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data import span_tagging as st
from keras_seq.metrics.tagging_metrics import tag_ids_to_spans
from keras_seq.tasks import Tagger, TaggerPreprocessor
from tests.task_harness import run_task_test


@pytest.fixture(scope="module")
def examples():
    data = st.generate_examples(48, seed=5)
    return [ex["text"] for ex in data], [ex["spans"] for ex in data]


def _task(texts, spans, **kwargs):
    return Tagger.from_examples(texts, spans, hidden_dim=4, embedding_dim=4, num_layers=1,
                                cell="gru", **kwargs)


def test_tagger_harness(examples, tmp_path):
    texts, spans = examples
    task = _task(texts, spans, max_chars=300)
    assert task.preprocessor.tag_names == ["O", "B-DATE", "I-DATE", "B-NUM", "I-NUM"]

    def check(inputs, outputs):
        ids = task.predict_tag_ids(inputs)
        names = task.preprocessor.tag_names
        for i, text in enumerate(inputs):
            n = min(len(text), 300)  # the over-long text is cut to max_chars
            assert outputs["tags"][i] == " ".join(names[t] for t in ids[i, :n])
            found = tag_ids_to_spans(ids[i], names, n)
            assert outputs["num_spans"][i] == len(found)
            assert outputs["spans"][i] == " | ".join(f"{k}:{text[a:b]}" for a, b, k in found)

    run_task_test(task, texts, spans, tmp_path, check_output=check)


def test_fit_on_a_dataset_of_texts_and_tag_ids(examples):
    texts, spans = examples
    task = _task(texts, spans)
    tags = tf.ragged.constant([task.preprocessor.tag_ids(t, s) for t, s in zip(texts, spans)])
    data = tf.data.Dataset.from_tensor_slices((tf.constant(texts), tags))
    history = task.fit(data.map(lambda t, y: (t, y)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert len(task.predict(["é!"])["tags"][0].split(" ")) == 2


def test_given_types_keep_their_order(examples):
    texts, spans = examples
    task = _task(texts, spans, types=("NUM", "DATE"))
    assert task.preprocessor.tag_names == st.tag_names()


@pytest.mark.parametrize("call, message", [
    (lambda t, s: Tagger.from_examples("one text", [[]]), "wrap it in a list"),
    (lambda t, s: Tagger.from_examples(t, s[:-1]), "one list of spans per text"),
    (lambda t, s: Tagger.from_examples(["ab"], [[[0, 1]]]), r"y\[0\]. must be a list"),
    (lambda t, s: Tagger.from_examples(["abc"], [[[2, 9, "X"]]]), r"y\[0\].*span \[2, 9\)"),
    (lambda t, s: Tagger.from_examples(t[:2], [[], []]), "holds no span"),
    (lambda t, s: Tagger.from_examples(t, s, types=("NUM",)), "span type must be one of"),
    (lambda t, s: TaggerPreprocessor(max_chars=0), "max_chars"),
])
def test_bad_input_is_one_clear_value_error(examples, call, message):
    texts, spans = examples
    with pytest.raises(ValueError, match=message):
        call(texts, spans)


def test_bad_predict_and_fit_input(examples):
    texts, spans = examples
    task = _task(texts, spans)
    with pytest.raises(ValueError, match="must hold strings, got int at index 1"):
        task.predict(["fine", 3])
    with pytest.raises(ValueError, match="one list of spans"):
        task.fit(texts, None)
    with pytest.raises(ValueError, match="`y` must be None"):
        task.fit(tf.data.Dataset.from_tensor_slices((["a"], [[0]])), spans)
    empty = task.predict([])
    assert empty["tags"] == empty["spans"] == [] and len(empty["num_spans"]) == 0

