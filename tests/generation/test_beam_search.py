import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_seq.generation import BeamSearchSampler, decode

END = 3
V = 8


def _table_next(table):
    """next_fn from a dict: prefix tuple (after [START]) -> probability vector."""
    def next_fn(tokens, cache, index):
        rows = []
        for row in np.asarray(tokens):
            prefix = tuple(int(t) for t in row[1:int(index)])
            rows.append(table.get(prefix, np.eye(V)[END]))
        return ops.log(ops.convert_to_tensor(np.array(rows), "float32") + 1e-9), None, cache
    return next_fn


# Greedy takes 4 (p=0.6) then faces a flat distribution (best 0.2): 0.12 in all.
# The better answer starts with 5 (p=0.4) and then ends with p=0.9: 0.36.
TABLE = {
    (): np.array([0, 0, 0, 0, 0.6, 0.4, 0, 0]),
    (4,): np.array([0, 0, 0, 0.2, 0.2, 0.2, 0.2, 0.2]),
    (5,): np.array([0, 0, 0, 0.9, 0.1, 0, 0, 0]),
}


def test_beam_finds_the_better_sequence_that_greedy_misses():
    prompt = np.array([[2, 0, 0, 0, 0]])
    greedy = np.asarray(decode(_table_next(TABLE), prompt, index=1, stop_token_ids=(END,)))
    beam = np.asarray(decode(_table_next(TABLE), prompt, index=1, stop_token_ids=(END,),
                             sampler=BeamSearchSampler(num_beams=2, length_penalty=0.0)))
    assert greedy[0, 1] == 4
    assert beam[0].tolist() == [2, 5, 3, 0, 0]


def test_width_one_equals_greedy_and_finished_beams_are_frozen():
    prompt = np.array([[2, 0, 0, 0, 0, 0]] * 2)
    greedy = np.asarray(decode(_table_next(TABLE), prompt, index=1, stop_token_ids=(END,)))
    beam1 = np.asarray(decode(_table_next(TABLE), prompt, index=1, stop_token_ids=(END,),
                              sampler=BeamSearchSampler(num_beams=1)))
    np.testing.assert_array_equal(beam1, greedy)
    # after [END] only padding follows
    beam = np.asarray(decode(_table_next(TABLE), prompt, index=1, stop_token_ids=(END,),
                             sampler=BeamSearchSampler(num_beams=3)))
    for row in beam:
        end = list(row).index(END)
        assert (row[end + 1:] == 0).all()


def test_length_penalty_prefers_longer_hypotheses():
    # Short: END at once (p=0.5). Long: 6, 7, END with p 0.5, 0.9, 0.9 -> 0.405.
    table = {(): np.array([0, 0, 0, 0.5, 0, 0, 0.5, 0]),
             (6,): np.array([0, 0, 0, 0.05, 0.05, 0, 0, 0.9]),
             (6, 7): np.array([0, 0, 0, 0.9, 0.1, 0, 0, 0])}
    prompt = np.array([[2, 0, 0, 0, 0, 0]])
    raw = np.asarray(decode(_table_next(table), prompt, index=1, stop_token_ids=(END,),
                            sampler=BeamSearchSampler(num_beams=2, length_penalty=0.0)))
    long = np.asarray(decode(_table_next(table), prompt, index=1, stop_token_ids=(END,),
                             sampler=BeamSearchSampler(num_beams=2, length_penalty=2.0)))
    assert raw[0].tolist()[:2] == [2, 3]
    assert long[0].tolist()[:4] == [2, 6, 7, 3]


def test_compiles_under_xla():
    def next_fn(tokens, cache, index):  # deterministic: previous + 1, END after 5
        prev = ops.take_along_axis(tokens, ops.full((ops.shape(tokens)[0], 1), index - 1), 1)[:, 0]
        nxt = ops.where(prev >= 5, END, prev + 1)
        return ops.one_hot(nxt, V) * 5.0, None, cache + 1

    @tf.function(jit_compile=True)
    def run(prompt):
        return decode(next_fn, prompt, cache=ops.zeros((2, 3)), index=1, stop_token_ids=(END,),
                      sampler=BeamSearchSampler(num_beams=3))

    out = run(tf.constant([[4, 0, 0, 0, 0], [1, 0, 0, 0, 0]])).numpy()
    assert out.tolist() == [[4, 5, 3, 0, 0], [1, 2, 3, 0, 0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_beams"):
        BeamSearchSampler(num_beams=0)
    with pytest.raises(ValueError, match="length_penalty"):
        BeamSearchSampler(length_penalty=-1)
