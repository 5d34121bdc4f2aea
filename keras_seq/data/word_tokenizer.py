"""In-graph word tokenizer (TensorFlow string ops) with a frequency vocabulary, saved as JSON."""

import collections
import json
import logging
import os
import pathlib

import tensorflow as tf

from keras_seq.data.text import standardize_review
from keras_seq.data.tokenizer import Tokenizer

logger = logging.getLogger(__name__)  # progress lines; `run_main` prints them

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
MODES = ("words", "review")
# Any character that is neither a letter, a digit, an apostrophe nor white space is a token.
_PUNCTUATION = r"([^\pL\pN\s'])"


class WordTokenizer(Tokenizer):
    """Lower-cased words (and punctuation) to ids and back, with TensorFlow ops only.

    Modes:
      * `"words"`: lower-case; every punctuation character becomes its own token
        (`"Hello, 'world'!"` -> `hello , ' world ' !`); apostrophes between letters stay
        inside words (`don't`).
      * `"review"`: `keras_seq.data.text.standardize_review` (lower-case, HTML line breaks
        and ASCII punctuation removed), the tokenization of the IMDB classifier — use it for
        a biLM that feeds that classifier.
    Then split on white space. Ids: 0 padding, 1 unknown ("[UNK]"), then the vocabulary by
    decreasing frequency, i.e. `get_vocabulary()` is laid out like
    `keras.layers.TextVectorization.get_vocabulary()`:

        id(w) = 2 + vocabulary.index(w)   if w in vocabulary else 1

    Args:
        vocabulary: list of tokens (without "" and "[UNK]"), most frequent first.
        mode: "words" or "review".
        name: module name.

    Call arguments:
        text: `tf.string` `[batch]` (or a list of str) for `tokenize` / `tokens`.

    Returns:
        `tokenize`: ragged int32 `[batch, (tokens)]`; `detokenize`: `tf.string` `[batch]`.

    Example:

    >>> tok = WordTokenizer(WordTokenizer.build_vocabulary("The cat. The dog!", 10))
    >>> tok.get_vocabulary()[:4]
    ['', '[UNK]', 'the', '!']
    >>> tok.tokenize(["The bird, the cat."]).to_list()
    [[2, 1, 1, 2, 5, 4]]
    """

    def __init__(self, vocabulary, mode="words", name="word_tokenizer"):
        super().__init__(name=name)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got mode={mode!r}.")
        vocabulary = [str(w) for w in vocabulary]
        if not vocabulary:
            raise ValueError("`vocabulary` must be a non-empty list of tokens, got [].")
        bad = [w for w in vocabulary if w in (PAD_TOKEN, UNK_TOKEN) or not w.strip()
               or len(w.split()) != 1]
        if bad or len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` must hold distinct tokens without white space, '' "
                             f"or '[UNK]'; got {bad[:5]!r} (or duplicates).")
        self.mode = mode
        self.vocabulary = vocabulary
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary), tf.range(2, len(vocabulary) + 2, dtype=tf.int32)),
            default_value=UNK_ID)
        self._id_to_token = tf.constant(self.get_vocabulary())

    @property
    def vocabulary_size(self):
        """Number of ids, padding and unknown included."""
        return len(self.vocabulary) + 2

    def get_vocabulary(self):
        """`["", "[UNK]", *vocabulary]`: the token of every id."""
        return [PAD_TOKEN, UNK_TOKEN, *self.vocabulary]

    @staticmethod
    def standardize_mode(text, mode="words"):
        """Standardized text (`tf.string`, same shape) of a tokenizer mode."""
        text = tf.convert_to_tensor(text, tf.string)
        if mode == "review":
            return standardize_review(text)
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        text = tf.strings.lower(text, encoding="utf-8")
        text = tf.strings.regex_replace(text, r"<\s*br\s*/?\s*>", " ")
        text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 ")
        # An apostrophe is part of a word only between letters/digits ("don't"); a quote
        # at a word's start or end is a token of its own.
        text = tf.strings.regex_replace(text, r"(^|[^\pL\pN])'", r"\1 ' ")
        return tf.strings.regex_replace(text, r"'([^\pL\pN]|$)", r" ' \1")

    def standardize(self, text):
        """The text as the model sees it (see Modes)."""
        return self.standardize_mode(text, self.mode)

    def tokens(self, text):
        """Ragged `tf.string` `[batch, (tokens)]` of `text` `[batch]`."""
        return tf.strings.split(self.standardize(text))

    def tokenize(self, text):
        """Ragged int32 ids `[batch, (tokens)]` of `text` `[batch]`."""
        return tf.ragged.map_flat_values(self._table.lookup, self.tokens(text))

    def tokenize_text(self, text, chunk_lines=2000):
        """Ids of one Python str (any length) as a 1-D int32 numpy array."""
        if not isinstance(text, str):
            raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
        lines = text.splitlines() or [""]
        parts = [self.tokenize(tf.constant(lines[i: i + chunk_lines])).flat_values.numpy()
                 for i in range(0, len(lines), chunk_lines)]
        return tf.concat(parts, axis=0).numpy() if len(parts) > 1 else parts[0]

    def detokenize(self, ids):
        """Space-joined tokens `[batch]` of ids `[batch, time]`; padding is dropped."""
        ids = tf.convert_to_tensor(ids) if not isinstance(ids, tf.RaggedTensor) else ids
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids, padding=PAD_ID)
        return tf.strings.reduce_join(tf.gather(self._id_to_token, ids), axis=-1,
                                      separator=" ")

    @staticmethod
    def split_text(text, mode="words", chunk_lines=5000):
        """The tokens of one Python str (any length) as a list of str, in order."""
        if not isinstance(text, str):
            raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
        lines = text.splitlines()
        tokens = []
        for i in range(0, len(lines), chunk_lines):
            split = tf.strings.split(WordTokenizer.standardize_mode(
                tf.constant(lines[i: i + chunk_lines]), mode))
            tokens.extend(t.decode("utf-8") for t in split.flat_values.numpy())
        return tokens

    @staticmethod
    def vocabulary_from_tokens(tokens, max_size):
        """The `max_size` most frequent of `tokens` (ties: alphabetical), most frequent first."""
        if not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f"`max_size` must be a positive int, got max_size={max_size!r}.")
        counts = collections.Counter(tokens)
        counts.pop(UNK_TOKEN, None)
        counts.pop(PAD_TOKEN, None)
        if not counts:
            raise ValueError("`tokens` must hold at least one token, got none.")
        return sorted(counts, key=lambda w: (-counts[w], w))[:max_size]

    @staticmethod
    def build_vocabulary(text, max_size, mode="words"):
        """The `max_size` most frequent tokens of `text` (ties: alphabetical).

        Args:
            text: a Python str (split into lines for the counting).
            max_size: number of tokens to keep (the ids are 2 more: padding, unknown).
            mode: the tokenizer mode used for counting.

        Returns:
            A list of tokens, most frequent first.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("`text` must be a non-empty str, got "
                             f"{type(text).__name__} {str(text)[:20]!r}.")
        logger.info("learning the vocabulary (%s, up to %d) from %s characters of text...",
                    mode, max_size, f"{len(text):,}")
        return WordTokenizer.vocabulary_from_tokens(WordTokenizer.split_text(text, mode),
                                                    max_size)

    def ids_of_tokens(self, tokens):
        """1-D int32 numpy ids of a list of token strings (unknown -> 1)."""
        if len(tokens) == 0:
            return tf.zeros([0], tf.int32).numpy()
        return self._table.lookup(tf.constant(list(tokens))).numpy()

    def get_config(self):
        """JSON-serializable state."""
        return {"mode": self.mode, "vocabulary": list(self.vocabulary)}

    @classmethod
    def from_config(cls, config):
        """Rebuilds a tokenizer from `get_config()`."""
        return cls(config["vocabulary"], mode=config.get("mode", "words"))

    def save(self, path):
        """Writes the config to `path` (JSON) atomically; returns the path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.get_config(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        """Reads a tokenizer written by `save`."""
        return cls.from_config(json.loads(pathlib.Path(path).read_text(encoding="utf-8")))
