"""Every public layer of `keras_seq.layers` through Keras's own `run_layer_test`.

Keras's harness checks, per layer: `get_config`/`from_config` and JSON serialization, the
weight counts after `build` and after a symbolic call, the output shapes of the symbolic
and the eager call, `supports_masking` (and the mask's shape where the layer makes one), one
compiled training step, and under `mixed_float16` that `compute_output_spec` promises the
dtype the call gives and that every variable stays float32.

Keras's training step calls `layer(x)` with one positional input, so layers called with
several tensors (a dict here) skip it; `tests/layer_harness.py` runs a jit-compiled `fit`
step for those in their own test files.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_seq import compat
from keras_seq import layers as public_layers
from keras_seq.layers import (
    BackboneImageEncoder,
    BahdanauAttention,
    BidirectionalMeanPooledRNN,
    ConvImageEncoder,
    ElmanRNNCell,
    HashDropout,
    ImageSelfSimilarity,
    MultiHeadAttention,
    PositionalEmbedding,
    PositionwiseFeedForward,
    RegionTwinScores,
    ScalarMix,
    SinusoidalPositionalEncoding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

RNG = np.random.default_rng(0)


def _float(*shape):
    return RNG.normal(size=shape).astype("float32")


def _ids(batch, length, vocabulary_size):
    ids = RNG.integers(1, vocabulary_size, size=(batch, length)).astype("int32")
    ids[0, -2:] = 0  # padding at the end of the first row
    return ids


# (id, layer class, run_layer_test keyword arguments). Several cases per class where the
# call has distinct modes (self/cross attention, scores, caches).
CASES = [
    ("mha_self", MultiHeadAttention, dict(
        init_kwargs=dict(num_heads=2, key_dim=4),
        input_data=_float(2, 6, 8),
        call_kwargs=dict(use_causal_mask=True),
        expected_output_shape=(2, 6, 8),
        supports_masking=True,
    )),
    ("mha_cross_scores", MultiHeadAttention, dict(
        init_kwargs=dict(num_heads=3, key_dim=4, value_dim=5, output_dim=7, dropout=0.1),
        input_shape={"query_shape": (2, 6, 8), "value_shape": (2, 5, 12)},
        call_kwargs=dict(return_attention_scores=True),
        expected_output_shape=((2, 6, 7), (2, 3, 6, 5)),
        supports_masking=True,
        run_training_check=False,
    )),
    ("mha_fused", MultiHeadAttention, dict(
        init_kwargs=dict(num_heads=2, key_dim=4, attention_impl="fused"),
        input_shape={"query_shape": (2, 6, 8), "value_shape": (2, 5, 12)},
        expected_output_shape=(2, 6, 8),
        supports_masking=True,
        run_training_check=False,
    )),
    ("mha_cache", MultiHeadAttention, dict(
        init_kwargs=dict(num_heads=2, key_dim=4),
        input_data=_float(2, 1, 8),
        # `build` takes the tensors' shapes, not the cache's: the cache is a call argument.
        call_kwargs=dict(cache=_float(2, 2, 6, 2, 4), cache_update_index=3,
                         use_causal_mask=True),
        expected_output_shape=((2, 1, 8), (2, 2, 6, 2, 4)),
        supports_masking=True,
        run_training_check=False,  # Keras's step calls the layer without call_kwargs
    )),
    ("bahdanau_sequence", BahdanauAttention, dict(
        init_kwargs=dict(units=16),
        input_shape={"query_shape": (2, 4, 8), "value_shape": (2, 5, 6)},
        call_kwargs=dict(return_attention_scores=True),
        expected_output_shape=((2, 4, 6), (2, 4, 5)),
        supports_masking=True,
        run_training_check=False,
    )),
    ("bahdanau_step", BahdanauAttention, dict(
        init_kwargs=dict(units=16),
        input_shape={"query_shape": (2, 8), "value_shape": (2, 5, 6)},
        expected_output_shape=(2, 6),
        supports_masking=True,
        run_training_check=False,
    )),
    ("positional_embedding_sinusoidal", PositionalEmbedding, dict(
        init_kwargs=dict(vocabulary_size=20, sequence_length=12, embedding_dim=8),
        input_data=_ids(2, 7, 20),
        expected_output_shape=(2, 7, 8),
        supports_masking=True,
        expected_mask_shape=(2, 7),
    )),
    ("positional_embedding_learned", PositionalEmbedding, dict(
        init_kwargs=dict(vocabulary_size=20, sequence_length=12, embedding_dim=8,
                         position="learned", mask_zero=False, scale_embeddings=True),
        input_data=_ids(2, 7, 20),
        expected_output_shape=(2, 7, 8),
        supports_masking=False,
    )),
    ("sinusoidal_positional_encoding", SinusoidalPositionalEncoding, dict(
        init_kwargs=dict(max_wavelength=100.0),
        input_data=_float(2, 7, 8),
        call_kwargs=dict(start_index=3),
        expected_output_shape=(2, 7, 8),
        supports_masking=True,
        assert_built_after_instantiation=True,
    )),
    ("positionwise_feed_forward", PositionwiseFeedForward, dict(
        init_kwargs=dict(intermediate_dim=16, output_dim=6, dropout=0.1),
        input_data=_float(2, 5, 8),
        expected_output_shape=(2, 5, 6),
        supports_masking=True,
    )),
    ("transformer_encoder_block", TransformerEncoderBlock, dict(
        init_kwargs=dict(num_heads=2, intermediate_dim=16, dropout=0.1),
        input_data=_float(2, 5, 8),
        expected_output_shape=(2, 5, 8),
        supports_masking=True,
    )),
    ("transformer_encoder_block_prenorm_scores", TransformerEncoderBlock, dict(
        init_kwargs=dict(num_heads=2, intermediate_dim=16, norm_first=True, key_dim=3),
        input_data=_float(2, 5, 8),
        call_kwargs=dict(use_causal_mask=True, return_attention_scores=True),
        expected_output_shape=((2, 5, 8), (2, 2, 5, 5)),
        supports_masking=True,
        run_training_check=False,  # Keras's step calls the layer without call_kwargs
    )),
    ("transformer_decoder_block_gpt", TransformerDecoderBlock, dict(
        init_kwargs=dict(num_heads=2, intermediate_dim=16, dropout=0.1),
        input_data=_float(2, 5, 8),
        expected_output_shape=(2, 5, 8),
        supports_masking=True,
    )),
    ("transformer_decoder_block_cross", TransformerDecoderBlock, dict(
        init_kwargs=dict(num_heads=2, intermediate_dim=16, norm_first=True),
        input_shape={"decoder_sequence_shape": (2, 5, 8), "encoder_sequence_shape": (2, 7, 6)},
        call_kwargs=dict(return_attention_scores=True),
        expected_output_shape=((2, 5, 8), (2, 2, 5, 7)),
        supports_masking=True,
        run_training_check=False,
    )),
    # A cell is called by `keras.layers.RNN` (its states are not a tensor input Keras's
    # harness can build from): the RNN's config holds the cell's, so the serialization and
    # mixed-precision checks reach the cell.
    ("elman_rnn_cell", keras.layers.RNN, dict(
        init_kwargs=dict(cell=ElmanRNNCell(6, output_units=3, output_activation="softmax"),
                         return_sequences=True),
        input_data=_float(2, 5, 4),
        expected_output_shape=(2, 5, 3),
        supports_masking=True,
    ), ElmanRNNCell),
    ("bidirectional_mean_pooled_rnn", BidirectionalMeanPooledRNN, dict(
        init_kwargs=dict(layer=keras.layers.GRU(4)),
        input_data=_float(2, 6, 3),
        expected_output_shape=(2, 8),
        supports_masking=True,
    )),
    ("bidirectional_mean_max_pooled_elman", BidirectionalMeanPooledRNN, dict(
        init_kwargs=dict(layer=keras.layers.RNN(ElmanRNNCell(5)), pooling="mean_max"),
        input_data=_float(2, 6, 3),
        expected_output_shape=(2, 20),
        supports_masking=True,
    )),
    ("hash_dropout", HashDropout, dict(
        init_kwargs=dict(rate=0.3, noise_shape=(None, None, 1), seed=1),
        input_data=_float(2, 5, 8),
        call_kwargs=dict(training=True),
        expected_output_shape=(2, 5, 8),
        supports_masking=True,
        assert_built_after_instantiation=True,
    )),
    ("scalar_mix", ScalarMix, dict(
        init_kwargs=dict(num_layers=3, layer_norm=True, initial_gamma=0.5),
        input_data=_float(2, 3, 5, 4),
        expected_output_shape=(2, 5, 4),
        supports_masking=True,
    )),
    ("region_twin_scores", RegionTwinScores, dict(
        init_kwargs=dict(num_heads=2, key_dim=4, grid_shape=(3, 3)),
        input_data=_float(2, 9, 5),
        expected_output_shape=((2, 9, 2), (2, 2)),
        supports_masking=False,
    )),
    ("image_self_similarity", ImageSelfSimilarity, dict(
        init_kwargs=dict(num_heads=2, key_dim=3, min_shift=3),
        input_data=_float(2, 8, 8, 3),
        expected_output_shape=(2, 2),
        supports_masking=False,
    )),
    ("conv_image_encoder", ConvImageEncoder, dict(
        init_kwargs=dict(filters=(4, 8), embedding_dim=6, dropout=0.1),
        input_data=np.random.default_rng(1).random((2, 16, 16, 3)).astype("float32"),
        expected_output_shape=((2, 16, 8), (2, 6)),
        supports_masking=False,
    )),
    ("conv_image_encoder_all_options", ConvImageEncoder, dict(
        init_kwargs=dict(filters=(4, 8), embedding_dim=6, pooling="mean", self_attention_heads=2,
                         twin_heads=2, self_similarity=True, self_similarity_heads=1),
        input_data=np.random.default_rng(1).random((2, 16, 16, 3)).astype("float32"),
        expected_output_shape=((2, 16, 8), (2, 8)),
        supports_masking=False,
        run_training_check=False,  # the sub-layers' own cases train them; this keeps it fast
    )),
    ("backbone_image_encoder", BackboneImageEncoder, dict(
        init_kwargs=dict(backbone="mobilenet_v2", embedding_dim=6, dropout=0.1),
        input_data=np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32"),
        expected_output_shape=((2, 1, 1280), (2, 6)),
        supports_masking=False,
        run_training_check=False,
    )),
]


def _covered_class(case):
    """The public class a case tests (a cell is tested inside the RNN that calls it)."""
    return case[3] if len(case) > 3 else case[1]


class _KerasHarness(compat.keras_test_case()):  # Keras's own run_layer_test
    def runTest(self):  # unittest needs one test method to make an instance
        pass


@pytest.mark.parametrize(("layer_cls", "kwargs"), [c[1:3] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_keras_run_layer_test(layer_cls, kwargs):
    harness = _KerasHarness()
    harness.setUp()  # Keras's per-test reset (clear_session)
    harness.run_layer_test(layer_cls, **kwargs)


def test_every_public_layer_is_covered():
    exported = set(public_layers.__all__)
    layer_classes = {
        name for name, obj in vars(public_layers).items()
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
    }
    # Every layer class the package exposes is listed in __all__, and every listed one
    # has at least one case above.
    assert layer_classes <= exported, f"layers missing from __all__: {layer_classes - exported}"
    public = {name for name in exported
              if inspect.isclass(getattr(public_layers, name))
              and issubclass(getattr(public_layers, name), keras.layers.Layer)}
    covered = {_covered_class(case).__name__ for case in CASES}
    assert public - covered == set(), f"public layers missing from CASES: {public - covered}"
    assert "MultiHeadAttention" in public and "ElmanRNNCell" in public


def _spec(x, dtype):
    return keras.KerasTensor(np.shape(x), dtype=dtype)


# (layer, positional tensors, keyword tensors, other call arguments): every output kind of
# the layers that read their own variables in `call` (the explicit casts under test).
SPEC_CASES = {
    "mha_self_causal": (
        lambda: MultiHeadAttention(2, 4, dtype="mixed_bfloat16"),
        [_float(2, 6, 8)], {}, dict(use_causal_mask=True)),
    "mha_cross_scores": (
        lambda: MultiHeadAttention(3, 4, value_dim=5, output_dim=7, dtype="mixed_bfloat16"),
        [_float(2, 6, 8), _float(2, 5, 12)], {}, dict(return_attention_scores=True)),
    "mha_cache": (
        lambda: MultiHeadAttention(2, 4, dtype="mixed_bfloat16"),
        [_float(2, 1, 8)], {"cache": _float(2, 2, 6, 2, 4)}, dict(cache_update_index=2)),
    "elman_cell": (
        lambda: ElmanRNNCell(6, output_units=3, dtype="mixed_bfloat16"),
        [_float(2, 4)], {"states": [_float(2, 6)]}, {}),
}


@pytest.mark.parametrize("name", sorted(SPEC_CASES))
def test_compute_output_spec_matches_the_call_under_mixed_bfloat16(name):
    # The MultiHeadAttention bug Keras's harness found: compute_output_spec runs `call`
    # outside `__call__`, where variables are not autocast, and promised float32.
    make, args, kwargs, other = SPEC_CASES[name]
    layer = make()
    outputs = keras.tree.flatten(layer(*args, **kwargs, **other))
    spec_kwargs = keras.tree.map_structure(lambda x: _spec(x, "bfloat16"), kwargs)
    specs = keras.tree.flatten(layer.compute_output_spec(
        *[_spec(x, "bfloat16") for x in args], **spec_kwargs, **other))
    assert [keras.backend.standardize_dtype(o.dtype) for o in outputs] == ["bfloat16"] * len(
        outputs)
    assert [(tuple(s.shape), s.dtype) for s in specs] == [
        (tuple(o.shape), "bfloat16") for o in outputs]
