"""The `gpt_lm` task through the task harness, its data paths and its bad-input errors."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.char_tokenizer import CharTokenizer
from keras_seq.tasks import GptLM, GptLMPreprocessor
from tests.char_lm.helpers import TINY_TEXT
from tests.task_harness import ODD_TEXTS, run_task_test

LINES = [line.strip() for line in TINY_TEXT.split(". ") if line.strip()][:12]
SIZES = dict(sequence_length=16, num_layers=1, num_heads=2, embedding_dim=16,
             intermediate_dim=32, num_tokens=6)


def _check(inputs, outputs):
    for generated, text in zip(outputs["generated"], outputs["text"]):
        assert len(generated) <= 6  # characters: one per token (padding decodes to "")
        assert text.endswith(generated)


def test_gpt_lm_harness_characters(tmp_path):
    task = GptLM.from_text(LINES, char_vocabulary="full", **SIZES)
    outputs = run_task_test(task, LINES, None, tmp_path, check_output=_check,
                            predict_inputs=[LINES[0], *ODD_TEXTS])
    assert outputs["text"][0].startswith(LINES[0][-10:])  # the prompt's last 10 characters


@pytest.mark.slow  # the same checks with word pieces (tensorflow_text in the export)
def test_gpt_lm_harness_word_pieces(tmp_path):
    task = GptLM.from_text(TINY_TEXT, tokenizer="word-piece", vocabulary_size=120, **SIZES)
    run_task_test(task, [TINY_TEXT], None, tmp_path, predict_inputs=["the time", *ODD_TEXTS])


def test_dataset_of_strings_gives_the_windows_of_the_joined_text():
    task = GptLM.from_text(LINES, **SIZES)
    from_strings, _ = task.dataset(tf.data.Dataset.from_tensor_slices(LINES), batch_size=4)
    from_text, _ = task.dataset("".join(line + "\n" for line in LINES), batch_size=4)
    got = [(x.numpy(), y.numpy()) for x, y in from_strings]
    want = [(x.numpy(), y.numpy()) for x, y in from_text]
    assert len(got) == len(want) == int(from_strings.cardinality()) > 1
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)
        np.testing.assert_array_equal(gx[:, 1:], gy[:, :-1])  # y = x shifted by one token
    train, _ = task.dataset(LINES, batch_size=4, shuffle=True, seed=0)
    assert next(iter(train))[0].shape == (4, 16)


def test_generate_fills_each_prompt_to_max_length_and_takes_sampler_instances():
    task = GptLM.from_text(LINES, **SIZES)
    prompts = ["the time", "a"]  # d2l characters: 8 and 1 tokens
    out = task.generate(prompts, max_length=12, jit_compile=False)
    assert all(len(s) <= n for s, n in zip(out, [4, 11]))  # padding decodes to ""
    top1 = keras_hub.samplers.TopKSampler(k=1)
    assert task.generate(prompts, max_length=12, sampler=top1, jit_compile=False) == out
    assert task.generate([]) == [] and task.predict([]) == {"generated": [], "text": []}


def test_bad_inputs_raise_one_clear_value_error():
    task = GptLM.from_text(LINES, **SIZES)
    with pytest.raises(ValueError, match="tokenizer"):
        GptLM.from_text(LINES, tokenizer="bpe")
    with pytest.raises(ValueError, match="`text` must be a str"):
        GptLM.from_text(42)
    with pytest.raises(ValueError, match="sequence_length"):
        GptLMPreprocessor(CharTokenizer("d2l"), sequence_length=1)
    with pytest.raises(ValueError, match="wrap it in a list"):
        task.predict("one string")
    with pytest.raises(ValueError, match="must hold strings"):
        task.predict([1, 2])
    with pytest.raises(ValueError, match="num_tokens"):
        task.predict(["a"], num_tokens=16)
    with pytest.raises(ValueError, match="max_length"):
        task.generate(["a"], max_length=17)
    with pytest.raises(ValueError, match="sampler"):
        task.generate(["a"], sampler="nucleus")
    with pytest.raises(ValueError, match="`y` must be None"):
        task.fit(LINES, [0, 1])
    with pytest.raises(ValueError, match="needs at least"):
        task.fit("far too short")
    with pytest.raises(ValueError, match="Dataset of strings"):
        task.fit(tf.data.Dataset.from_tensor_slices([1, 2]))
    with pytest.raises(ValueError, match="`x` must be a str"):
        task.fit(3.5)
