"""Quality of a BIO tagger: per-token accuracy and exact-match span precision/recall/F1.

Token accuracy counts real tokens only (padding ignored):

    accuracy = #{t real : pred_t = true_t} / #{t real}

Spans are decoded from BIO tags (`bio_to_spans`) and compared by exact match of
(start, end, type); per type and micro-averaged over all types:

    P = |pred ∩ gold| / |pred|,   R = |pred ∩ gold| / |gold|,   F1 = 2 P R / (P + R)

(0 where a denominator is 0). Decoding follows conlleval: an I-X that does not continue an X
span (after O, after another type, or at the start) opens a new X span, so invalid BIO
sequences still give spans and are scored, never dropped.

`MaskedTokenAccuracy` is the same token accuracy as a Keras metric for `fit` (a padding mask
from `sample_weight`, or from `y_true != ignore_index` when `ignore_index` is set).
"""

import keras
import numpy as np
from keras import ops


def bio_to_spans(tags):
    """Spans `(start, end, type)` (end exclusive) from a sequence of BIO tag strings.

    Args:
        tags: sequence of "O", "B-X" or "I-X" strings (any other string counts as "O").

    Returns:
        list of `(start, end, type)` tuples in order.

    Example:

    >>> bio_to_spans(["B-NUM", "I-NUM", "O", "I-DATE", "I-DATE", "B-DATE"])
    [(0, 2, 'NUM'), (3, 5, 'DATE'), (5, 6, 'DATE')]
    """
    spans, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = str(tag).partition("-")
        continues = prefix == "I" and start is not None and label == kind
        if start is not None and not continues:
            spans.append((start, i, kind))
            start = kind = None
        if prefix in ("B", "I") and label and not continues:
            start, kind = i, label
    return spans


def tag_ids_to_spans(tag_ids, names, length=None):
    """`bio_to_spans` of tag ids (`names[id]` is the tag string); the first `length` only."""
    tag_ids = list(np.asarray(tag_ids).reshape(-1)[:length])
    return bio_to_spans([names[int(t)] for t in tag_ids])


def token_accuracy(true_ids, pred_ids, mask=None):
    """Share of real tokens whose predicted tag equals the true one.

    Args:
        true_ids, pred_ids: int arrays of the same shape (or lists of 1-D arrays).
        mask: bool array, True = real token (default: all real).

    Returns:
        float in [0, 1] (NaN if there is no real token).
    """
    if isinstance(true_ids, (list, tuple)) and true_ids and np.ndim(true_ids[0]) == 1:
        true_ids = np.concatenate([np.asarray(t) for t in true_ids])
        pred_ids = np.concatenate([np.asarray(p) for p in pred_ids])
    true_ids, pred_ids = np.asarray(true_ids), np.asarray(pred_ids)
    if true_ids.shape != pred_ids.shape:
        raise ValueError(f"`true_ids` and `pred_ids` must have the same shape, got "
                         f"{true_ids.shape} and {pred_ids.shape}.")
    mask = np.ones(true_ids.shape, bool) if mask is None else np.asarray(mask, bool)
    total = int(mask.sum())
    return float(((true_ids == pred_ids) & mask).sum() / total) if total else float("nan")


def _prf(correct, predicted, gold):
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": gold, "predicted": predicted,
            "correct": correct}


def span_scores(gold_spans, pred_spans, types=None):
    """Exact-match span precision, recall and F1 per type and micro over all types.

    Args:
        gold_spans: list (one entry per sentence) of lists of `(start, end, type)`.
        pred_spans: the predicted spans, same structure.
        types: the types to report (default: every type seen in gold or predictions).

    Returns:
        `{type: {"precision", "recall", "f1", "support", "predicted", "correct"}, ...,
        "micro": {...}}`.

    Example:

    >>> s = span_scores([[(0, 2, "NUM")]], [[(0, 2, "NUM"), (3, 4, "DATE")]])
    >>> round(s["micro"]["precision"], 2), s["micro"]["recall"], s["NUM"]["f1"]
    (0.5, 1.0, 1.0)
    """
    if len(gold_spans) != len(pred_spans):
        raise ValueError(f"`gold_spans` and `pred_spans` must hold one list per sentence, got "
                         f"{len(gold_spans)} and {len(pred_spans)}.")
    seen = {s[2] for spans in list(gold_spans) + list(pred_spans) for s in spans}
    types = sorted(seen) if types is None else list(types)
    counts = {t: [0, 0, 0] for t in types}  # correct, predicted, gold
    for gold, pred in zip(gold_spans, pred_spans):
        gold, pred = {tuple(s) for s in gold}, {tuple(s) for s in pred}
        for t in types:
            g = {s for s in gold if s[2] == t}
            p = {s for s in pred if s[2] == t}
            counts[t][0] += len(g & p)
            counts[t][1] += len(p)
            counts[t][2] += len(g)
    out = {t: _prf(*c) for t, c in counts.items()}
    out["micro"] = _prf(*(sum(c[i] for c in counts.values()) for i in range(3)))
    return out


def tagging_report(true_tags, pred_tags, names):
    """Token accuracy and span scores of tag-id sequences (one 1-D array per sentence).

    Args:
        true_tags: list of int arrays (the gold tag ids of each sentence, no padding).
        pred_tags: list of int arrays or a padded `[n, T]` matrix (cut to each gold length).
        names: tag names (`names[id]`, e.g. `["O", "B-NUM", "I-NUM", ...]`).

    Returns:
        `{"token_accuracy": float, "spans": span_scores(...)}`.
    """
    lengths = [len(t) for t in true_tags]
    pred = [np.asarray(p)[:n] for p, n in zip(pred_tags, lengths)]
    types = sorted({n[2:] for n in names if n[:2] in ("B-", "I-")})
    gold_spans = [tag_ids_to_spans(t, names) for t in true_tags]
    pred_spans = [tag_ids_to_spans(p, names) for p in pred]
    return {"token_accuracy": token_accuracy(list(true_tags), pred),
            "spans": span_scores(gold_spans, pred_spans, types)}


@keras.saving.register_keras_serializable(package="keras_seq")
class MaskedTokenAccuracy(keras.metrics.Mean):
    """Per-token accuracy of `[batch, time, num_tags]` scores that ignores padded steps.

    accuracy = Σ_t w_t [argmax y_pred_t = y_true_t] / Σ_t w_t, with w_t = `sample_weight`
    (1 real, 0 padding) or, when `ignore_index` is set, w_t = [y_true_t != ignore_index].

    Args:
        ignore_index: a label id that marks padding, or None (use `sample_weight`).
        name: metric name.
        dtype: metric dtype.

    Returns:
        The running accuracy from `result()`.

    Example:

    >>> m = MaskedTokenAccuracy()
    >>> m.update_state([[1, 2, 0]], [[[0, 1, 0], [0, 1, 0], [1, 0, 0]]],
    ...                sample_weight=[[1, 1, 0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, ignore_index=None, name="token_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_index = ignore_index

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "int32")
        pred = ops.cast(ops.argmax(ops.convert_to_tensor(y_pred), axis=-1), "int32")
        hits = ops.cast(ops.equal(ops.reshape(y_true, ops.shape(pred)), pred), self.dtype)
        weight = ops.ones_like(hits)
        if sample_weight is not None:
            weight = weight * ops.reshape(ops.cast(sample_weight, self.dtype), ops.shape(hits))
        if self.ignore_index is not None:
            weight = weight * ops.cast(ops.not_equal(y_true, self.ignore_index), self.dtype)
        return super().update_state(hits, sample_weight=weight)

    def get_config(self):
        return {**super().get_config(), "ignore_index": self.ignore_index}
