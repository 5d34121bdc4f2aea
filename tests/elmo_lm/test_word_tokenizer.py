"""WordTokenizer: words and punctuation, the review mode, vocabulary order, JSON round trip."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.text import standardize_review
from keras_seq.data.word_tokenizer import WordTokenizer


def test_words_mode_splits_punctuation_and_keeps_inner_apostrophes():
    tok = WordTokenizer(["x"])
    got = [t.decode() for t in tok.tokens(["'Don't,' he said -- Time!"]).to_list()[0]]
    assert got == ["'", "don't", ",", "'", "he", "said", "-", "-", "time", "!"]


def test_review_mode_is_the_imdb_classifier_tokenization():
    text = ["Great movie!<br /><br />Loved IT, really."]
    tok = WordTokenizer(["great"], mode="review")
    expected = tf.strings.split(standardize_review(tf.constant(text))).to_list()
    assert tok.tokens(text).to_list() == expected


def test_vocabulary_ids_unknown_and_decode(tmp_path):
    vocab = WordTokenizer.build_vocabulary("b a b c b a .\nb", 3)
    assert vocab == ["b", "a", "."]  # by frequency, ties alphabetical, truncated
    tok = WordTokenizer(vocab)
    assert tok.get_vocabulary() == ["", "[UNK]", "b", "a", "."]
    assert tok.tokenize(["A b zzz ."]).to_list() == [[3, 2, 1, 4]]
    ids = tok.tokenize_text("b a\nzzz .")
    assert ids.dtype == np.int32 and ids.tolist() == [2, 3, 1, 4]
    assert tok.detokenize([[3, 2, 0, 0]]).numpy()[0].decode() == "a b"
    loaded = WordTokenizer.load(tok.save(tmp_path / "tok.json"))
    assert loaded.get_config() == tok.get_config()
    assert loaded.ids_of_tokens(["a", "q"]).tolist() == [3, 1]


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="mode"):
        WordTokenizer(["a"], mode="chars")
    with pytest.raises(ValueError, match="vocabulary"):
        WordTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="max_size"):
        WordTokenizer.build_vocabulary("a b", 0)
