"""BERT's masker: selection rate, the 80/10/10 split, specials/padding never selected, labels."""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.data import masked_lm_pipeline as mlp
from keras_seq.data.word_pieces import (CLS_ID, MASK_ID, RESERVED_TOKENS, SEP_ID,
                                        make_word_piece_tokenizer)
from tests.bert_mlm.helpers import TINY_TEXT, tiny_vocabulary

VOCAB = 300
T = 64


def _random_batch(rng, rows=512):
    """[CLS] a.. [SEP] b.. [SEP] then padding, with random lengths."""
    ids = np.zeros((rows, T), "int32")
    for r in range(rows):
        n = rng.integers(10, T - 3)
        cut = rng.integers(1, n)
        body = rng.integers(len(RESERVED_TOKENS), VOCAB, size=n)
        row = [CLS_ID, *body[:cut], SEP_ID, *body[cut:], SEP_ID]
        ids[r, :len(row)] = row
    return ids


@pytest.fixture(scope="module")
def masked():
    rng = np.random.default_rng(0)
    ids = _random_batch(rng, rows=2048)
    out = mlp.mask_tokens(tf.constant(ids), tf.constant([7, 11]), VOCAB)
    return ids, {k: v.numpy() for k, v in out.items()}


def test_selection_rate_is_15_percent_of_selectable_tokens(masked):
    ids, out = masked
    selectable = (ids >= len(RESERVED_TOKENS)).sum(1)
    chosen = out["mask_weights"].sum(1)
    # per row: round(0.15 * n), at least 1
    np.testing.assert_array_equal(chosen, np.maximum(1, np.round(0.15 * selectable)))
    rate = chosen.sum() / selectable.sum()
    assert abs(rate - 0.15) < 0.01, rate


def test_80_10_10_split_and_labels_are_the_original_ids(masked):
    ids, out = masked
    used = out["mask_weights"] > 0
    pos, labels = out["mask_positions"], out["mask_ids"]
    original = np.take_along_axis(ids, pos, 1)
    shown = np.take_along_axis(out["token_ids"], pos, 1)
    np.testing.assert_array_equal(labels[used], original[used])
    n = used.sum()
    assert n > 8000
    as_mask = (shown[used] == MASK_ID).mean()
    kept = (shown[used] == original[used]).mean()
    random = 1.0 - as_mask - kept
    assert abs(as_mask - 0.8) < 0.03, as_mask
    # a random replacement equals the original with probability ~1/293: counted as kept
    assert abs(kept - 0.1) < 0.02 and abs(random - 0.1) < 0.02, (kept, random)
    # random replacements are ordinary word pieces, never reserved ids
    replaced = shown[used][(shown[used] != MASK_ID) & (shown[used] != original[used])]
    assert replaced.min() >= len(RESERVED_TOKENS) and replaced.max() < VOCAB


def test_specials_and_padding_never_selected_and_unselected_tokens_unchanged(masked):
    ids, out = masked
    used = out["mask_weights"] > 0
    picked = np.take_along_axis(ids, out["mask_positions"], 1)[used]
    assert picked.min() >= len(RESERVED_TOKENS)
    changed = out["token_ids"] != ids
    rows, cols = np.nonzero(changed)
    selected = {(r, c) for r in range(len(ids)) for c in out["mask_positions"][r][used[r]]}
    assert {(r, c) for r, c in zip(rows, cols)} <= selected
    assert (out["token_ids"][ids == 0] == 0).all()
    assert (out["token_ids"][ids == CLS_ID] == CLS_ID).all()
    assert (out["token_ids"][ids == SEP_ID] == SEP_ID).all()
    # unused slots: position 0, label 0, weight 0; used positions are distinct
    assert (out["mask_positions"][~used] == 0).all() and (out["mask_ids"][~used] == 0).all()
    for r in range(len(ids)):
        p = out["mask_positions"][r][used[r]]
        assert len(set(p)) == len(p)


def test_masks_are_deterministic_per_seed_and_differ_across_seeds():
    ids = tf.constant(_random_batch(np.random.default_rng(1), rows=8))
    a = mlp.mask_tokens(ids, tf.constant([1, 2]), VOCAB)
    b = mlp.mask_tokens(ids, tf.constant([1, 2]), VOCAB)
    c = mlp.mask_tokens(ids, tf.constant([1, 3]), VOCAB)
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"])
    assert not np.array_equal(a["mask_positions"], c["mask_positions"])


def test_a_row_without_selectable_tokens_selects_nothing():
    out = mlp.mask_tokens(tf.constant([[CLS_ID, SEP_ID, SEP_ID, 0, 0, 0, 0, 0]]),
                          tf.constant([1, 2]), VOCAB)
    assert float(tf.reduce_sum(out["mask_weights"])) == 0.0
    np.testing.assert_array_equal(out["token_ids"], [[CLS_ID, SEP_ID, SEP_ID, 0, 0, 0, 0, 0]])


def test_sentence_pairs_and_pipeline_layout():
    sentences = mlp.split_sentences(TINY_TEXT)
    assert len(sentences) > 30
    a, b = mlp.sentence_pairs(sentences)
    assert a[1:] == b[:-1]
    vocab = list(tiny_vocabulary())
    tok = make_word_piece_tokenizer(vocab)
    ds = mlp.masked_lm_dataset(a, b, tok, len(vocab), 24, 8, shuffle=False, fixed_masks=True)
    x, y, w = next(iter(ds))
    ids, seg, pad = x["token_ids"].numpy(), x["segment_ids"].numpy(), x["padding_mask"].numpy()
    for r in range(len(ids)):
        n = int(pad[r].sum())
        assert ids[r, 0] == CLS_ID and ids[r, n - 1] == SEP_ID and (ids[r, n:] == 0).all()
        seps = np.nonzero(ids[r] == SEP_ID)[0]
        assert len(seps) == 2  # [CLS] A [SEP] B [SEP]
        np.testing.assert_array_equal(seg[r, : seps[0] + 1], 0)
        np.testing.assert_array_equal(seg[r, seps[0] + 1: n], 1)
    assert y.shape == w.shape == x["mask_positions"].shape
    # validation masks are the same every epoch, training masks are not
    again = next(iter(ds))[0]["token_ids"].numpy()
    np.testing.assert_array_equal(ids, again)
    train = mlp.masked_lm_dataset(a, b, tok, len(vocab), 24, 8, shuffle=False, fixed_masks=False)
    it1 = next(iter(train))[0]["token_ids"].numpy()
    it2 = next(iter(train))[0]["token_ids"].numpy()
    assert not np.array_equal(it1, it2)


def test_split_by_position_keeps_order_and_fraction():
    sentences = [f"sentence number {i:03d} is here." for i in range(100)]
    train, val = mlp.split_by_position(sentences, 0.1)
    assert train + val == sentences and len(val) == 10


@pytest.mark.parametrize("call, match", [
    (lambda: mlp.mask_tokens(tf.constant([[9, 9]]), tf.constant([1, 2]), VOCAB, mask_rate=1.5),
     "mask-rate"),
    (lambda: mlp.mask_tokens(tf.constant([[9, 9]]), tf.constant([1, 2]), 5), "vocabulary_size"),
    (lambda: mlp.sentence_pairs(["only one."]), "at least 2"),
    (lambda: mlp.split_by_position(["a."], 1.0), "val-fraction"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
