"""The word-piece API shared by the BERT and GPT language models."""


import numpy as np
import pytest

import tensorflow as tf

from keras_seq.data import word_pieces as wp
from tests.bert_mlm.helpers import TINY_TEXT, tiny_vocabulary


def test_reserved_tokens_have_fixed_ids():
    vocab = tiny_vocabulary()
    assert wp.RESERVED_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")
    assert list(vocab[:7]) == list(wp.RESERVED_TOKENS)
    assert (wp.PAD_ID, wp.UNK_ID, wp.CLS_ID, wp.SEP_ID, wp.MASK_ID, wp.BOS_ID, wp.EOS_ID) == \
        tuple(range(7))
    assert len(set(vocab)) == len(vocab) <= 200
    assert "time" in vocab and any(t.startswith("##") for t in vocab)


def test_vocabulary_from_a_dataset_and_custom_reserved_tokens():
    ds = tf.data.Dataset.from_tensor_slices(TINY_TEXT.split(". ")).batch(4)
    vocab = wp.train_word_piece_vocabulary(ds, 80, reserved_tokens=("[PAD]", "[UNK]", "[X]"))
    assert vocab[:3] == ["[PAD]", "[UNK]", "[X]"] and len(vocab) <= 80


def test_round_trip_and_special_tokens_stay_single():
    vocab = list(tiny_vocabulary())
    tok = wp.make_word_piece_tokenizer(vocab)
    text = "The time travellers shone and flashed brightly in our glasses"
    ids = tok([text])
    assert tok.detokenize(ids)[0] == text.lower()
    # a word split into pieces ("##") is glued back together
    pieces = [vocab[i] for i in ids[0]]
    assert any(p.startswith("##") for p in pieces), pieces
    # "[MASK]" / "[SEP]" in the text are single tokens, even with lower-casing
    ids = tok(["Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce"])[0]
    assert list(ids).count(wp.MASK_ID) == 2 and list(ids).count(wp.SEP_ID) == 1
    assert "[mask]" not in vocab


def test_sequence_length_pads_with_zero_and_truncates():
    tok = wp.make_word_piece_tokenizer(list(tiny_vocabulary()), sequence_length=6)
    ids = np.asarray(tok(["the time", "the time traveller was expounding a recondite matter"]))
    assert ids.shape == (2, 6)
    assert (ids[0, 2:] == 0).all() and (ids[0, :2] > 6).all() and (ids[1] > 0).all()


def test_save_and_load_vocabulary(tmp_path):
    vocab = list(tiny_vocabulary())
    path = wp.save_vocabulary(vocab, tmp_path / "sub" / "vocab.txt")
    assert wp.load_vocabulary(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["vocab.txt"]  # no temp file left
    assert path.read_text(encoding="utf-8").splitlines() == vocab


@pytest.mark.parametrize("call, match", [
    (lambda: wp.train_word_piece_vocabulary(["a b"], 5), "vocabulary_size"),
    (lambda: wp.train_word_piece_vocabulary([""], 50), "texts"),
    (lambda: wp.train_word_piece_vocabulary(["a"], 50, reserved_tokens=("[UNK]",)),
     "reserved_tokens"),
    (lambda: wp.make_word_piece_tokenizer(["a", "[PAD]"]), "vocabulary"),
    (lambda: wp.make_word_piece_tokenizer(["[PAD]", "[UNK]"], sequence_length=0),
     "sequence_length"),
    (lambda: wp.save_vocabulary(["[PAD]", "a\nb"], "/tmp/never_written.txt"), "newline"),
    (lambda: wp.load_vocabulary("/nonexistent/vocab.txt"), "path"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()

