import re

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data.char_tokenizer import PAD_ID, UNK_ID, CharTokenizer
from tests.char_lm.helpers import TINY_TEXT


def test_d2l_mode_matches_the_d2l_preprocessing_and_round_trips():
    tok = CharTokenizer("d2l")
    assert tok.vocabulary_size == 29 and len(tok.vocabulary) == 27  # + unknown = 28 symbols
    text = "The Time-Machine, 1895!  by H.G. Wells"
    expected = re.sub("[^A-Za-z]+", " ", text).lower()
    ids = tok.tokenize([text])
    assert tok.detokenize(ids).numpy()[0].decode() == expected
    flat = ids.flat_values.numpy()
    assert flat.min() >= 2 and PAD_ID not in flat and UNK_ID not in flat
    assert list(flat[:3]) == [2 + tok.vocabulary.index(c) for c in "the"]


def test_full_mode_round_trips_every_character_and_marks_unknowns():
    text = "Héllo, wörld!\nTabs\tand ünïcödé."
    tok = CharTokenizer("full", CharTokenizer.build_vocabulary(text))
    ids = tok.tokenize([text, "Hé"])
    assert tok.detokenize(ids).numpy()[0].decode("utf-8") == text
    unknown = tok.tokenize(["Z€"]).flat_values.numpy()
    assert list(unknown) == [UNK_ID, UNK_ID]
    assert tok.detokenize(tf.constant([[PAD_ID, 2 + tok.vocabulary.index("H")]])).numpy()[0] == b"H"


def test_config_round_trip_through_json(tmp_path):
    tok = CharTokenizer("full", CharTokenizer.build_vocabulary(TINY_TEXT))
    path = tok.save(tmp_path / "tok.json")
    back = CharTokenizer.load(path)
    assert back.vocabulary == tok.vocabulary and back.mode == "full"
    np.testing.assert_array_equal(back.tokenize_text(TINY_TEXT[:50]),
                                  tok.tokenize_text(TINY_TEXT[:50]))
    assert CharTokenizer.load(CharTokenizer("d2l").save(tmp_path / "d.json")).mode == "d2l"


def test_encode_runs_inside_a_tf_function():
    tok = CharTokenizer("d2l")

    @tf.function
    def f(text):
        return tok.detokenize(tok.tokenize(text))

    assert f(tf.constant(["AB  c"])).numpy()[0] == b"ab c"


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "bytes"}, "mode"),
    ({"mode": "full"}, "vocabulary"),
    ({"mode": "full", "vocabulary": ["ab"]}, "single characters"),
    ({"mode": "full", "vocabulary": ["a", "a"]}, "repeat"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CharTokenizer(**kwargs)
