import numpy as np
import pytest

from keras_seq.layers import BahdanauAttention
from tests import numpy_reference as ref
from tests.layer_harness import assert_padding_invariant, run_layer_test

RNG = np.random.default_rng(0)
QUERY3 = RNG.normal(size=(2, 3, 6)).astype("float32")
VALUE = RNG.normal(size=(2, 5, 4)).astype("float32")


@pytest.mark.parametrize("query", [QUERY3[:, 0], QUERY3], ids=["rank2", "rank3"])
def test_harness(query):
    run_layer_test(
        BahdanauAttention,
        dict(units=7),
        {"query": query, "value": VALUE},
        expected_output_shape=query.shape[:-1] + (4,),
    )


def test_matches_numpy_transcription_and_padded_keys_get_zero_weight():
    layer = BahdanauAttention(5)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    ctx, alpha = layer(QUERY3, VALUE, value_mask=mask, return_attention_scores=True)
    ctx, alpha = np.array(ctx), np.array(alpha)
    W_q = np.array(layer.query_dense.kernel)
    W_k = np.array(layer.key_dense.kernel)
    w_v = np.array(layer.score_dense.kernel)[:, 0]
    for b in range(2):
        for t in range(3):
            e_ctx, e_alpha = ref.additive_attention(
                QUERY3[b, t], VALUE[b], VALUE[b], W_q, W_k, w_v, mask[b]
            )
            np.testing.assert_allclose(ctx[b, t], e_ctx, atol=1e-5)
            np.testing.assert_allclose(alpha[b, t], e_alpha, atol=1e-6)
    assert np.all(alpha[0, :, 3:] == 0.0)  # exactly zero, not just small
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-6)


def test_separate_key_and_precomputed_projection():
    layer = BahdanauAttention(5)
    key = RNG.normal(size=(2, 5, 3)).astype("float32")
    a = np.array(layer(QUERY3[:, 0], VALUE, key=key))
    b = np.array(layer(QUERY3[:, 0], VALUE, key=key, projected_key=layer.project_key(key)))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_padding_invariance():
    layer = BahdanauAttention(5)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool)
    assert_padding_invariant(
        lambda v, m: layer(QUERY3[:, 0], v, value_mask=m), VALUE * mask[..., None], mask
    )


def test_fully_masked_row_is_finite():
    layer = BahdanauAttention(3)
    ctx, alpha = layer(
        QUERY3[:, 0], VALUE, value_mask=np.zeros((2, 5), bool), return_attention_scores=True
    )
    assert np.all(np.array(alpha) == 0) and np.all(np.isfinite(np.array(ctx)))


def test_bad_units():
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(0)
