"""Word pieces for the GPT language model, behind the interface of `CharTokenizer` (TF only)."""

import numpy as np
import tensorflow as tf

from keras_seq.data.tokenizer import Tokenizer
from keras_seq.data.word_pieces import (PAD_ID, load_vocabulary, make_word_piece_tokenizer,
                                        save_vocabulary, train_word_piece_vocabulary)


class WordPieceTextTokenizer(Tokenizer):
    """A WordPiece tokenizer (`keras_seq.data.word_pieces`) with `CharTokenizer`'s methods.

    `tokenize(strings) -> ragged int32`, `tokenize_text(str) -> numpy ids`, `detokenize(ids) ->
    tf.string` (padding id 0 dropped, "##" pieces glued onto their word, words joined by
    one space), `standardize` (lower-case) and `vocabulary_size`, so the GPT application and
    its export treat characters and word pieces alike. Ids follow
    `word_pieces.RESERVED_TOKENS` (0 = [PAD], 1 = [UNK], ...).

    The SavedModel it goes into uses tensorflow-text ops: a process that loads it needs
    `import tensorflow_text` (unlike the character exports).

    Args:
        vocabulary: list of str, `vocabulary[i]` is the token of id i.
        lowercase: lower-case before splitting (as the vocabulary was trained).

    Call arguments:
        text: `tf.string` `[batch]` (or a list of str) for `tokenize`.

    Returns:
        `tokenize`: ragged int32 `[batch, (pieces)]`; `detokenize`: `tf.string` `[batch]`.

    Example:

    >>> tok = WordPieceTextTokenizer.train("the time machine. the time traveller. " * 20, 60)
    >>> tok.detokenize(tok.tokenize(["The Time Machine"])).numpy()[0].decode()
    'the time machine'
    """

    def __init__(self, vocabulary, lowercase=True, name="word_piece_text_tokenizer"):
        super().__init__(name=name)
        self.vocabulary = [str(t) for t in vocabulary]
        self.lowercase = bool(lowercase)
        self.tokenizer = make_word_piece_tokenizer(self.vocabulary, lowercase=self.lowercase)
        self.mode = "word-piece"

    @classmethod
    def train(cls, text, vocabulary_size, lowercase=True):
        """Learns the vocabulary from one str (its non-empty lines)."""
        lines = [line for line in str(text).splitlines() if line.strip()]
        if not lines:
            raise ValueError("`text` must hold some non-blank text to train word pieces on.")
        return cls(train_word_piece_vocabulary(lines, vocabulary_size, lowercase=lowercase),
                   lowercase=lowercase)

    @classmethod
    def load(cls, path, lowercase=True):
        """A tokenizer over the vocabulary file written by `save_vocabulary`."""
        return cls(load_vocabulary(path), lowercase=lowercase)

    def save_vocabulary(self, path):
        """Writes the vocabulary (one token per line) atomically; returns the path."""
        return save_vocabulary(self.vocabulary, path)

    @property
    def vocabulary_size(self):
        """Number of ids (reserved tokens included)."""
        return len(self.vocabulary)

    def get_config(self):
        return {"vocabulary": list(self.vocabulary), "lowercase": self.lowercase}

    def standardize(self, text):
        """The text as the vocabulary sees it (lower-cased when `lowercase`)."""
        text = tf.convert_to_tensor(text, tf.string)
        return tf.strings.lower(text, encoding="utf-8") if self.lowercase else text

    def tokenize(self, text):
        """Ragged int32 ids `[batch, (pieces)]` of `[batch]` strings."""
        text = tf.convert_to_tensor(text, tf.string)
        if tf.executing_eagerly():  # keras_hub returns Python lists eagerly: run as a graph
            return self._encode_graph(text)
        return tf.cast(self.tokenizer.tokenize(text), tf.int32)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)])
    def _encode_graph(self, text):
        return tf.cast(self.tokenizer.tokenize(text), tf.int32)

    def tokenize_text(self, text):
        """Ids of one Python str (its lines, concatenated) as a 1-D int32 numpy array."""
        if not isinstance(text, str):
            raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
        lines = [line for line in text.splitlines() if line.strip()] or [""]
        ids = self.tokenize(tf.constant(lines))
        return ids.flat_values.numpy().astype(np.int32)

    def detokenize(self, ids):
        """Strings `[batch]` from ids `[batch, time]` (dense or ragged); padding is dropped."""
        ids = tf.cast(ids, tf.int32)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, PAD_ID))
        return tf.convert_to_tensor(self.tokenizer.detokenize(ids), tf.string)
