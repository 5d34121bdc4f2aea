import contextlib

import keras
import numpy as np
import pytest

from keras_seq.layers import MultiHeadAttention
from keras_seq.layers.multi_head_attention import hoisted_projection_kernels
from tests import numpy_reference as ref
from tests.layer_harness import (
    assert_causal,
    assert_padding_invariant,
    input_gradient,
    run_layer_test,
    xla_compile,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 6, 8)).astype("float32")
Y = RNG.normal(size=(2, 5, 12)).astype("float32")


def _pair(**kwargs):
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, **kwargs)
    ours = MultiHeadAttention(num_heads=3, key_dim=4, **kwargs)
    theirs(X, Y)
    ours(X, Y)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize("impl", ["explicit", "fused"])
def test_harness(impl):
    run_layer_test(
        MultiHeadAttention,
        dict(num_heads=2, key_dim=4, attention_impl=impl),
        {"query": X, "value": Y},
        call_kwargs=dict(use_causal_mask=False),
        expected_output_shape=(2, 6, 8),
    )


def test_harness_self_attention_with_scores_and_dropout():
    run_layer_test(
        MultiHeadAttention,
        dict(num_heads=2, key_dim=4, dropout=0.2),
        {"query": X},
        call_kwargs=dict(use_causal_mask=True, return_attention_scores=True),
        expected_output_shape=[(2, 6, 8), (2, 2, 6, 6)],
    )


@pytest.mark.parametrize("impl", ["explicit", "fused"])
@pytest.mark.parametrize("case", ["plain", "value_mask", "causal", "attention_mask"])
def test_agrees_with_keras_multi_head_attention(impl, case):
    ours, theirs = _pair()
    ours.attention_impl = impl
    kwargs, query, value = {}, X, Y
    if case == "value_mask":
        kwargs["value_mask"] = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    if case == "causal":
        value = X[..., :8]
        theirs, ours = _self_pair(impl)
        kwargs["use_causal_mask"] = True
    if case == "attention_mask":
        kwargs["attention_mask"] = RNG.random((2, 6, 5)) > 0.3
        kwargs["attention_mask"][:, :, 0] = True
    np.testing.assert_allclose(
        np.array(ours(query, value, **kwargs)),
        np.array(theirs(query, value, **kwargs)),
        atol=1e-5,
    )


def _self_pair(impl):
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
    ours = MultiHeadAttention(num_heads=3, key_dim=4, attention_impl=impl)
    theirs(X, X)
    ours(X, X)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def test_matches_numpy_transcription():
    layer = MultiHeadAttention(num_heads=3, key_dim=4, value_dim=5, output_dim=7,
                               bias_initializer="random_normal")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    out, scores = layer(X, Y, value_mask=mask, return_attention_scores=True)
    weights = [np.array(w) for w in layer.weights]
    for b in range(2):
        e_out, e_w = ref.multi_head_attention(
            X[b], Y[b], Y[b], *weights, mask=np.broadcast_to(mask[b], (6, 5))
        )
        np.testing.assert_allclose(np.array(out)[b], e_out, atol=1e-5)
        np.testing.assert_allclose(np.array(scores)[b], e_w, atol=1e-6)
    assert np.all(np.array(scores)[0, :, :, 3:] == 0.0)


def test_weights_are_named_as_in_the_seed():
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    layer(X, Y)
    names = [w.name for w in layer.weights]
    assert names == ["W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o"]


@pytest.mark.parametrize("impl", ["explicit", "fused"])
def test_causality(impl):
    layer = MultiHeadAttention(num_heads=2, key_dim=4, attention_impl=impl)
    assert_causal(lambda x: layer(x, x, use_causal_mask=True), X)


def test_causal_mask_holds_with_dropout_and_scores():
    """keras#23038 class: the causal mask must survive dropout>0 and return_attention_scores."""
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    _, scores = layer(X, X, use_causal_mask=True, return_attention_scores=True, training=True)
    upper = np.triu(np.ones((6, 6), bool), k=1)
    assert np.all(np.array(scores)[:, :, upper] == 0.0)
    for t in range(5):
        grad = input_gradient(
            lambda x: layer(x, x, use_causal_mask=True, training=True)[:, : t + 1], X
        )
        assert np.all(grad[:, t + 1 :] == 0.0), f"future leaks into step {t} under dropout"


def test_padding_invariance_with_keras_masks():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    mask = np.array([[1] * 6, [1] * 3 + [0] * 3], bool)
    assert_padding_invariant(
        lambda x, m: layer(x, x, query_mask=m, value_mask=m), X * mask[..., None], mask
    )


def _step_by_step(layer, x, jit):
    batch, length = x.shape[:2]

    def run(x):
        cache = layer.init_cache(batch, length)
        outs = []
        for t in range(length):
            y, cache = layer(x[:, t : t + 1], x[:, t : t + 1], cache=cache,
                             cache_update_index=t, use_causal_mask=True)
            outs.append(y)
        return keras.ops.concatenate(outs, 1)

    return (xla_compile(run) if jit else run)(x)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("impl", ["explicit", "fused"])
def test_cache_equals_one_shot(jit, impl):
    layer = MultiHeadAttention(num_heads=2, key_dim=4, attention_impl=impl)
    full = np.array(layer(X, X, use_causal_mask=True))
    np.testing.assert_allclose(np.array(_step_by_step(layer, X, jit)), full, atol=1e-5)


def _decode_in_a_while_loop(layer, x, hoist=False):
    """One compiled while_loop over a fixed-size cache, index as a tensor (the decode shape)."""
    length = x.shape[1]

    @xla_compile
    def decode(x):
        def body(t, cache, outs):
            step = keras.ops.slice(x, [0, t, 0], [2, 1, 8])
            y, cache = layer(step, cache=cache, cache_update_index=t, use_causal_mask=True)
            return t + 1, cache, keras.ops.slice_update(outs, [0, t, 0], y)

        with hoisted_projection_kernels(layer) if hoist else contextlib.nullcontext():
            return keras.ops.while_loop(
                lambda t, c, o: t < length, body,
                (0, layer.init_cache(2, length), keras.ops.zeros_like(x)))[2]

    return np.array(decode(x))


@pytest.mark.parametrize("hoist", [False, True], ids=["variables", "hoisted"])
def test_cache_in_a_while_loop_with_dynamic_index(hoist):
    """Also with the kernels hoisted out of the loop (made before it, as `decode` does)."""
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    full = np.array(layer(X, X, use_causal_mask=True))
    np.testing.assert_allclose(_decode_in_a_while_loop(layer, X, hoist), full, atol=1e-5)
    assert layer._hoisted_kernels is None


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_hoisted_kernels_give_the_same_numbers(dtype):
    """Decoding reshapes the kernels once, before the loop: same outputs, then restored."""
    layer = MultiHeadAttention(num_heads=3, key_dim=4, value_dim=5, output_dim=7, dtype=dtype)
    full = np.array(layer(X, Y, use_causal_mask=True), "float32")
    with hoisted_projection_kernels(layer):
        hoisted = layer._hoisted_kernels
        assert {k: tuple(v.shape) for k, v in hoisted.items()} == {
            "q": (8, 12), "k": (12, 12), "v": (12, 15), "o": (15, 7)}
        assert all(keras.backend.standardize_dtype(v.dtype) == layer.compute_dtype
                   for v in hoisted.values())
        inside = np.array(layer(X, Y, use_causal_mask=True), "float32")
    assert layer._hoisted_kernels is None
    # Another op (one 2-D matmul instead of an einsum) may sum in another order. Measured
    # identical on TensorFlow CPU in both dtypes; bfloat16 keeps 8 bits, so 2e-2 is about
    # 5 ulps of these outputs (|y| < 1.2) for a backend that orders the sums differently.
    np.testing.assert_allclose(inside, full, atol=1e-5 if dtype == "float32" else 2e-2)


def test_read_only_cache_for_cross_attention():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    direct = np.array(layer(X, Y, value_mask=mask))
    cache = layer.compute_cache(Y)
    out, same_cache = layer(X, cache=cache, value_mask=mask)
    np.testing.assert_allclose(np.array(out), direct, atol=1e-5)
    np.testing.assert_array_equal(np.array(same_cache), np.array(cache))


def test_value_dim_differs_from_key_dim_on_every_path():
    """d_v != d_k: "fused" falls back to the explicit maths (JAX's fused kernel needs d_v = d_k)."""
    layer = MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3, attention_impl="explicit")
    expected = np.array(layer(X, Y, use_causal_mask=False))
    for impl in ("auto", "fused"):
        layer.attention_impl = impl
        np.testing.assert_allclose(np.array(layer(X, Y)), expected, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(2, 4, dropout=1.5)
    with pytest.raises(ValueError, match="attention_impl"):
        MultiHeadAttention(2, 4, attention_impl="flash")
    layer = MultiHeadAttention(2, 4, value_dim=3)
    layer(X, Y)
    with pytest.raises(ValueError, match="key_dim == value_dim"):
        layer.init_cache(2, 5)
