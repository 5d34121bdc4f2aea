"""Captioning quality: corpus BLEU-1..4 against all references, and exact match."""

from keras_seq.metrics.translation_metrics import _normalize


def caption_bleu(hypotheses, references, max_order=4, lowercase=True):
    """Corpus BLEU-1 .. BLEU-`max_order` of captions, each against all its references.

    BLEU-n is the usual cumulative score (Papineni et al., 2002) as sacreBLEU computes it
    (13a tokenizer, clipped n-gram precisions p_1..p_n, geometric mean, brevity penalty
    against the closest reference length), on the 0-1 scale the captioning literature uses:

        BLEU-n = BP · exp((1/n) Σ_{k=1..n} log p_k)

    Args:
        hypotheses: list of generated captions (strings).
        references: list (one entry per hypothesis) of lists of reference strings; the
            lists may differ in length (Flickr8k: 5 per image; generated scenes: 1).
        max_order: int, highest n.
        lowercase: case-insensitive.

    Returns:
        dict `{"bleu_1": float, ..., "bleu_<max_order>": float}` in [0, 1].

    Example:

    >>> scores = caption_bleu(["a small red circle", "two dogs run on grass"],
    ...                       [["a small red circle"], ["two dogs run on the grass", "dogs"]])
    >>> [round(v, 3) for v in scores.values()]
    [0.895, 0.828, 0.789, 0.736]
    """
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references differ in length: {len(hypotheses)} vs "
                         f"{len(references)}.")
    if any(isinstance(r, str) or not r for r in references):
        raise ValueError("`references` must hold one non-empty list of strings per hypothesis.")
    if not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"`max_order` must be a positive int, got max_order={max_order!r}.")
    most = max(len(r) for r in references) if references else 1
    # sacreBLEU takes reference *streams*; a missing reference is None.
    streams = [[r[i] if i < len(r) else None for r in references] for i in range(most)]
    return {f"bleu_{n}": BLEU(max_ngram_order=n, lowercase=lowercase)
            .corpus_score(list(hypotheses), streams).score / 100.0
            for n in range(1, max_order + 1)}


def caption_exact_match(hypotheses, references, lowercase=True):
    """Share of captions equal to one of their references (after space normalization).

    Example:

    >>> caption_exact_match(["two red circles", "a blue square"],
    ...                     [["two red circles"], ["a large blue square"]])
    0.5
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references differ in length: {len(hypotheses)} vs "
                         f"{len(references)}.")
    if not hypotheses:
        return 0.0
    hits = sum(_normalize(h, lowercase) in {_normalize(r, lowercase) for r in refs}
               for h, refs in zip(hypotheses, references))
    return hits / len(hypotheses)
