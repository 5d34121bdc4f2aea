"""Beam search over a batch whose prompts have different lengths (GPT's generate runner).

Generation starts after the shortest prompt; a longer row's prompt tokens are given (`mask`
True) and copied into every beam. Before the fix, the top-k at a given position still ranked
the model's own k best tokens and then overwrote them all with the given token: the k beams
of that row became copies of one prefix, each carrying the log-probability of a token it did
not contain, so the search lost its width (here: it misses the best answer) and the scores
were wrong. Now a given token is the only continuation, at no cost.
"""

import numpy as np
from keras import ops

from keras_seq.generation import BeamSearchSampler, decode

END, V = 3, 10


def _table_next(table):
    """next_fn from a dict: prefix after [START] -> probabilities (default: [END] surely)."""
    def next_fn(tokens, cache, index):
        rows = [table.get(tuple(int(t) for t in row[1:int(index)]), np.eye(V)[END])
                for row in np.asarray(tokens)]
        return ops.log(ops.convert_to_tensor(np.array(rows), "float32") + 1e-12), None, cache
    return next_fn


def _probs(**p):
    out = np.zeros(V)
    for token, value in p.items():
        out[int(token[1:])] = value
    return out


# Row 0's prompt is [START, 8]; row 1's is [START]: generation starts at index 1, where
# row 0's token is given. Row 0's best answer is 8, 5, [END] (0.4 * 0.99 = 0.396); the path
# through 4 (0.6) then has 1/9 at best (0.067). The model would put 6 (0.55) or 7 (0.45) at
# index 1: the old search made both row-0 beams "8" (log p of 6 and of 7), then took 4 on
# both (-0.60 - 0.51 and -0.80 - 0.51 beat -0.60 - 0.92) and never saw 8, 5.
TABLE = {(): _probs(t6=0.55, t7=0.45),
         (8,): _probs(t4=0.6, t5=0.4),
         (8, 4): np.r_[0.0, np.full(V - 1, 1 / (V - 1))],  # flat over 1..9
         (8, 5): _probs(t3=0.99, t9=0.01)}
PROMPT = np.array([[2, 8, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]])
MASK = PROMPT != 0


def test_given_prompt_tokens_are_free_and_keep_the_beams_apart():
    sampler = BeamSearchSampler(num_beams=2, length_penalty=0.6)
    beams, log_probs, scores = (ops.convert_to_numpy(x) for x in sampler.search(
        _table_next(TABLE), PROMPT, index=1, mask=MASK, stop_token_ids=(END,)))
    # Row 0: two different beams; log p counts only generated tokens (8 is given).
    assert beams[0].tolist() == [[2, 8, 5, 3, 0, 0], [2, 8, 4, 1, 3, 0]]
    best = int(np.argmax(scores[0]))
    assert best == 0
    np.testing.assert_allclose(log_probs[0, best], np.log(0.4) + np.log(0.99), rtol=1e-5)
    # Length penalty over the 2 generated tokens (5, [END]), not the given 8.
    np.testing.assert_allclose(scores[0, best], log_probs[0, best] / (7 / 6) ** 0.6,
                               rtol=1e-5)
    # Row 1 generates from index 1: [START] 6 [END].
    assert beams[1, int(np.argmax(scores[1]))].tolist() == [2, 6, 3, 0, 0, 0]


def test_decode_with_given_tokens_returns_the_best_answer():
    out = ops.convert_to_numpy(decode(_table_next(TABLE), PROMPT, index=1, mask=MASK,
                                      stop_token_ids=(END,),
                                      sampler=BeamSearchSampler(num_beams=2)))
    assert out.tolist() == [[2, 8, 5, 3, 0, 0], [2, 6, 3, 0, 0, 0]]


def test_a_given_stop_token_does_not_finish_a_beam():
    table = {(): _probs(t6=1.0), (3,): _probs(t5=1.0), (3, 5): _probs(t3=1.0)}
    prompt = np.array([[2, 3, 0, 0, 0], [2, 0, 0, 0, 0]])
    out = ops.convert_to_numpy(decode(_table_next(table), prompt, index=1, mask=prompt != 0,
                                      stop_token_ids=(END,),
                                      sampler=BeamSearchSampler(num_beams=2)))
    assert out.tolist() == [[2, 3, 5, 3, 0], [2, 6, 3, 0, 0]]
