import os
import tempfile

import keras
import numpy as np
import pytest

from keras_seq.models import BahdanauEncoderDecoder, RNNEncoderDecoder, TransformerEncoderDecoder

SRC_VOCAB, TGT_VOCAB, MAX_LEN = 23, 17, 9
SOURCE = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]], "int32")
TARGET_IN = np.array([[2, 4, 5, 6, 0, 0, 0], [2, 7, 8, 9, 10, 11, 12]], "int32")

FACTORIES = {
    "seq2seq": lambda: RNNEncoderDecoder(SRC_VOCAB, TGT_VOCAB, embedding_dim=8, hidden_dim=12),
    "attention": lambda: BahdanauEncoderDecoder(SRC_VOCAB, TGT_VOCAB, embedding_dim=8,
                                                hidden_dim=12),
    # The paper's variant: bidirectional encoder, deep output layer.
    "attention_bi_deep": lambda: BahdanauEncoderDecoder(
        SRC_VOCAB, TGT_VOCAB, embedding_dim=8, hidden_dim=12, bidirectional_encoder=True,
        deep_output_dim=10),
    "transformer": lambda: TransformerEncoderDecoder(
        SRC_VOCAB, TGT_VOCAB, 16, 16, embedding_dim=16, num_heads=2, intermediate_dim=32,
        num_layers=2),
}


def _logits(model, source, target_in):
    return np.array(model({"source": source, "target_in": target_in}, training=False))


def _greedy_by_rerunning(model, source, max_length, stop=True):
    """The tutorial way: run the whole model on the growing prefix for every new token."""
    tokens = np.full((len(source), 1), 2, "int32")
    done = np.zeros(len(source), bool)
    for _ in range(max_length - 1):
        nxt = _logits(model, source, tokens)[:, -1].argmax(-1)
        nxt = np.where(done, 0, nxt)
        tokens = np.concatenate([tokens, nxt[:, None].astype("int32")], 1)
        done |= (nxt == 3) & stop
    return tokens


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_cached_greedy_equals_rerunning_the_model(kind):
    model = FACTORIES[kind]()
    expected = _greedy_by_rerunning(model, SOURCE, MAX_LEN)
    eager = np.array(model.generate_step(SOURCE, np.zeros((2, MAX_LEN), "int32")))
    np.testing.assert_array_equal(eager, expected)
    # Without the hoisted attention kernels (the benchmarks' cache-only loop): the same ids.
    plain = model.generate_step(SOURCE, np.zeros((2, MAX_LEN), "int32"), hoist_kernels=False)
    np.testing.assert_array_equal(np.array(plain), expected)
    compiled = model.generate(SOURCE, max_length=MAX_LEN, jit_compile=True)  # XLA runner
    assert compiled.dtype == np.int32 and compiled.shape == (2, MAX_LEN)
    np.testing.assert_array_equal(compiled, expected)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_step_logits_equal_teacher_forced_logits(kind):
    # call_with_cache reads the whole (B, L) buffer at cache_update_index - 1.
    model = FACTORIES[kind]()
    full = _logits(model, SOURCE[1:], TARGET_IN[1:])
    cache = model.build_cache(SOURCE[1:], TARGET_IN.shape[1])
    steps = []
    for t in range(TARGET_IN.shape[1]):
        logits, _, cache = model.call_with_cache(TARGET_IN[1:], cache, t + 1)
        steps.append(np.array(logits))
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-4)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_source_padding_and_target_causality(kind):
    model = FACTORIES[kind]()
    base = _logits(model, SOURCE, TARGET_IN)
    padded = _logits(model, np.pad(SOURCE, [(0, 0), (0, 3)]), TARGET_IN)
    np.testing.assert_allclose(padded, base, atol=1e-5)
    changed = TARGET_IN.copy()
    changed[:, 4:] = 1
    np.testing.assert_allclose(_logits(model, SOURCE, changed)[:, :4], base[:, :4], atol=1e-5)


# The plain RNN and attention models are in the slow run: the default run keeps the transformer
# and the attention model with both options (the same code paths and more).
@pytest.mark.parametrize("kind", [
    pytest.param(kind, marks=pytest.mark.slow) if kind in ("seq2seq", "attention") else kind
    for kind in sorted(FACTORIES)])
def test_keras_save_load_and_xla_fit(kind):
    # One transformer layer each side here: XLA compiles the train step in about half the
    # time of two (19 s with two on 2 cores), and a second layer adds no code path.
    model = (TransformerEncoderDecoder(SRC_VOCAB, TGT_VOCAB, 16, 16, embedding_dim=16,
                                       num_heads=2, intermediate_dim=32, num_layers=1)
             if kind == "transformer" else FACTORIES[kind]())
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                  ignore_class=0),
                  jit_compile=True)
    x = {"source": SOURCE, "target_in": TARGET_IN}
    y = np.concatenate([TARGET_IN[:, 1:], np.full((2, 1), 3)], 1)
    y[0, 4:] = 0
    first = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    last = model.fit(x, y, epochs=20, verbose=0).history["loss"][-1]
    assert np.isfinite(last) and last < first
    before = _logits(model, SOURCE, TARGET_IN)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_logits(loaded, SOURCE, TARGET_IN), before, atol=1e-5)
    np.testing.assert_array_equal(loaded.generate(SOURCE, 7, jit_compile=False),
                                  model.generate(SOURCE, 7, jit_compile=False))


def test_attention_weights_shapes_and_padding():
    rnn = FACTORIES["attention"]()
    alpha = np.array(rnn.attention_weights(SOURCE, TARGET_IN))
    assert alpha.shape == (2, 7, 6)
    assert np.all(alpha[0, :, 4:] == 0.0)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-5)
    transformer = FACTORIES["transformer"]()
    w = np.array(transformer.attention_weights(SOURCE, TARGET_IN))
    assert w.shape == (2, 2, 7, 6) and np.all(w[0, :, :, 4:] == 0.0)


@pytest.mark.parametrize("sampler", ["beam", "top_k", "top_p", "random"])
def test_other_samplers_run_through_the_same_api(sampler):
    from keras_seq.generation import get_sampler

    model = FACTORIES["transformer"]()
    kwargs = {"beam": {"num_beams": 3}, "top_k": {"k": 3, "seed": 1},
              "top_p": {"p": 0.9, "seed": 1}, "random": {"temperature": 2.0, "seed": 5}}
    out = model.generate(SOURCE, MAX_LEN, sampler=get_sampler(sampler, **kwargs[sampler]),
                         jit_compile=False)
    assert out.shape == (2, MAX_LEN) and np.all(out[:, 0] == 2)
    assert np.all((out >= 0) & (out < TGT_VOCAB))
    # A seeded sampler gives the same ids again (a new instance of the same config too).
    again = model.generate(SOURCE, MAX_LEN, sampler=get_sampler(sampler, **kwargs[sampler]),
                           jit_compile=False)
    np.testing.assert_array_equal(again, out)


def test_one_runner_per_sampler_config_and_one_trace_per_shape():
    from keras_seq.generation import get_sampler

    model = FACTORIES["seq2seq"]()
    model.generate(SOURCE, MAX_LEN, jit_compile=False)
    model.generate(SOURCE[::-1], MAX_LEN, sampler="greedy", jit_compile=False)
    assert model.generate_traces == 1  # same shapes, same sampler config: no new trace
    model.generate(SOURCE, MAX_LEN, sampler=get_sampler("top_k", k=2, seed=3),
                   jit_compile=False)
    model.generate(SOURCE, MAX_LEN, sampler=get_sampler("top_k", k=2, seed=3),
                   jit_compile=False)
    assert model.generate_traces == 2
    # end_id=None never stops: nothing after an [END] is replaced by padding.
    out = model.generate(SOURCE, MAX_LEN, jit_compile=False, end_id=None)
    assert model.generate_traces == 3
    np.testing.assert_array_equal(out, _greedy_by_rerunning(model, SOURCE, MAX_LEN, False))


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_length=1), "max_length"),
    (dict(max_length=17), "max_target_length"),
    (dict(max_length=7.0), "max_length"),
    (dict(max_length=7, sampler="nucleus"), "sampler"),
    (dict(max_length=7, sampler={"name": "top_k", "k": TGT_VOCAB + 1}), "`k`"),
    (dict(max_length=7, sampler={"name": "top_p", "p": 1.5}), "`p`"),
    (dict(max_length=7, sampler={"name": "random", "temperature": 0.0}), "temperature"),
    (dict(max_length=7, inputs=SOURCE[0]), "inputs"),
])
def test_generate_rejects_bad_arguments(kwargs, match):
    from keras_seq.generation import get_sampler

    model = FACTORIES["transformer"]()
    kwargs = {"inputs": SOURCE, **kwargs}
    with pytest.raises(ValueError, match=match):
        sampler = kwargs.pop("sampler", "greedy")
        if isinstance(sampler, dict):
            sampler = get_sampler(sampler.pop("name"), **sampler)
        model.generate(sampler=sampler, jit_compile=False, **kwargs)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_build_without_shapes_creates_every_weight(kind):
    # The application calls `model.build()` before fit, to count parameters and set up the
    # backup; a call afterwards must add no weights.
    model = FACTORIES[kind]()
    model.build()
    count = model.count_params()
    assert count > 0
    _logits(model, SOURCE, TARGET_IN)
    assert model.count_params() == count


def test_bidirectional_encoder_sees_the_whole_sentence():
    uni = FACTORIES["attention"]()
    bi = FACTORIES["attention_bi_deep"]()
    changed = SOURCE.copy()
    changed[1, -1] = 20  # only the last source token differs
    for model, first_state_changes in ((uni, False), (bi, True)):
        before = np.array(model.encode(SOURCE)[0])[1, 0]  # h_1 of the second sentence
        after = np.array(model.encode(changed)[0])[1, 0]
        assert (not np.allclose(before, after, atol=1e-6)) == first_state_changes
    states, final, _ = bi.encode(SOURCE)
    assert tuple(states.shape) == (2, 6, 12) and tuple(final.shape) == (2, 12)
    # s_0 = [forward state after the last real token; backward state after the first].
    states = np.array(states)
    np.testing.assert_allclose(np.array(final)[0, :6], states[0, 3, :6], atol=1e-6)
    np.testing.assert_allclose(np.array(final)[0, 6:], states[0, 0, 6:], atol=1e-6)
    assert bi.deep_output.kernel.shape == (2 * 12 + 8, 10)
    assert bi.output_projection.kernel.shape == (10, TGT_VOCAB)


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_dim=11, bidirectional_encoder=True), "must be even"),
    (dict(hidden_dim=12, deep_output_dim=0), "positive int"),
])
def test_bahdanau_options_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BahdanauEncoderDecoder(SRC_VOCAB, TGT_VOCAB, embedding_dim=8, **kwargs)
