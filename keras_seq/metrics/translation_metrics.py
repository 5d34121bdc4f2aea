"""Translation quality: corpus BLEU (sacreBLEU) and exact match, on detokenized text."""

import re
import unicodedata


def _normalize(text, lowercase):
    text = unicodedata.normalize("NFKC", text).replace("\u202f", " ").replace("\u00a0", " ")
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower() if lowercase else text


def corpus_bleu(hypotheses, references, lowercase=True):
    """Corpus BLEU as sacreBLEU computes it (13a tokenizer, 4-grams, brevity penalty).

    Args:
        hypotheses: list of detokenized output strings.
        references: list of reference strings (one per hypothesis), or a list of such lists
            (several reference streams).
        lowercase: case-insensitive BLEU (our tokenizers lower-case; say so when reporting).

    Returns:
        BLEU in [0, 100] (float).

    Example:

    >>> round(corpus_bleu(["the cat sat on the mat ."], ["the cat sat on the mat ."]), 1)
    100.0
    """
    import sacrebleu

    if references and isinstance(references[0], str):
        references = [references]
    for stream in references:
        if len(stream) != len(hypotheses):
            raise ValueError(
                f"Each reference stream needs {len(hypotheses)} entries, got {len(stream)}.")
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(r) for r in references],
                                       lowercase=lowercase).score)


def exact_match(hypotheses, references, lowercase=True):
    """Share of hypotheses equal to their reference after Unicode/space normalization.

    Example:

    >>> exact_match(["1998-03-03", "2001-01-02"], ["1998-03-03", "2001-01-01"])
    0.5
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references differ in length: {len(hypotheses)} vs "
            f"{len(references)}.")
    if not hypotheses:
        return 0.0
    hits = sum(_normalize(h, lowercase) == _normalize(r, lowercase)
               for h, r in zip(hypotheses, references))
    return hits / len(hypotheses)
