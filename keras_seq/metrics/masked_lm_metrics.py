"""Masked-LM figures over every masked position: loss, perplexity, accuracy, and by kind."""

import math

import numpy as np


def evaluate_masked_lm(model, dataset, vocabulary, mask_id):
    """Exact validation figures over every masked position of `dataset` (fixed masks).

    Returns a dict: masked-token `loss` (mean NLL in nats), `perplexity` = exp(loss),
    `accuracy` (top-1), `tokens`, and the same split by corruption type (`mask`: the input
    shows [MASK]; `random`: a random token; `kept`: the original token) and by piece type
    (`word_start` vs `continuation` "##" pieces).

    Args:
        model: a masked LM: features dict (`token_ids`, `mask_positions`) → logits
            `(B, P, V)` at the masked positions.
        dataset: batches of `(features, labels, weights)` (weight 0: padding position).
        vocabulary: the word pieces, by id ("##" marks a continuation piece).
        mask_id: the id of [MASK].
    """
    continuation = np.array([t.startswith("##") for t in vocabulary])
    groups = ("all", "mask", "random", "kept", "word_start", "continuation")
    sums = {g: [0.0, 0.0, 0] for g in groups}
    for features, labels, weights in dataset:
        logits = np.asarray(model(features, training=False), "float64")  # (B, P, V)
        labels, used = labels.numpy(), weights.numpy() > 0
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]  # (B, P)
        correct = logits.argmax(-1) == labels
        shown = np.take_along_axis(features["token_ids"].numpy(),
                                   features["mask_positions"].numpy(), 1)
        kind = np.where(shown == mask_id, "mask", np.where(shown == labels, "kept", "random"))
        piece = np.where(continuation[labels], "continuation", "word_start")
        for group in groups:
            sel = used & ((kind == group) | (piece == group) | (group == "all"))
            sums[group] = [sums[group][0] + float(nll[sel].sum()),
                           sums[group][1] + float(correct[sel].sum()),
                           sums[group][2] + int(sel.sum())]

    def figures(s):
        if not s[2]:
            return {"loss": None, "perplexity": None, "accuracy": None, "tokens": 0}
        return {"loss": s[0] / s[2], "perplexity": math.exp(s[0] / s[2]),
                "accuracy": s[1] / s[2], "tokens": s[2]}

    out = figures(sums["all"])
    out["by_corruption"] = {g: figures(sums[g]) for g in ("mask", "random", "kept")}
    out["by_piece"] = {g: figures(sums[g]) for g in ("word_start", "continuation")}
    return out
