"""A plain NumPy beam search that re-runs the whole model on every prefix: no cache at all.

It is the reference for `tests/generation/test_beam_cache_consistency.py`. At each step it
asks `prefix_logits(examples, prefixes)` for the next-token logits of whole prefixes (e.g. a
model's teacher-forced forward pass, last position), so nothing is carried from one step to
the next except the token lists: there is no cache to reorder and hence nothing to get wrong
there. It applies the rules of `keras_seq.generation.BeamSearchSampler`, one by one:

1. Log-probabilities: `log_softmax(logits / temperature)` (here in float64).
2. Start: one hypothesis per example with log-probability 0 (the sampler's other
   `num_beams - 1` slots start at -1e9, so they are never chosen while there are
   `num_beams` real candidates, which holds in every case the tests build).
3. Each step, every unfinished hypothesis proposes each of the V tokens with score
   `log p(hypothesis) + log p(token | prefix)`; a finished hypothesis proposes only padding
   (id 0) at no cost; at a position where `mask` is True (a given prompt token) the given
   token is the only proposal, at no cost.
4. The `num_beams` best proposals survive, ranked by score; equal scores keep the lower flat
   index `beam * V + token` first (what `ops.top_k` does), beams numbered in the order of the
   previous step's ranking.
5. A hypothesis is finished once it emits a stop token; a given prompt token never finishes
   it.
6. The search ends when every hypothesis of the example is finished or the buffer is full
   (the sampler waits for all examples, but a finished example only gains padding at no
   cost, which changes nothing).
7. Final ranking: `score = log p / ((5 + n) / 6) ** length_penalty`, n = the number of
   non-padding tokens written by the search (given prompt tokens not counted); the best is
   the first of the highest scores.

Besides the result it reports `min_gap`: the smallest score difference it had to decide
(between consecutive candidates down to the first one left out, and between the final
scores). A test requires it to be far above float32 noise, so that the comparison with the
cached search is well posed rather than a coin flip between near-equal beams.
"""

import numpy as np


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference_beam_search(prefix_logits, prompt, index, num_beams, length_penalty=0.6,
                          temperature=1.0, mask=None, stop_token_ids=()):
    """Beam search without a cache (see the module docstring for the rules it follows).

    Args:
        prefix_logits: `f(examples, prefixes) -> logits`: int `(N,)` example rows and int
            `(N, t)` prefixes (all of one length t) to float `(N, V)` logits of the token at
            position t; it must run the model on the whole prefix.
        prompt: int `(B, L)` buffer, L = max length.
        index: first position to generate.
        num_beams: k.
        length_penalty: alpha of the final ranking.
        temperature: logits are divided by it.
        mask: bool `(B, L)`, True = given token (copied, not generated), or None.
        stop_token_ids: ids that finish a hypothesis.

    Returns:
        dict with `beams` int `(B, k, L)`, `log_probs` `(B, k)`, `scores` `(B, k)` (beams in
        ranking order of the last step), `best` int `(B, L)` and `min_gap` (float).
    """
    prompt = np.asarray(prompt)
    batch, length = prompt.shape
    mask = np.zeros_like(prompt, bool) if mask is None else np.asarray(mask, bool)
    stops = {int(s) for s in stop_token_ids}
    # Per example: a ranked list of hypotheses [tokens (L,), log p, finished].
    hyps = [[[prompt[b].copy(), 0.0, False]] for b in range(batch)]
    min_gap = np.inf
    for t in range(int(index), length):
        if all(h[2] for example in hyps for h in example):
            break
        # One model call for every hypothesis that needs the model at this step.
        asks = [(b, j) for b in range(batch) for j, h in enumerate(hyps[b])
                if not h[2] and not mask[b, t]]
        step_logp = {}
        if asks:
            rows = np.array([b for b, _ in asks])
            prefixes = np.stack([hyps[b][j][0][:t] for b, j in asks])
            logp = _log_softmax(np.asarray(prefix_logits(rows, prefixes)) / temperature)
            step_logp = {ask: logp[i] for i, ask in enumerate(asks)}
        for b in range(batch):
            proposals = []  # (score, flat index, beam, token)
            for j, (tokens, logp, finished) in enumerate(hyps[b]):
                if finished:
                    proposals.append((logp, j * 10**9, j, 0))
                elif mask[b, t]:
                    token = int(prompt[b, t])
                    proposals.append((logp, j * 10**9 + token, j, token))
                else:
                    for token, step in enumerate(step_logp[(b, j)]):
                        proposals.append((logp + step, j * 10**9 + token, j, token))
            proposals.sort(key=lambda p: (-p[0], p[1]))
            kept = proposals[:num_beams + 1]
            gaps = [kept[i][0] - kept[i + 1][0] for i in range(len(kept) - 1)]
            min_gap = min([min_gap] + gaps)
            new = []
            for score, _, j, token in proposals[:num_beams]:
                tokens, _, finished = hyps[b][j]
                tokens = tokens.copy()
                tokens[t] = token
                given = bool(mask[b, t])
                new.append([tokens, score, finished or (not given and token in stops)])
            hyps[b] = new
    beams = np.stack([np.stack([h[0] for h in hyps[b]]) for b in range(batch)])
    if beams.shape[1] != num_beams:
        raise ValueError(f"only {beams.shape[1]} hypotheses survived; the tests need "
                         f"num_beams={num_beams} real ones.")
    log_probs = np.array([[h[1] for h in hyps[b]] for b in range(batch)])
    generated = (np.arange(length)[None, None, :] >= index) & ~mask[:, None, :] & (beams != 0)
    penalty = ((5.0 + generated.sum(-1)) / 6.0) ** length_penalty
    scores = log_probs / penalty
    for row in scores:
        ranked = np.sort(row)[::-1]
        if len(ranked) > 1:
            min_gap = min(min_gap, ranked[0] - ranked[1])
    best = beams[np.arange(batch), np.argmax(scores, axis=1)]
    return {"beams": beams, "log_probs": log_probs, "scores": scores, "best": best,
            "min_gap": float(min_gap)}
