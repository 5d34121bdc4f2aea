"""The one tokenizer interface of keras-seq (as keras-hub's `Tokenizer`)."""

import abc

import tensorflow as tf


class Tokenizer(tf.Module, abc.ABC):
    """Text ↔ ids with TensorFlow ops only, so it runs inside `tf.data` and inside an export.

    Every tokenizer of keras-seq (characters, words, word pieces, the translator's
    source/target tokenizer) has this interface:

    - `tokenize(text)`: `[batch]` strings → ragged int32 ids `[batch, (tokens)]`
      (0 is padding; the subclass documents its special ids);
    - `detokenize(ids)`: ids `[batch, time]` (dense or ragged) → `[batch]` strings,
      padding dropped;
    - `vocabulary_size`: the number of ids, padding and special tokens included;
    - `get_config()` / `from_config(config)`: a JSON-able description that rebuilds it;
    - calling the tokenizer is `tokenize`.
    """

    @abc.abstractmethod
    def tokenize(self, text):
        """Ragged int32 ids `[batch, (tokens)]` of `[batch]` strings."""

    @abc.abstractmethod
    def detokenize(self, ids):
        """`[batch]` strings of ids `[batch, time]` (dense or ragged); padding is dropped."""

    @property
    @abc.abstractmethod
    def vocabulary_size(self):
        """The number of ids (padding and special tokens included)."""

    @abc.abstractmethod
    def get_config(self):
        """A JSON-able dict such that `from_config(get_config())` rebuilds the tokenizer."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, text):
        return self.tokenize(text)
