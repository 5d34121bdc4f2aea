"""The one tokenizer interface: every tokenizer of keras-seq is a `Tokenizer`."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.char_tokenizer import CharTokenizer
from keras_seq.data.sequence_tokenizer import SequenceTokenizer
from keras_seq.data.tokenizer import Tokenizer
from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer
from keras_seq.data.word_tokenizer import WordTokenizer

TEXT = "the time machine . the time traveller"


def _tokenizers():
    return {
        "char": CharTokenizer("full", CharTokenizer.build_vocabulary(TEXT)),
        "word": WordTokenizer(WordTokenizer.build_vocabulary(TEXT, 20)),
        "word_piece": WordPieceTextTokenizer.train(TEXT, 40),
        "sequence": SequenceTokenizer.build_from_texts([TEXT]),
    }


@pytest.mark.parametrize("name", ["char", "word", "word_piece", "sequence"])
def test_every_tokenizer_has_the_one_interface(name):
    tok = _tokenizers()[name]
    assert isinstance(tok, Tokenizer)
    ids = tok.tokenize(tf.constant(["the time machine", ""]))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.row_lengths().numpy().tolist()[1] == 0
    flat = ids.flat_values.numpy()
    assert flat.min() > 0 and flat.max() < tok.vocabulary_size  # 0 is padding only
    assert np.array_equal(tok(tf.constant(["the time machine"])).flat_values.numpy(),
                          tok.tokenize(tf.constant(["the time machine"])).flat_values.numpy())
    back = tok.detokenize(ids.to_tensor())
    assert back.dtype == tf.string and back.shape == (2,)
    assert back.numpy()[0].decode("utf-8").replace(" ", "") == "thetimemachine"
    again = type(tok).from_config(tok.get_config())
    assert np.array_equal(again.tokenize(tf.constant([TEXT])).flat_values.numpy(),
                          tok.tokenize(tf.constant([TEXT])).flat_values.numpy())


def test_the_interface_cannot_be_half_implemented():
    class Half(Tokenizer):
        def tokenize(self, text):
            return text

    with pytest.raises(TypeError, match="abstract"):
        Half()
