"""In-graph character tokenizer (TensorFlow string ops), saved with the model as plain JSON."""

import json
import os
import pathlib

import tensorflow as tf

from keras_seq.data.tokenizer import Tokenizer

PAD_ID = 0
UNK_ID = 1
_D2L_CHARACTERS = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
MODES = ("d2l", "full")


class CharTokenizer(Tokenizer):
    """Maps text to character ids and back, with TensorFlow ops only (runs inside a SavedModel).

    Ids: 0 is padding (never a real character; the masks contract of keras_seq), 1 is the
    unknown character, then one id per character of the vocabulary:

        id(c) = 2 + vocabulary.index(c)   if c in vocabulary else 1

    Modes:
      * `"d2l"`: the Dive-into-Deep-Learning preprocessing: every run of characters that are not
        ASCII letters becomes one space, then lower-case (`re.sub('[^A-Za-z]+', ' ', t).lower()`);
        the vocabulary is space + a-z, i.e. 28 symbols with the unknown one (29 ids with padding).
      * `"full"`: characters are kept as they are (Unicode code points); the vocabulary is built
        from a text with `build_vocabulary` (sorted by code point) or given.

    The state is JSON (`get_config`/`save`/`load`); no pickle.

    Args:
        mode: "d2l" or "full".
        vocabulary: list of single characters (full mode; ignored and fixed in d2l mode).

    Call arguments:
        text: `tf.string` tensor `[batch]` (or a Python list of str) for `tokenize`.

    Returns:
        `tokenize`: a `tf.RaggedTensor` int32 `[batch, (chars)]`; `detokenize`:
        `tf.string` `[batch]`.

    Example:

    >>> tok = CharTokenizer("d2l")
    >>> tok.vocabulary_size
    29
    >>> ids = tok.tokenize(["The Time-Machine!"])
    >>> ids.to_list()
    [[22, 10, 7, 2, 22, 11, 15, 7, 2, 15, 3, 5, 10, 11, 16, 7, 2]]
    >>> tok.detokenize(ids).numpy()[0].decode()
    'the time machine '
    """

    def __init__(self, mode="d2l", vocabulary=None, name="char_tokenizer"):
        super().__init__(name=name)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got mode={mode!r}.")
        if mode == "d2l":
            vocabulary = list(_D2L_CHARACTERS)
        else:
            if vocabulary is None or len(vocabulary) == 0:
                raise ValueError(
                    "`vocabulary` must be a non-empty list of single characters in 'full' "
                    f"mode (see CharTokenizer.build_vocabulary), got vocabulary={vocabulary!r}.")
            vocabulary = [str(c) for c in vocabulary]
            bad = [c for c in vocabulary if len(c) != 1]
            if bad:
                raise ValueError(
                    f"`vocabulary` must hold single characters, got {bad[:5]!r}.")
            if len(set(vocabulary)) != len(vocabulary):
                raise ValueError("`vocabulary` must not repeat characters, got duplicates in "
                                 f"{vocabulary!r}.")
        self.mode = mode
        self.vocabulary = vocabulary
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary), tf.range(2, len(vocabulary) + 2, dtype=tf.int32)),
            default_value=UNK_ID)
        # id -> string; padding decodes to "" and unknown to U+FFFD.
        self._id_to_char = tf.constant(["", "\ufffd"] + vocabulary)

    @property
    def vocabulary_size(self):
        """Number of ids, padding and unknown included."""
        return len(self.vocabulary) + 2

    @staticmethod
    def build_vocabulary(text, max_size=None):
        """The sorted characters of `text` (the most frequent `max_size` when given).

        Args:
            text: a Python str.
            max_size: keep at most this many characters (by frequency), or None.

        Returns:
            A list of single characters sorted by code point.
        """
        if not isinstance(text, str) or not text:
            raise ValueError(f"`text` must be a non-empty str, got {type(text).__name__} "
                             f"of length {len(text) if hasattr(text, '__len__') else '?'}.")
        counts = {}
        for c in text:
            counts[c] = counts.get(c, 0) + 1
        chars = sorted(counts, key=lambda c: (-counts[c], c))
        if max_size is not None:
            if not isinstance(max_size, int) or max_size <= 0:
                raise ValueError(f"`max_size` must be a positive int or None, got {max_size!r}.")
            chars = chars[:max_size]
        return sorted(chars)

    def standardize(self, text):
        """The text as the model sees it (d2l: letters only, lower case; full: unchanged)."""
        text = tf.convert_to_tensor(text, tf.string)
        if self.mode == "d2l":
            text = tf.strings.regex_replace(text, "[^A-Za-z]+", " ")
            return tf.strings.lower(text)
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")

    def tokenize(self, text):
        """Ids of `text` (`[batch]` strings) as a ragged int32 tensor (see the class doc)."""
        chars = tf.strings.unicode_split(self.standardize(text), "UTF-8")
        return tf.ragged.map_flat_values(self._table.lookup, chars)

    def tokenize_text(self, text):
        """Ids of one Python str as a 1-D int32 numpy array (for training data)."""
        if not isinstance(text, str):
            raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
        return self.tokenize(tf.constant([text])).flat_values.numpy()

    def detokenize(self, ids):
        """Strings `[batch]` from ids `[batch, time]` (dense or ragged); padding is dropped."""
        chars = tf.gather(self._id_to_char, ids)
        return tf.strings.reduce_join(chars, axis=-1)

    def get_config(self):
        """JSON-serializable state."""
        return {"mode": self.mode, "vocabulary": self.vocabulary if self.mode == "full" else None}

    @classmethod
    def from_config(cls, config):
        """Rebuilds a tokenizer from `get_config()`."""
        return cls(mode=config["mode"], vocabulary=config.get("vocabulary"))

    def save(self, path):
        """Writes the config to `path` (JSON) atomically; returns the path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.get_config(), ensure_ascii=False, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        """Reads a tokenizer written by `save`."""
        return cls.from_config(json.loads(pathlib.Path(path).read_text(encoding="utf-8")))
