"""Layers called wrongly raise a `ValueError` naming the argument, not a deep backend error.

Shapes are checked statically (free at run time); data-dependent values (token ids, a cache
index held in a tensor) only in eager calls, so a compiled step carries no extra work.
"""

import re

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_seq.layers import (
    BahdanauAttention,
    MultiHeadAttention,
    PositionalEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_seq.layers.argument_checks import check_token_ids, concrete_value, static_shape
from tests.layer_harness import xla_compile


def _x(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


# ---- BahdanauAttention -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(query=_x(2, 4, 3, 6), value=_x(2, 5, 3)), r"`query` must have rank 2 or 3"),
        (dict(query=_x(2, 4, 6), value=_x(2, 3)), r"`value` must have rank 3.*\(2, 3\)"),
        (dict(query=_x(2, 4, 6), value=_x(3, 5, 3)),
         r"batch sizes of `query`, `value`, `key`.*`query` 2, `value` 3"),
        (dict(query=_x(2, 6), value=_x(2, 5, 3), key=_x(2, 7, 3)),
         r"lengths Tv of `value`, `key`.*`value` 5, `key` 7"),
        (dict(query=_x(2, 6), value=_x(2, 5, 3), value_mask=np.ones((2, 4), bool)),
         r"`value_mask` 4"),
        (dict(query=_x(2, 6), value=_x(2, 5, 3), projected_key=_x(2, 5, 9)),
         r"last size of `projected_key` and `units`.*`projected_key` 9, units 8"),
    ],
    ids=["rank4_query", "rank2_value", "batch", "key_length", "value_mask", "projected_key"],
)
def test_bahdanau_bad_calls(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BahdanauAttention(8)(**kwargs)


def test_bahdanau_query_features_must_match_the_built_layer():
    layer = BahdanauAttention(8)
    layer(_x(2, 4, 6), _x(2, 5, 3))
    with pytest.raises(ValueError, match=r"`query` has 5 features, but this layer was built "
                                         r"for 6"):
        layer(_x(2, 4, 5), _x(2, 5, 3))


# ---- MultiHeadAttention ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(query=_x(2, 5, 8), value=_x(2, 6, 8), key=_x(2, 7, 8)),
         r"lengths of `key` and `value` must be equal, got `key` 7, `value` 6"),
        (dict(query=_x(2, 8), value=_x(2, 6, 8)), r"`query` must have rank 3.*\(2, 8\)"),
        (dict(query=_x(2, 5, 8), value=_x(2, 6, 8, 1)), r"`value` must have rank 3"),
        (dict(query=_x(2, 5, 8), value=_x(3, 6, 8)), r"batch sizes of `query`, `value`"),
        (dict(query=_x(2, 5, 8), value=_x(2, 6, 8), attention_mask=np.ones((2, 5, 5), bool)),
         r"`attention_mask` must have shape \(batch, T, S\) = \(2, 5, 6\).*\(2, 5, 5\)"),
        (dict(query=_x(2, 5, 8), value=_x(2, 6, 8), attention_mask=np.ones((5, 6), bool)),
         r"`attention_mask` must have rank 3"),
        (dict(query=_x(2, 5, 8), value=_x(2, 6, 8), value_mask=np.ones((2, 5), bool)),
         r"length of `value_mask`.*`value_mask` 5, the key/value length S 6"),
        (dict(query=_x(2, 5, 8), query_mask=np.ones((2, 4), bool)),
         r"`query_mask` 4, the query length T 5"),
    ],
    ids=["key_value_lengths", "rank2_query", "rank4_value", "batch", "attention_mask_shape",
         "attention_mask_rank", "value_mask", "query_mask"],
)
def test_multi_head_attention_bad_calls(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(2, 4)(**kwargs)


def test_multi_head_attention_features_must_match_the_built_layer():
    layer = MultiHeadAttention(2, 4)
    layer(_x(2, 5, 8), _x(2, 6, 12))
    with pytest.raises(ValueError, match=r"`value` has 8 features, but this layer was built "
                                         r"for 12"):
        layer(_x(2, 5, 8), _x(2, 6, 8))


def test_a_broadcasting_attention_mask_is_accepted():
    out = MultiHeadAttention(2, 4)(_x(2, 5, 8), _x(2, 6, 8),
                                   attention_mask=np.ones((1, 1, 6), bool))
    assert tuple(out.shape) == (2, 5, 8)


@pytest.mark.parametrize("index", [6, 10, -1])
def test_cache_update_index_outside_the_cache(index):
    layer = MultiHeadAttention(2, 4)
    cache = layer.init_cache(2, 6)  # 6 slots: a single new step fits at 0..5
    with pytest.raises(ValueError, match=rf"`cache_update_index` must be in \[0, 5\].*"
                                         rf"cache of 6 slots, got cache_update_index={index}"):
        layer(_x(2, 1, 8), cache=cache, cache_update_index=index)


def test_cache_update_index_counts_every_new_step():
    layer = MultiHeadAttention(2, 4)
    cache = layer.init_cache(2, 6)
    _, cache = layer(_x(2, 3, 8), cache=cache, cache_update_index=3)  # slots 3, 4, 5: fits
    with pytest.raises(ValueError, match=r"must be in \[0, 3\] so that 3 new step"):
        layer(_x(2, 3, 8), cache=cache, cache_update_index=4)


def test_cache_update_index_in_an_eager_tensor_is_checked():
    layer = MultiHeadAttention(2, 4)
    cache = layer.init_cache(2, 6)
    with pytest.raises(ValueError, match="got cache_update_index=7"):
        layer(_x(2, 1, 8), cache=cache, cache_update_index=keras.ops.convert_to_tensor(7))


def test_cache_of_the_wrong_layout():
    layer = MultiHeadAttention(2, 4)
    with pytest.raises(ValueError, match=r"`cache` must have shape \(batch, 2, S, "
                                         r"num_heads=2, key_dim=4\), got shape \(2, 2, 6, 3, 4\)"):
        layer(_x(2, 1, 8), cache=np.zeros((2, 2, 6, 3, 4), "float32"), cache_update_index=0)


def test_a_compiled_decode_step_is_not_checked_and_still_runs():
    # The index is traced: no value to check, and nothing is added to the compiled step.
    layer = MultiHeadAttention(2, 4)
    cache = layer.init_cache(2, 6)
    step = xla_compile(lambda q, c, i: layer(q, cache=c, cache_update_index=i)[0])
    assert tuple(step(_x(2, 1, 8), cache, np.int32(2)).shape) == (2, 1, 8)


# ---- PositionalEmbedding ----------------------------------------------------------------
@pytest.mark.parametrize("ids", [[[1, 2, 10]], [[1, 12, 3]], [[1, -2, 3]]],
                         ids=["equal_to_vocab", "above_vocab", "negative"])
def test_token_ids_outside_the_vocabulary(ids):
    layer = PositionalEmbedding(10, 8, 4)
    low, high = np.min(ids), np.max(ids)
    with pytest.raises(ValueError, match=rf"`token_ids` must hold ids in \[0, 10\).*"
                                         rf"from {low} to {high}"):
        layer(np.array(ids, "int32"))


def test_token_ids_of_the_wrong_rank():
    with pytest.raises(ValueError, match=r"`token_ids` must have rank 2 \(batch, T\), got "
                                         r"shape \(3,\)"):
        PositionalEmbedding(10, 8, 4)(np.array([1, 2, 3]))


def test_token_ids_are_checked_in_a_functional_model_called_eagerly():
    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, PositionalEmbedding(10, 8, 4)(inputs))
    assert tuple(model(np.array([[1, 2, 9]])).shape) == (1, 3, 4)
    with pytest.raises(ValueError, match="from 1 to 12"):
        model(np.array([[1, 2, 12]]))


def test_traced_ids_have_no_values_to_check():
    # Under XLA the ids are tracers: `concrete_value` sees none and the check adds nothing.
    seen = []

    def fn(ids):
        seen.append(concrete_value(ids))
        check_token_ids(PositionalEmbedding(10, 8, 4), "token_ids", ids, 10)
        return ids + 1

    out = xla_compile(fn)(np.array([[1, 12]], "int32"))
    assert seen == [None]
    assert np.asarray(out).tolist() == [[2, 13]]


# ---- transformer blocks -----------------------------------------------------------------
def test_decoder_caches_before_build():
    block = TransformerDecoderBlock(2, 16)
    with pytest.raises(ValueError, match=r"init_self_attention_cache needs a built block"):
        block.init_self_attention_cache(2, 6)
    with pytest.raises(ValueError, match=r"compute_cross_attention_cache needs a built block"):
        block.compute_cross_attention_cache(_x(2, 5, 8))


def test_decoder_cache_index_is_named_as_the_block_names_it():
    block = TransformerDecoderBlock(2, 16)
    block(_x(2, 4, 8))
    cache = block.init_self_attention_cache(2, 6)
    with pytest.raises(ValueError, match=r"`self_attention_cache_update_index` must be in "
                                         r"\[0, 5\].*got self_attention_cache_update_index=6"):
        block(_x(2, 1, 8), self_attention_cache=cache, self_attention_cache_update_index=6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: TransformerDecoderBlock(2, 16)(_x(2, 8), _x(2, 5, 8)),
         r"`decoder_sequence` must have rank 3"),
        (lambda: TransformerDecoderBlock(2, 16)(_x(2, 4, 8), _x(2, 5)),
         r"`encoder_sequence` must have rank 3"),
        (lambda: TransformerDecoderBlock(2, 16)(_x(2, 4, 8), _x(3, 5, 8)),
         r"batch sizes of `decoder_sequence` and `encoder_sequence`"),
        (lambda: TransformerEncoderBlock(2, 16)(_x(2, 8)), r"`inputs` must have rank 3"),
    ],
    ids=["decoder_rank", "encoder_rank", "batch", "encoder_block_rank"],
)
def test_transformer_block_bad_calls(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- properties over shapes -------------------------------------------------------------
_SIZES = st.integers(1, 5)
_FAST = settings(max_examples=20, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])
# One key (S = 1) is a valid shape; Keras warns about a softmax over one element.
_ONE_KEY_WARNING = pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")


@_ONE_KEY_WARNING
@_FAST
@given(batch=_SIZES, t=_SIZES, s=_SIZES, dq=_SIZES, dv=_SIZES, heads=st.integers(1, 3),
       key_dim=st.integers(1, 4), scores=st.booleans())
def test_multi_head_attention_accepts_every_valid_rank3_shape(batch, t, s, dq, dv, heads,
                                                              key_dim, scores):
    layer = MultiHeadAttention(heads, key_dim)
    out = layer(_x(batch, t, dq), _x(batch, s, dv), return_attention_scores=scores)
    shapes = [tuple(o.shape) for o in (out if scores else (out,))]
    assert shapes == [(batch, t, dq)] + ([(batch, heads, t, s)] if scores else [])


@_ONE_KEY_WARNING
@_FAST
@given(batch=_SIZES, tq=st.one_of(st.none(), _SIZES), tv=_SIZES, dq=_SIZES, dv=_SIZES)
def test_bahdanau_accepts_every_valid_shape(batch, tq, tv, dq, dv):
    query = _x(batch, dq) if tq is None else _x(batch, tq, dq)
    context, weights = BahdanauAttention(4)(query, _x(batch, tv, dv),
                                            return_attention_scores=True)
    lead = (batch,) if tq is None else (batch, tq)
    assert (tuple(context.shape), tuple(weights.shape)) == (lead + (dv,), lead + (tv,))


@_FAST
@given(argument=st.sampled_from(["query", "value", "key"]),
       rank=st.sampled_from([1, 2, 4, 5]), data=st.data())
def test_multi_head_attention_rejects_every_other_rank(argument, rank, data):
    shape = tuple(data.draw(st.lists(_SIZES, min_size=rank, max_size=rank)))
    arguments = {"query": _x(2, 3, 4), "value": _x(2, 5, 4), "key": _x(2, 5, 4)}
    arguments[argument] = _x(*shape)
    with pytest.raises(ValueError, match=rf"`{argument}` must have rank 3 .*got shape "
                                         + re.escape(str(shape))):
        MultiHeadAttention(2, 4)(**arguments)


@_FAST
@given(argument=st.sampled_from(["query", "value"]), data=st.data())
def test_bahdanau_rejects_every_other_rank(argument, data):
    rank = data.draw(st.sampled_from({"query": [1, 4, 5], "value": [1, 2, 4, 5]}[argument]))
    shape = tuple(data.draw(st.lists(_SIZES, min_size=rank, max_size=rank)))
    arguments = {"query": _x(2, 3, 4), "value": _x(2, 5, 4)}
    arguments[argument] = _x(*shape)
    with pytest.raises(ValueError, match=rf"`{argument}` must have rank .*got shape "
                                         + re.escape(str(shape))):
        BahdanauAttention(4)(**arguments)


def test_static_shape_reads_a_symbolic_jax_size_as_unknown():
    # Keras traces a layer under JAX with a symbolic batch size; int() of it raises.
    jax_export = pytest.importorskip("jax.export")
    batch, = jax_export.symbolic_shape("batch")
    traced = type("Traced", (), {"shape": (batch, 7, 3)})()
    assert static_shape(traced) == (None, 7, 3)
    assert static_shape(np.zeros((2, 5))) == (2, 5)
    assert static_shape(keras.KerasTensor((None, 4))) == (None, 4)
