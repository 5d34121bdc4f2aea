"""The `elmo_lm` task through the task harness, its raw-input forms and its bad inputs."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.timemachine import generated_corpus
from keras_seq.tasks import ElmoLM, ElmoLMPreprocessor
from tests.task_harness import run_task_test

LINES = generated_corpus(num_sentences=120, seed=1).splitlines()


def _task(**kwargs):
    options = dict(vocabulary_size=60, embedding_dim=8, hidden_dim=8, num_layers=2,
                   sequence_length=10, max_sequence_length=40)
    return ElmoLM.from_text(LINES, **{**options, **kwargs})


def test_elmo_lm_harness(tmp_path):
    task = _task(num_layers=1)
    vocabulary = set(task.preprocessor.tokenizer.get_vocabulary()[2:])

    def check(inputs, outputs):
        assert np.asarray(outputs["sentence_embedding"]).shape == (len(inputs), 16)
        assert set(outputs["next_word"]) | set(outputs["previous_word"]) <= vocabulary
        for key in ("next_word_probability", "previous_word_probability"):
            p = np.asarray(outputs[key])
            assert np.all((p > 0) & (p <= 1)), key
        assert np.all(np.asarray(outputs["sentence_embedding"])[1] == 0)  # "": no token

    outputs = run_task_test(task, LINES, None, tmp_path,
                            predict_inputs=[LINES[0], "", "   \t ", "Le café, déjà vu !",
                                            "映画", "the machine " * 3000],
                            check_output=check)
    assert outputs["sentence_embedding"][0] != outputs["sentence_embedding"][3]


def test_embed_gives_the_network_embeddings_of_the_cut_texts():
    # (the export's `embed` signature against the network: test_export.py)
    task = _task(num_layers=1)
    texts = ["The time machine!", "", "the traveller " * 40]
    got = task.embed(texts)
    assert got["embeddings"].shape == (3, 40, 16)  # cut to max_sequence_length
    assert got["tokens"][0][:4] == ["the", "time", "machine", "!"]
    assert got["tokens"][1] == [""] * 40 and not got["mask"][1].any()
    ids, _ = task.preprocessor(texts)
    np.testing.assert_array_equal(got["embeddings"], np.asarray(task.network.embed(ids)[0]))
    assert sorted(got) == ["embeddings", "mask", "tokens"]  # the export's embed outputs


def test_fit_takes_one_corpus_string_a_list_or_a_dataset_of_strings():
    task = _task(num_layers=1)
    corpus = "\n".join(LINES)
    for x in (corpus, LINES, tf.data.Dataset.from_tensor_slices(LINES),
              tf.data.Dataset.from_tensor_slices(LINES).batch(7)):
        history = task.fit(x, epochs=1, batch_size=8, verbose=0, seed=0)
        assert np.isfinite(history.history["forward_cross_entropy"][-1])
    # One corpus string: windows over the whole stream, every one of them in validation.
    val, _ = task.dataset(corpus, batch_size=8)
    tokens = len(task.preprocessor.stream_ids(corpus))
    assert sum(int(x.shape[0]) for x, _, _ in val) == (tokens - 11) // 10


def test_bad_inputs_raise_one_clear_value_error():
    task = _task(num_layers=1)
    with pytest.raises(ValueError, match="wrap it in a list"):
        task.predict("one string")
    with pytest.raises(ValueError, match="must hold strings"):
        task.embed([1, 2])
    with pytest.raises(ValueError, match="`y` must be None"):
        task.fit(LINES, [0] * len(LINES), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="holds no tokens"):
        task.fit(["", "  "], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="tf.data.Dataset of strings"):
        task.fit(tf.data.Dataset.from_tensor_slices([1, 2]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size=32 x sequence_length=10"):
        task.fit("the time machine", epochs=1, verbose=0)
    with pytest.raises(ValueError, match="vocabulary_size"):
        ElmoLM.from_text(LINES, vocabulary_size=2)
    with pytest.raises(ValueError, match="at least one token"):
        ElmoLM.from_text("   ")
    with pytest.raises(ValueError, match="sequence_length"):
        ElmoLM(task.network, task.preprocessor, sequence_length=1)
    with pytest.raises(ValueError, match="vocabulary_size=.* but `preprocessor` has"):
        ElmoLM(task.network, ElmoLMPreprocessor(["a", "b"]))
    with pytest.raises(ValueError, match="max_sequence_length"):
        ElmoLMPreprocessor(["a"], max_sequence_length=0)
    assert task.predict([])["next_word"] == []
