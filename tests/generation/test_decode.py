import doctest
import importlib

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_seq.generation import decode, get_sampler, pad_after_first_stop

VOCAB = 10


def counting_next(tokens, cache, index):
    """A toy model: the next token is (previous token + 1) mod VOCAB; counts its calls."""
    batch = ops.shape(tokens)[0]
    prev = ops.take_along_axis(tokens, ops.full((batch, 1), index - 1), axis=1)[:, 0]
    logits = ops.one_hot((prev + 1) % VOCAB, VOCAB) * 10.0
    return logits, None, cache + 1


def test_greedy_fills_the_buffer_and_keeps_prompts():
    prompt = np.array([[1, 2, 0, 0, 0], [5, 0, 0, 0, 0]])
    mask = prompt != 0
    out = decode(counting_next, prompt, cache=ops.zeros((2,)), index=1, mask=mask)
    assert np.asarray(out).tolist() == [[1, 2, 3, 4, 5], [5, 6, 7, 8, 9]]


def test_stops_and_pads_after_stop_token():
    prompt = np.array([[1, 0, 0, 0, 0, 0], [4, 0, 0, 0, 0, 0]])
    out = decode(counting_next, prompt, cache=ops.zeros((2,)), index=1, stop_token_ids=(3,))
    # row 0 reaches 3 at position 2; row 1 never does, and keeps going until the buffer ends
    assert np.asarray(out).tolist() == [[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]]


def test_whole_decode_compiles_as_one_xla_call():
    prompt = tf.constant([[1, 0, 0, 0], [6, 0, 0, 0]])

    @tf.function(jit_compile=True)
    def run(prompt):
        return decode(counting_next, prompt, cache=ops.zeros((2,)), index=1)

    assert run(prompt).numpy().tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]


@pytest.mark.parametrize("name,kwargs", [("greedy", {}), ("top_k", {"k": 1}),
                                         ("top_p", {"p": 0.01}), ("beam", {"num_beams": 2}),
                                         ("random", {"temperature": 1e-3})])
def test_every_sampler_follows_the_contract(name, kwargs):
    prompt = np.array([[2, 0, 0, 0]])
    out = decode(counting_next, prompt, cache=ops.zeros((1,)), index=1,
                 sampler=get_sampler(name, **kwargs))
    assert np.asarray(out).tolist() == [[2, 3, 4, 5]]


def test_pad_after_first_stop_ignores_prompt_tokens():
    tokens = np.array([[3, 1, 3, 4, 3]])
    mask = np.array([[1, 0, 0, 0, 0]], bool)
    assert np.asarray(pad_after_first_stop(tokens, (3,), 1, mask)).tolist() == [[3, 1, 3, 0, 0]]


def test_sampler_lookup_errors_and_instances():
    greedy = keras_hub.samplers.GreedySampler()
    assert get_sampler(greedy) is greedy
    with pytest.raises(ValueError, match="Unknown sampler"):
        get_sampler("nucleus")
    with pytest.raises(ValueError, match="either"):
        get_sampler(greedy, k=3)


@pytest.mark.parametrize("module", ["keras_seq.generation.decode", "keras_seq.generation.samplers",
                                    "keras_seq.generation.beam_search_sampler"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
