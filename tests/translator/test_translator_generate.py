"""The translator task's generate path over the network's one generative contract."""

import numpy as np
import pytest

from keras_seq.data.date_normalization import generate_date_pairs
from keras_seq.generation import get_sampler
from keras_seq.tasks.translator import Translator


@pytest.fixture(scope="module")
def task():
    pairs = generate_date_pairs(16, seed=0)
    return Translator.from_pairs(pairs, model="seq2seq", embedding_dim=8, hidden_dim=8,
                                 max_source_length=8, max_target_length=6)


def test_generate_is_the_networks_generate_detokenized(task):
    texts = ["july 4, 2026", "march 1, 1999", "12/05/2010"]
    ids = task.preprocessor.source_ids(texts).numpy()
    tokens = task.network.generate(ids, 7, jit_compile=False)  # max_target_length + 1
    expected = [t.decode("utf-8") for t in task.preprocessor.detokenize(tokens).numpy()]
    assert task.generate(texts, jit_compile=False, batch_size=2) == expected
    # A shorter buffer ([START] + 2 tokens) cuts the same greedy translations short.
    short = task.generate(texts, max_length=3, jit_compile=False)
    for cut, whole in zip(short, expected):
        assert len(cut.split()) <= 2 and cut.split() == whole.split()[:len(cut.split())]
    beam = task.generate(texts, sampler=get_sampler("beam", num_beams=2), jit_compile=False)
    assert len(beam) == 3 and all(isinstance(t, str) for t in beam)


@pytest.mark.parametrize("max_length", [1, 8, 3.0])
def test_generate_rejects_a_bad_max_length(task, max_length):
    with pytest.raises(ValueError, match="max_length"):
        task.generate(["july 4, 2026"], max_length=max_length)


def test_network_generate_returns_int32_numpy(task):
    out = task.network.generate(np.array([[5, 6, 0]]), 4, jit_compile=False)
    assert isinstance(out, np.ndarray) and out.dtype == np.int32 and out.shape == (1, 4)
