"""The `char_lm` task: the task harness, generation's contract, stateful BPTT, bad input."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_seq
from keras_seq.tasks import CharLM, CharLMPreprocessor
from tests.char_lm.helpers import TINY_TEXT
from tests.task_harness import ODD_TEXTS, run_task_test

SENTENCES = [s + "." for s in TINY_TEXT.split(". ") if s]


def _task(text=TINY_TEXT, **kwargs):
    options = dict(tokenizer="full", cell="gru", hidden_dim=16, embedding_dim=8,
                   sequence_length=16, num_chars=12)
    return CharLM.from_text(text, **{**options, **kwargs})


@pytest.fixture(scope="module")
def trained():
    task = _task()
    task.fit(TINY_TEXT, epochs=1, batch_size=8, verbose=0, seed=0, learning_rate=1e-2)
    return task


def test_char_lm_harness(tmp_path):
    def check(inputs, outputs):
        for prompt, continuation, text in zip(inputs, outputs["continuation"],
                                              outputs["text"]):
            read = text[:len(text) - len(continuation)]  # the prompt as the model read it
            prompt = prompt[-1024:] or " "  # the last max_sequence_length characters
            assert len(continuation) <= 12 and len(read) == len(prompt)
            # Characters outside the text's vocabulary read as unknown (U+FFFD).
            assert all(a in (b, "\ufffd") for a, b in zip(read, prompt))

    # x: a list of sentences (read as one text, joined by newlines).
    task = _task(SENTENCES)
    outputs = run_task_test(task, SENTENCES, None, tmp_path, check_output=check,
                            predict_inputs=["The Time", "grey eyes", *ODD_TEXTS])
    # The export's second signature, `generate` (any prompt shape, temperature <= 0 greedy).
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    assert sorted(loaded.signatures) == ["generate", "serving_default"]
    generate = loaded.signatures["generate"]
    greedy = generate(prompt=tf.constant("The Time"), num_chars=tf.constant(5),
                      temperature=tf.constant(0.0))
    assert greedy["continuation"].numpy()[0].decode() == outputs["continuation"][0][:5]
    sampled = generate(prompt=tf.constant([["The Time", ""]]), num_chars=tf.constant(9),
                       temperature=tf.constant(1.0))["text"].numpy()
    assert len(sampled) == 2 and sampled[0].decode().startswith("The Time")
    # The task's XLA-compiled generation (the CPU default) agrees with the export.
    assert task.generate(["The Time", "grey eyes"]) == outputs["continuation"][:2]


def test_fit_reads_a_dataset_of_strings_and_evaluates_perplexity():
    task = _task(tokenizer="d2l")
    lines = tf.data.Dataset.from_tensor_slices(SENTENCES[:-4])
    history = task.fit(lines, validation_data=SENTENCES[-4:] * 4, epochs=1, batch_size=4,
                       verbose=0, seed=1)
    assert {"loss", "val_loss"} <= set(history.history)
    scores = task.evaluate(TINY_TEXT[:1000], batch_size=4)
    assert scores["perplexity"] == pytest.approx(np.exp(scores["loss"]))
    assert scores["bits_per_char"] == pytest.approx(scores["loss"] / np.log(2))
    # d2l: 26 letters + space + unknown; the prompt is read standardized.
    assert task.preprocessor.vocabulary_size == 29
    assert task.predict(["The Time-Machine!"])["text"][0].startswith("the time machine ")


def test_generate_follows_max_length_and_matches_predict(trained):
    prompts = ["the time", "his grey eyes", ""]
    greedy = trained.predict(prompts)["continuation"]
    # Without XLA, generate runs predict's graph: the same continuations.
    assert trained.generate(prompts, jit_compile=False) == greedy
    # max_length counts the prompt as read ("" is read as one space): a prefix of the above.
    short = trained.generate(prompts, max_length=9, jit_compile=False)
    for prompt, got, full in zip(prompts, short, greedy):
        assert len(got) <= max(0, 9 - max(1, len(prompt))) and full.startswith(got)
    assert trained.generate(prompts[:1], max_length=3) == [""]  # the prompt is longer
    assert isinstance(trained.generate("the time"), str)  # XLA on CPU (the default)
    for sampler in ("random", "top_k", "top_p", "beam",
                    keras_hub.samplers.RandomSampler(temperature=0.7, seed=3)):
        out = trained.generate(prompts, max_length=20, sampler=sampler, jit_compile=False)
        assert len(out) == 3 and all(isinstance(s, str) and len(s) <= 19 for s in out)
    assert trained.generate([]) == [] and trained.predict([]) == {"continuation": [],
                                                                "text": []}


def test_stateful_task_trains_sequential_windows_and_reloads(tmp_path):
    task = _task(cell="elman", stateful=True, batch_size=4)
    assert task.sampling == "sequential" and task.stateful_batch_size == 4
    history = task.fit(TINY_TEXT, epochs=1, batch_size=4, verbose=0, seed=0)
    assert np.isfinite(history.history["loss"][0])
    before = task.predict(["the time"])
    loaded = keras_seq.load(task.save(tmp_path / "stateful.kseq"))
    assert loaded.network.stateful and loaded.get_config() == task.get_config()
    assert loaded.predict(["the time"]) == before
    with pytest.raises(ValueError, match="batch size its state is built for"):
        task.fit(TINY_TEXT, epochs=1, batch_size=8, verbose=0)


def test_bad_input_gets_one_clear_value_error(trained):
    cases = [
        (lambda: trained.predict("the time"), "wrap it in a list"),
        (lambda: trained.predict([1, 2]), "must hold strings"),
        (lambda: trained.predict(["a"], num_chars=0), "num_chars"),
        (lambda: trained.generate(["a"], max_length=0), "max_length"),
        (lambda: trained.generate(["a"], max_length=2.5), "max_length"),
        (lambda: trained.generate(["a"], sampler="nucleus"), "sampler"),
        (lambda: trained.generate(["a"], sampler=object()), "sampler"),
        (lambda: trained.fit(TINY_TEXT, [1, 2], verbose=0), "`y` must be None"),
        (lambda: trained.fit("too short", batch_size=8, verbose=0), "needs at least"),
        (lambda: trained.fit("", verbose=0), "must hold some text"),
        (lambda: trained.fit(None, verbose=0), "got None"),
        (lambda: trained.fit(tf.data.Dataset.range(3), verbose=0), "Dataset of strings"),
        (lambda: CharLM.from_text(TINY_TEXT, tokenizer="bpe"), "tokenizer"),
        (lambda: CharLM.from_text(TINY_TEXT, sampling="shuffled"), "sampling"),
        (lambda: CharLM.from_text(TINY_TEXT, sequence_length=0), "sequence_length"),
        (lambda: CharLM(trained.network, CharLMPreprocessor.build_from_text("ab", "full")),
         "vocabulary_size"),
        (lambda: CharLMPreprocessor("d2l"), "CharTokenizer"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()

