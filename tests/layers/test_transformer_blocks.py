import keras
import numpy as np
import pytest

from keras_seq.layers import (
    PositionwiseFeedForward,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from tests import numpy_reference as ref
from tests.layer_harness import (
    assert_causal,
    assert_padding_invariant,
    run_layer_test,
    xla_compile,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 6, 8)).astype("float32")
M = RNG.normal(size=(2, 5, 8)).astype("float32")
SRC_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def _weights(layer):
    return {w.path.split("/", 1)[1]: np.array(w) for w in layer.weights}


def _np_mha(w, prefix, q, kv, mask):
    names = ["W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o"]
    return ref.multi_head_attention(q, kv, kv, *[w[f"{prefix}/{n}"] for n in names], mask=mask)[0]


def _np_ln(w, name, x):
    return ref.layer_norm(x, w[f"{name}/gamma"], w[f"{name}/beta"], 1e-5)


def _np_ffn(w, x):
    return ref.feed_forward(
        x, w["feed_forward/W_1/kernel"], w["feed_forward/W_1/bias"],
        w["feed_forward/W_2/kernel"], w["feed_forward/W_2/bias"],
    )


def test_feed_forward_harness_and_formula():
    run_layer_test(
        PositionwiseFeedForward, dict(intermediate_dim=16, dropout=0.1), {"inputs": X},
        expected_output_shape=(2, 6, 8),
    )
    layer = PositionwiseFeedForward(16, bias_initializer="random_normal")
    y = np.array(layer(X))
    k1, b1, k2, b2 = [np.array(v) for v in layer.weights]
    np.testing.assert_allclose(y, ref.feed_forward(X, k1, b1, k2, b2), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_harness(norm_first):
    run_layer_test(
        TransformerEncoderBlock,
        dict(num_heads=2, intermediate_dim=16, norm_first=norm_first),
        {"inputs": X},
        expected_output_shape=(2, 6, 8),
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_matches_numpy_transcription(norm_first):
    layer = TransformerEncoderBlock(2, 16, dropout=0.0, norm_first=norm_first,
                                    bias_initializer="random_normal")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], bool)
    out = np.array(layer(X, padding_mask=mask))
    w = _weights(layer)
    for b in range(2):
        attn_mask = np.broadcast_to(mask[b][None, :], (6, 6))
        x = X[b]
        if norm_first:
            y = _np_ln(w, "attention_norm", x)
            z = x + _np_mha(w, "self_attention", y, y, attn_mask)
            e = z + _np_ffn(w, _np_ln(w, "ffn_norm", z))
        else:
            z = _np_ln(w, "attention_norm", x + _np_mha(w, "self_attention", x, x, attn_mask))
            e = _np_ln(w, "ffn_norm", z + _np_ffn(w, z))
        real = mask[b]
        np.testing.assert_allclose(out[b][real], e[real], atol=1e-4)


def test_encoder_padding_invariance_and_keras_mask():
    layer = TransformerEncoderBlock(2, 16)
    mask = np.array([[1] * 6, [1] * 3 + [0] * 3], bool)
    assert_padding_invariant(lambda x, m: layer(x, padding_mask=m), X * mask[..., None], mask)
    ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    model = keras.Model(inputs, TransformerEncoderBlock(2, 16)(h))
    a = np.array(model(ids))
    b = np.array(model(np.pad(ids, [(0, 0), (0, 3)])))
    np.testing.assert_allclose(b[:, :6][ids != 0], a[ids != 0], atol=1e-5)


def test_encoder_causal_option():
    layer = TransformerEncoderBlock(2, 16)
    assert_causal(lambda x: layer(x, use_causal_mask=True), X)


@pytest.mark.parametrize("cross", [True, False], ids=["enc-dec", "decoder-only"])
def test_decoder_harness(cross):
    inputs = {"decoder_sequence": X}
    if cross:
        inputs["encoder_sequence"] = M
    run_layer_test(
        TransformerDecoderBlock,
        dict(num_heads=2, intermediate_dim=16),
        inputs,
        expected_output_shape=(2, 6, 8),
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_matches_numpy_transcription(norm_first):
    layer = TransformerDecoderBlock(2, 16, dropout=0.0, norm_first=norm_first,
                                    bias_initializer="random_normal")
    out = np.array(layer(X, M, encoder_padding_mask=SRC_MASK))
    w = _weights(layer)
    causal = np.tril(np.ones((6, 6), bool))
    for b in range(2):
        cross_mask = np.broadcast_to(SRC_MASK[b][None, :], (6, 5))
        x = X[b]
        if norm_first:
            y = _np_ln(w, "self_attention_norm", x)
            z = x + _np_mha(w, "self_attention", y, y, causal)
            y = _np_ln(w, "cross_attention_norm", z)
            u = z + _np_mha(w, "cross_attention", y, M[b], cross_mask)
            e = u + _np_ffn(w, _np_ln(w, "ffn_norm", u))
        else:
            z = _np_ln(w, "self_attention_norm", x + _np_mha(w, "self_attention", x, x, causal))
            cross = _np_mha(w, "cross_attention", z, M[b], cross_mask)
            u = _np_ln(w, "cross_attention_norm", z + cross)
            e = _np_ln(w, "ffn_norm", u + _np_ffn(w, u))
        np.testing.assert_allclose(out[b], e, atol=1e-4)


def test_decoder_is_causal_and_ignores_padded_source():
    layer = TransformerDecoderBlock(2, 16)
    assert_causal(lambda x: layer(x, M, encoder_padding_mask=SRC_MASK), X)
    noisy = M + (~SRC_MASK[..., None]) * 5.0
    np.testing.assert_allclose(
        np.array(layer(X, noisy, encoder_padding_mask=SRC_MASK)),
        np.array(layer(X, M, encoder_padding_mask=SRC_MASK)),
        atol=1e-5,
    )
    _, scores = layer(X, M, encoder_padding_mask=SRC_MASK, return_attention_scores=True)
    assert np.all(np.array(scores)[0, :, :, 3:] == 0.0)


def test_decoder_causal_with_dropout_and_scores():
    layer = TransformerDecoderBlock(2, 16, dropout=0.3)
    _, scores = layer(X, return_attention_scores=True, training=True)
    upper = np.triu(np.ones((6, 6), bool), k=1)
    assert np.all(np.array(scores)[:, :, upper] == 0.0)


def _decode_stepwise(layer, x, m, mask, jit):
    def run(x, m):
        self_cache = layer.init_self_attention_cache(2, x.shape[1])
        cross_cache = layer.compute_cross_attention_cache(m) if m is not None else None
        outs = []
        for t in range(x.shape[1]):
            y, self_cache, cross_cache = layer(
                x[:, t : t + 1],
                self_attention_cache=self_cache,
                self_attention_cache_update_index=t,
                cross_attention_cache=cross_cache,
                encoder_padding_mask=mask,
            )
            outs.append(y)
        return keras.ops.concatenate(outs, 1)

    fn = xla_compile(run) if jit else run
    return np.array(fn(x, m))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("cross", [True, False], ids=["enc-dec", "decoder-only"])
def test_decoder_cache_equals_one_shot(jit, cross):
    layer = TransformerDecoderBlock(2, 16, norm_first=not cross)
    m = M if cross else None
    mask = SRC_MASK if cross else None
    full = np.array(layer(X, m, encoder_padding_mask=mask))
    np.testing.assert_allclose(_decode_stepwise(layer, X, m, mask, jit), full, atol=1e-5)


def test_decoder_needs_encoder_when_built_with_cross_attention():
    layer = TransformerDecoderBlock(2, 16)
    layer(X, M)
    with pytest.raises(ValueError, match="cross_attention_cache"):
        layer(X)
    decoder_only = TransformerDecoderBlock(2, 16)
    decoder_only(X)
    with pytest.raises(ValueError, match="without cross-attention"):
        decoder_only.compute_cross_attention_cache(M)


def test_bad_arguments():
    with pytest.raises(ValueError, match="intermediate_dim"):
        TransformerEncoderBlock(2, 0)
    with pytest.raises(ValueError, match="intermediate_dim"):
        TransformerDecoderBlock(2, -3)
