"""The `bert_mlm` task through the task harness, plus its bad-input errors."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.timemachine import generated_corpus
from keras_seq.data.masked_lm_pipeline import split_sentences
from keras_seq.models import MaskedLanguageModel
from keras_seq.tasks import BertMLM, BertMLMPreprocessor
from tests.task_harness import ODD_TEXTS, run_task_test

SIZES = dict(vocabulary_size=200, sequence_length=24, num_layers=1, num_heads=2,
             embedding_dim=16, intermediate_dim=32, top_k=3)
MASKED = ["The time [MASK] looked at the lamp.", "the [MASK] [SEP] the [MASK] machine",
          "Weena [MASK] é 映画 [MASK]"]


@pytest.fixture(scope="module")
def sentences():
    return split_sentences(generated_corpus(160, seed=1))


@pytest.fixture(scope="module")
def task(sentences):
    return BertMLM.from_text(sentences, **SIZES)


def test_bert_mlm_harness(sentences, tmp_path):
    task = BertMLM.from_text(" ".join(sentences), **SIZES)  # one str: split into sentences

    def check(inputs, outputs):
        assert outputs["num_masks"][:3] == [1, 2, 2]
        assert outputs["num_masks"][3:] == [0] * len(ODD_TEXTS)
        for n, filled, candidates, probs in zip(outputs["num_masks"], outputs["filled"],
                                                outputs["candidates"],
                                                outputs["probabilities"]):
            probs = np.asarray(probs)
            assert probs.shape == (2, 3) and len(candidates) == 2
            assert all(c and not c.startswith("[") for m in candidates[:n] for c in m)
            assert all(c == "" for m in candidates[n:] for c in m)
            assert (probs[:n] > 0).all() and (probs[n:] == 0).all() and probs.sum() <= n + 1e-5
            assert (np.diff(probs[:n], axis=-1) <= 0).all()  # most probable first
            assert "[MASK]" not in filled
        assert outputs["filled"][3] == "" and outputs["filled"][4] == ""
        assert "[SEP]" in outputs["filled"][1]

    run_task_test(task, sentences, None, tmp_path, predict_inputs=[*MASKED, *ODD_TEXTS],
                  check_output=check)


def test_fit_on_a_dataset_of_strings_and_fill_mask_top_k(task, sentences):
    history = task.fit(tf.data.Dataset.from_tensor_slices(sentences), epochs=1, batch_size=16,
                       verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    out = task.fill_mask(MASKED[:2], top_k=5)
    assert np.asarray(out["probabilities"]).shape == (2, 2, 5)
    assert out["candidates"][0][0][:3] == task.predict(MASKED[:1])["candidates"][0][0]


def test_masks_are_fixed_for_validation_and_new_every_epoch_for_training(task, sentences):
    def labels(dataset):
        return np.concatenate([y.numpy().ravel() for _, y, _ in dataset])

    val, _ = task.dataset(sentences, batch_size=16, seed=3)
    np.testing.assert_array_equal(labels(val), labels(val))
    train, _ = task.dataset(sentences, batch_size=16, shuffle=True, seed=3)
    assert not np.array_equal(labels(train), labels(train))
    assert int(train.cardinality()) == -(-(len(sentences) - 1) // 16)


@pytest.mark.parametrize("call, match", [
    (lambda t, s: t.fit(s, [1] * len(s)), "`y` must be None"),
    (lambda t, s: t.fit(s[:1]), "at least 2 sentences"),
    (lambda t, s: t.fit(tf.data.Dataset.range(5)), "tf.string"),
    (lambda t, s: t.predict("the [MASK] machine"), "wrap it in a list"),
    (lambda t, s: t.predict([b"ok", 3]), "index 1"),
    (lambda t, s: t.fill_mask(["the [MASK]"], top_k=0), "`top_k`"),
    (lambda t, s: t.fill_mask(["the [MASK]"], batch_size=-1), "`batch_size`"),
])
def test_bad_inputs_are_one_clear_value_error(task, sentences, call, match):
    with pytest.raises(ValueError, match=match):
        call(task, sentences)


def test_bad_construction_is_one_clear_value_error(task, sentences):
    vocabulary = task.preprocessor.vocabulary
    with pytest.raises(ValueError, match="embedding_dim"):
        BertMLM.from_text(sentences, **{**SIZES, "embedding_dim": 15})
    with pytest.raises(ValueError, match="non-blank text"):
        BertMLM.from_text(["", "  "])
    with pytest.raises(ValueError, match="vocabulary_size"):
        BertMLM.from_text(sentences, vocabulary_size=5)
    with pytest.raises(ValueError, match=r"\[PAD\]"):
        BertMLMPreprocessor(["the", "time"])
    with pytest.raises(ValueError, match="sequence_length"):
        BertMLMPreprocessor(vocabulary, sequence_length=4)
    with pytest.raises(ValueError, match="mask_rate"):
        BertMLMPreprocessor(vocabulary, mask_rate=1.0)
    wrong = MaskedLanguageModel(50, sequence_length=24, num_layers=1, num_heads=1,
                                embedding_dim=8, intermediate_dim=8)
    with pytest.raises(ValueError, match="word pieces"):
        BertMLM(wrong, task.preprocessor)
    with pytest.raises(ValueError, match="`top_k`"):
        BertMLM(task.network, task.preprocessor, top_k=0)
