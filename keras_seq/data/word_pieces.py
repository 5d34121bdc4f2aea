"""WordPiece vocabularies and tokenizers with a fixed set of reserved tokens (TF only).

A thin layer over `keras_hub.tokenizers.compute_word_piece_vocabulary` and
`keras_hub.tokenizers.WordPieceTokenizer` that fixes the conventions every keras_seq language
model relies on:

* the reserved tokens `RESERVED_TOKENS` come first, in order, so their ids are stable
  (`[PAD]` = 0, the padding id of the masks contract; `[UNK]` = 1, `[CLS]` = 2, `[SEP]` = 3,
  `[MASK]` = 4, `[BOS]` = 5, `[EOS]` = 6);
* reserved tokens written in the input text (e.g. `"It [MASK] great"`) stay single tokens;
* "##" continuation pieces are glued back onto their word when detokenizing.

The WordPiece split is greedy longest-match-first inside each word (words are split on
whitespace and punctuation, after lower-casing when `lowercase=True`):

    pieces(w) = [w[0:i1], "##" + w[i1:i2], ...]  with each prefix the longest in the vocabulary,
                or ["[UNK]"] when no prefix of the rest of the word is in the vocabulary.
"""

import logging
import os
import pathlib
import tempfile

import tensorflow as tf

logger = logging.getLogger(__name__)  # progress lines; `run_main` prints them

RESERVED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")
PAD_ID = 0
UNK_ID = 1
CLS_ID = 2
SEP_ID = 3
MASK_ID = 4
BOS_ID = 5
EOS_ID = 6


def _check_reserved(reserved_tokens):
    reserved_tokens = [str(t) for t in reserved_tokens]
    if not reserved_tokens or reserved_tokens[0] != "[PAD]":
        raise ValueError("`reserved_tokens` must start with '[PAD]' (padding id 0), got "
                         f"reserved_tokens={reserved_tokens!r}.")
    if len(set(reserved_tokens)) != len(reserved_tokens):
        raise ValueError(f"`reserved_tokens` must not repeat tokens, got {reserved_tokens!r}.")
    return reserved_tokens


def train_word_piece_vocabulary(texts, vocabulary_size, lowercase=True,
                                reserved_tokens=RESERVED_TOKENS):
    """Learns a WordPiece vocabulary from texts, reserved tokens first.

    Wraps `keras_hub.tokenizers.compute_word_piece_vocabulary` (the tensorflow-text
    bottom-up WordPiece learner). The learner may return fewer than `vocabulary_size` tokens
    on a small corpus.

    Args:
        texts: a Python list/tuple of str, a `tf.data.Dataset` of `tf.string`, or one str.
        vocabulary_size: int, the maximum number of tokens including the reserved ones.
        lowercase: bool, lower-case the text before counting words.
        reserved_tokens: sequence of str; must start with "[PAD]" (id 0). They get ids
            0..len(reserved_tokens)-1, in order.

    Returns:
        list of str: the vocabulary, `vocabulary[i]` is the token of id `i`.

    Example:

    >>> vocab = train_word_piece_vocabulary(["the time machine", "the time traveller"] * 10, 40)
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> "time" in vocab
    True
    """
    import keras_hub

    reserved_tokens = _check_reserved(reserved_tokens)
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int) or \
            vocabulary_size <= len(reserved_tokens):
        raise ValueError(
            f"`vocabulary_size` must be an int > {len(reserved_tokens)} (the number of reserved "
            f"tokens), got vocabulary_size={vocabulary_size!r}.")
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, (list, tuple)):
        texts = [str(t) for t in texts if str(t).strip()]
        if not texts:
            raise ValueError("`texts` must hold at least one non-empty string, got none.")
        source = f"{len(texts):,} texts"
        # A Python list would be read as file names by the learner: pass a dataset.
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(texts)).batch(256)
    elif not isinstance(texts, tf.data.Dataset):
        raise ValueError("`texts` must be a str, a list of str or a tf.data.Dataset of strings, "
                         f"got {type(texts).__name__}.")
    else:
        source = "a dataset of texts"
    logger.info("learning a word-piece vocabulary of up to %d tokens from %s...",
                vocabulary_size, source)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        texts, vocabulary_size, lowercase=lowercase, reserved_tokens=list(reserved_tokens))
    vocabulary = [str(t) for t in vocabulary]
    # The learner puts the reserved tokens first; enforce it (and drop duplicates) anyway.
    rest = [t for t in vocabulary if t not in set(reserved_tokens)]
    return list(reserved_tokens) + rest


def make_word_piece_tokenizer(vocabulary, lowercase=True, sequence_length=None):
    """Builds a `keras_hub.tokenizers.WordPieceTokenizer` for a keras_seq vocabulary.

    The reserved tokens of `RESERVED_TOKENS` that are in the vocabulary are declared special
    tokens and recognised inside input strings, so `"It [MASK] great"` tokenizes `[MASK]` to
    its id even when `lowercase=True`. `tokenizer.detokenize(ids)` joins pieces with spaces and
    glues "##" continuations back onto their word (eagerly it returns Python strings,
    inside a `tf.function` a `tf.string` tensor).

    Args:
        vocabulary: list of str (e.g. from `train_word_piece_vocabulary` or `load_vocabulary`);
            `vocabulary[0]` must be "[PAD]" and "[UNK]" must be present.
        lowercase: bool, lower-case the input before splitting (must match the training).
        sequence_length: int or None; when set, outputs are padded with 0 / truncated to this
            length (a dense tensor), otherwise a ragged tensor.

    Returns:
        `keras_hub.tokenizers.WordPieceTokenizer`.

    Example:

    >>> vocab = train_word_piece_vocabulary(["the time machine", "the time traveller"] * 10, 40)
    >>> tok = make_word_piece_tokenizer(vocab)
    >>> ids = tok(["The [MASK] machine"])
    >>> [vocab[i] for i in ids[0]]
    ['the', '[MASK]', 'machine']
    >>> tok.detokenize(ids)  # eager: Python strings; in a tf.function: a tf.string tensor
    ['the [MASK] machine']
    """
    import keras_hub

    vocabulary = [str(t) for t in vocabulary]
    if not vocabulary or vocabulary[0] != "[PAD]":
        raise ValueError("`vocabulary` must start with '[PAD]' (id 0), got "
                         f"{vocabulary[:5]!r}.")
    if "[UNK]" not in vocabulary:
        raise ValueError("`vocabulary` must contain the out-of-vocabulary token '[UNK]'.")
    if sequence_length is not None and (isinstance(sequence_length, bool) or
                                        not isinstance(sequence_length, int) or
                                        sequence_length < 1):
        raise ValueError("`sequence_length` must be None or a positive int, got "
                         f"sequence_length={sequence_length!r}.")
    special = [t for t in RESERVED_TOKENS if t in vocabulary]
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, sequence_length=sequence_length, lowercase=lowercase,
        oov_token="[UNK]", special_tokens=special, special_tokens_in_strings=True)


def save_vocabulary(vocabulary, path):
    """Writes a vocabulary, one token per line (UTF-8), atomically (temp file, then rename).

    Args:
        vocabulary: list of str; tokens must not contain a newline.
        path: file path; its parent directory is created.

    Returns:
        `path` as a `pathlib.Path`.

    Example:

    >>> import tempfile, os
    >>> p = save_vocabulary(["[PAD]", "[UNK]", "the"], os.path.join(tempfile.mkdtemp(), "v.txt"))
    >>> load_vocabulary(p)
    ['[PAD]', '[UNK]', 'the']
    """
    vocabulary = [str(t) for t in vocabulary]
    bad = [t for t in vocabulary if "\n" in t or "\r" in t or t == ""]
    if bad:
        raise ValueError(
            f"`vocabulary` tokens must be non-empty and hold no newline, got {bad[:3]!r}.")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(vocabulary) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_vocabulary(path):
    """Reads a vocabulary written by `save_vocabulary` (one token per line).

    Args:
        path: file path.

    Returns:
        list of str.

    Example:

    >>> import tempfile, os
    >>> p = save_vocabulary(["[PAD]", "[UNK]", "##s"], os.path.join(tempfile.mkdtemp(), "v.txt"))
    >>> load_vocabulary(p)[-1]
    '##s'
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"`path` must be an existing vocabulary file, got {str(path)!r}.")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f if line.rstrip("\n\r") != ""]
