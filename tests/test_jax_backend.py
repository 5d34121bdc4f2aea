"""The JAX backend: every layer test, every model's fit/predict/generate, DataParallel.

The main pytest process runs on TensorFlow, so each JAX check is a subprocess with
`KERAS_BACKEND=jax JAX_PLATFORMS=cpu` (one per group; each skips when jax is not
installed). What runs by default and what is marked `slow` (JAX compiles every shape
anew, so the subprocesses take minutes on 2 CPU cores):

- default: every public layer class is named in a test module that the JAX layer run
  executes, and every public model in a JAX model script (a static check: a new layer
  or model without a JAX test fails here); `keras.distribution.DataParallel` over 2
  forced host CPU devices gives the same per-step losses as 1 device; the
  encoder-decoders, captioner, tagger and forecaster: XLA `fit` steps, `predict`,
  cached `generate` equal to greedy decoding by rerunning the one-shot forward pass,
  beam search and a seeded random sampler.
- slow: the layer tests themselves under JAX (`tests/layers`, ScalarMix, the image
  encoders), with a probe asserting every public layer class was really called; the
  language models (biLM + ELMo classifier, char LM, GPT, masked LM): the same checks,
  plus K/V cache equals one-shot and seeded top-k / top-p sampling repeats.

`tests/test_architecture.py` keeps the quick smoke test of layers and models on JAX.
"""

import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Test modules (and node ids) run under JAX by `test_layer_tests_pass_on_jax`.
LAYER_TEST_TARGETS = [
    "tests/layers",
    "tests/elmo_lm/test_scalar_mix.py",
    *(
        "tests/captioner/test_image_captioner.py::" + name
        for name in (
            "test_conv_encoder_harness",
            "test_region_self_attention_lets_every_region_see_the_others",
            "test_conv_encoder_global_vector_knows_left_from_right",
            "test_conv_encoder_rejects_bad_arguments",
            "test_backbone_encoder_frozen_and_serializable",
            "test_backbone_encoder_loads_a_user_weights_file",
        )
    ),
]

# Skips allowed in that run, each a known limitation with its reason (see the test).
ALLOWED_JAX_SKIPS = {
    "tests/layers/test_elman_rnn_cell.py": "Keras's JAX rnn (unroll=False) carries states[0]",
}


def _jax_env(**extra):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra)
    return env


def _run(args, env, marker, timeout=600):
    proc = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0 and marker in proc.stdout, (
        proc.stdout[-6000:] + "\n--- stderr ---\n" + proc.stderr[-4000:]
    )
    return proc.stdout


def _public_layer_classes():
    import keras_seq.layers as layers

    names = getattr(layers, "__all__", None) or [n for n in vars(layers) if not n.startswith("_")]
    return sorted(n for n in names if inspect.isclass(getattr(layers, n))
                  and issubclass(getattr(layers, n), keras.layers.Layer))


def _public_models():
    import keras_seq.models as models

    names = getattr(models, "__all__", None) or [n for n in vars(models) if not n.startswith("_")]
    return {n: getattr(models, n) for n in names
            if inspect.isclass(getattr(models, n)) or inspect.isfunction(getattr(models, n))}


# --------------------------------------------------------------------------------------
# Model scripts (run with KERAS_BACKEND=jax). Shared helpers first.
# --------------------------------------------------------------------------------------
MODEL_PRELUDE = textwrap.dedent(
    """
    import sys, time
    import keras, numpy as np
    from keras import ops
    assert keras.backend.backend() == "jax", keras.backend.backend()
    import keras_seq.models as M
    from keras_seq.generation import get_sampler

    T0 = time.time()
    SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    covered = []

    def mark(*names):
        covered.extend(names)
        print(f"{'+'.join(names)}: ok at {time.time() - T0:.1f}s", file=sys.stderr, flush=True)

    def values(model):
        return [ops.convert_to_numpy(w.value) for w in model.trainable_weights]

    def fit_check(model, x, y, loss=None, sample_weight=None, compiled=False):
        '''predict (builds), then 2 fit steps (batch 2, XLA): finite losses, weights moved.'''
        if not compiled:
            model.compile(optimizer="adam", loss=loss, jit_compile=True)
        preds = model.predict(x, batch_size=4, verbose=0)
        before = values(model)
        hist = model.fit(x, y, sample_weight=sample_weight, batch_size=2, epochs=1,
                         verbose=0, shuffle=False)
        assert np.all(np.isfinite(hist.history["loss"])), hist.history
        after = values(model)
        assert before and any(not np.array_equal(a, b) for a, b in zip(before, after))
        return preds

    def greedy_reference(next_logits, prompt, n):
        '''Greedy decoding by rerunning the one-shot forward pass on a fixed (B, P + n)
        buffer (future slots hold id 1: the models are causal and cannot see them).'''
        batch, p = prompt.shape
        buf = np.ones((batch, p + n), "int32")
        buf[:, :p] = prompt
        for t in range(p, p + n):
            buf[:, t] = np.argmax(np.asarray(next_logits(buf))[:, t - 1], -1)
        return buf

    def assert_same_until_padding(out, ref, start):
        '''Equal token by token; after a generated 0 (the padding id) a row stops being
        compared: the one-shot pass masks a 0 as padding, the cached loop does not.'''
        for o, r in zip(np.asarray(out), ref):
            stop = np.flatnonzero(o[start:] == 0)
            end = start + stop[0] + 1 if len(stop) else len(o)
            np.testing.assert_array_equal(o[:end], r[:end])

    ids = np.array([[5, 6, 7, 0, 0], [8, 9, 4, 5, 6], [3, 3, 0, 0, 0], [7, 1, 2, 9, 0]],
                   "int32")
    """
)

LANGUAGE_MODELS_SCRIPT = MODEL_PRELUDE + textwrap.dedent(
    """
    from keras_seq.models.char_language_model import CharLanguageModel

    # bidirectional LM -> ElmoEmbedding -> sentiment classifier over [embedding; ELMo]
    bilm = M.BidirectionalLanguageModel(20, embedding_dim=6, hidden_dim=8, num_layers=1,
                                        dropout=0.0)
    targets, weights = M.BidirectionalLanguageModel.targets(ids)
    out = fit_check(bilm, ids, {k: np.asarray(v) for k, v in targets.items()},
                    {"forward": SCCE, "backward": SCCE},
                    sample_weight={k: np.asarray(v) for k, v in weights.items()})
    assert out["forward"].shape == out["backward"].shape == (4, 5, 20)
    mark("BidirectionalLanguageModel")
    labels = np.array([[1.0], [0.0], [1.0], [0.0]], "float32")
    clf = M.build_sentiment_classifier(20, embedding_dim=6, rnn="gru", hidden_dim=4,
                                       num_stacked=1, elmo=M.ElmoEmbedding(bilm))
    M.compile_sentiment_classifier(clf, jit_compile=True)
    p = fit_check(clf, ids, labels, compiled=True)
    assert p.shape == (4, 1) and np.all((p > 0) & (p < 1))
    p = clf.predict(ids, batch_size=4, verbose=0)
    padded = clf.predict(np.pad(ids, ((0, 0), (0, 3))), batch_size=4, verbose=0)
    np.testing.assert_allclose(padded, p, atol=1e-5)  # padding changes nothing
    mark("build_sentiment_classifier", "compile_sentiment_classifier", "ElmoEmbedding")

    # char LM: Elman cells; cached greedy == rerunning; seeded top-k sampling repeats
    lm_ids = rng.integers(3, 20, (4, 8)).astype("int32")
    prompt = lm_ids[:2, :3]
    char = CharLanguageModel(20, cell="elman", hidden_dim=8, embedding_dim=4, num_layers=2)
    assert fit_check(char, lm_ids[:, :-1], lm_ids[:, 1:], SCCE).shape == (4, 7, 20)
    out = char.generate(prompt, 8, jit_compile=True)
    assert_same_until_padding(out, greedy_reference(char.predict_on_batch, prompt, 5), 3)
    a = char.generate(prompt, 8, get_sampler("top_k", k=4, seed=3), jit_compile=True)
    b = char.generate(prompt, 8, get_sampler("top_k", k=4, seed=3), jit_compile=True)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 8) and np.all(a[:, :3] == prompt)
    mark("CharLanguageModel")

    # GPT LM (sinusoidal, post-norm, untied head): K/V cache == one-shot; greedy; top-p
    gpt = M.GPTLanguageModel(20, max_length=16, num_layers=1, num_heads=2, embedding_dim=8,
                             intermediate_dim=16, dropout=0.0, position="sinusoidal",
                             norm_first=False, tie_weights=False)
    fit_check(gpt, lm_ids[:, :-1], lm_ids[:, 1:], SCCE)
    full = gpt.predict_on_batch(lm_ids)
    cache = gpt.build_cache(lm_ids[:, :3], 8)
    for t in range(4, 9):
        logits, _, cache = gpt.call_with_cache(lm_ids, cache, t)
        np.testing.assert_allclose(np.asarray(logits), full[:, t - 1], atol=1e-4)
    out = gpt.generate(prompt, 8, jit_compile=True)
    assert_same_until_padding(out, greedy_reference(gpt.predict_on_batch, prompt, 5), 3)
    a = gpt.generate(prompt, 8, get_sampler("top_p", p=0.9, seed=4), jit_compile=True)
    b = gpt.generate(prompt, 8, get_sampler("top_p", p=0.9, seed=4), jit_compile=True)
    np.testing.assert_array_equal(a, b)
    mark("GPTLanguageModel")

    # masked LM: the head runs at the gathered positions only
    mids = np.array([[2, 9, 4, 11, 3, 0], [2, 8, 9, 4, 3, 12], [2, 5, 6, 3, 0, 0],
                     [2, 7, 3, 0, 0, 0]])
    mx = {"token_ids": mids, "segment_ids": np.zeros_like(mids), "padding_mask": mids != 0,
          "mask_positions": np.array([[2, 0], [3, 1], [1, 0], [1, 0]])}
    mlm = M.MaskedLanguageModel(20, 6, num_layers=1, num_heads=2, embedding_dim=8,
                                intermediate_dim=16, dropout=0.0)
    out = fit_check(mlm, mx, np.array([[4, 0], [9, 8], [5, 0], [7, 0]]), SCCE,
                    sample_weight=np.array([[1., 0.], [1., 1.], [1., 0.], [1., 0.]]))
    assert out.shape == (4, 2, 20)
    mark("MaskedLanguageModel")
    print("COVERED " + " ".join(covered))
    print("JAX LANGUAGE MODELS OK")
    """
)

SEQ2SEQ_AND_OTHERS_SCRIPT = MODEL_PRELUDE + textwrap.dedent(
    """
    # encoder-decoders: fit, predict, cached greedy == rerunning teacher forcing, beam/random
    src = np.array([[5, 6, 7, 0], [4, 5, 6, 7], [9, 8, 0, 0], [4, 4, 4, 4]], "int32")
    tgt = np.array([[2, 4, 5, 6, 3], [2, 7, 8, 9, 3], [2, 5, 3, 0, 0], [2, 6, 6, 6, 3]],
                   "int32")
    images = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
    cases = [
        ("RNNEncoderDecoder", M.RNNEncoderDecoder(12, 10, embedding_dim=6, hidden_dim=8,
                                                  dropout=0.0), "source", src, None),
        ("BahdanauEncoderDecoder", M.BahdanauEncoderDecoder(12, 10, embedding_dim=6, hidden_dim=8,
                                                            dropout=0.0), "source", src, "beam"),
        ("BahdanauEncoderDecoder", M.BahdanauEncoderDecoder(
            12, 10, embedding_dim=6, hidden_dim=8, dropout=0.0, bidirectional_encoder=True,
            deep_output_dim=5), "source", src, None),
        ("TransformerEncoderDecoder", M.TransformerEncoderDecoder(
            12, 10, 4, 8, embedding_dim=8, num_heads=2, intermediate_dim=16, dropout=0.0),
         "source", src, "random"),
        ("ImageCaptioner", M.ImageCaptioner(10, image_size=16, embedding_dim=6, hidden_dim=8,
                                            rnn="lstm", encoder_filters=(4,), dropout=0.0),
         "image", images, "beam"),
    ]
    for name, model, key, source, other in cases:
        target_key = "caption_in" if key == "image" else "target_in"
        x = {key: source, target_key: tgt[:, :-1]}
        out = fit_check(model, x, tgt[:, 1:], SCCE,
                        sample_weight=(tgt[:, 1:] != 0).astype("float32"))
        assert out.shape == (4, 4, 10)
        out = np.asarray(model.generate(source, 6, end_id=None))
        ref = greedy_reference(lambda s: model.predict_on_batch({key: source, target_key: s}),
                               np.full((4, 1), 2, "int32"), 5)
        assert_same_until_padding(out, ref, 1)
        if other:
            sampler = (get_sampler("beam", num_beams=2) if other == "beam"
                       else get_sampler("random", seed=1))
            out = np.asarray(model.generate(source, 6, sampler=sampler))
            assert out.shape == (4, 6) and np.all(out[:, 0] == 2), out
        mark(name)
    mark("Seq2SeqModel")  # the base class of the four above

    tagger = M.SequenceTagger(20, 4, cell="gru", hidden_dim=4, num_layers=1, bidirectional=False,
                              embedding_dim=4)
    out = fit_check(tagger, ids, ids % 4, SCCE, sample_weight=(ids != 0).astype("float32"))
    assert out.shape == (4, 5, 4)
    mark("SequenceTagger")

    series = rng.normal(size=(4, 8)).astype("float32")
    fc = M.RNNForecaster(horizon=2, rnn="lstm", hidden_dim=4, num_layers=2, residual="last")
    out = fit_check(fc, series, rng.normal(size=(4, 2)).astype("float32"), "mse")
    assert out.shape == (4, 2)
    mark("RNNForecaster")
    print("COVERED " + " ".join(covered))
    print("JAX SEQ2SEQ AND OTHERS OK")
    """
)

MODEL_SCRIPTS = {
    "language_models": (LANGUAGE_MODELS_SCRIPT, "JAX LANGUAGE MODELS OK"),
    "seq2seq_and_others": (SEQ2SEQ_AND_OTHERS_SCRIPT, "JAX SEQ2SEQ AND OTHERS OK"),
}

# --------------------------------------------------------------------------------------
# DataParallel on 2 forced host CPU devices vs 1 device.
# --------------------------------------------------------------------------------------
DATA_PARALLEL_SCRIPT = textwrap.dedent(
    """
    import json, os
    assert "--xla_force_host_platform_device_count=2" in os.environ["XLA_FLAGS"]
    import jax
    import keras, numpy as np
    from keras import ops
    assert keras.backend.backend() == "jax" and len(jax.devices()) == 2, jax.devices()
    from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier

    SEEN = []  # how XLA partitions the ids inside each compiled step

    class ShardingProbe(keras.layers.Layer):
        def call(self, x):
            jax.debug.inspect_array_sharding(x, callback=SEEN.append)
            return x

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 13, 32)
    ids = np.where(np.arange(12)[None] < lengths[:, None], rng.integers(2, 50, (32, 12)), 0)
    ids = ids.astype("int32")
    labels = (ids[:, :1] >= 25).astype("float32")  # learnable: is the first id large?

    def train(initial_weights=None):
        keras.utils.set_random_seed(0)
        inner = build_sentiment_classifier(50, embedding_dim=8, rnn="lstm", hidden_dim=8,
                                           num_stacked=1, dropout=0.0)
        inp = keras.Input((None,), dtype="int32")
        model = keras.Model(inp, inner(ShardingProbe()(inp)))
        if initial_weights is not None:
            model.set_weights(initial_weights)
        weights0 = model.get_weights()
        compile_sentiment_classifier(model, learning_rate=1e-2, jit_compile=True)
        means = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: means.append(logs["loss"]))
        model.fit(ids, labels, batch_size=8, epochs=2, shuffle=False, verbose=0,
                  callbacks=[record])
        # logs["loss"] is the running mean over the epoch: recover each step's loss.
        losses = []
        for epoch in range(2):
            m = means[4 * epoch:4 * epoch + 4]
            losses += [m[0]] + [(k + 1) * m[k] - k * m[k - 1] for k in range(1, 4)]
        return model, weights0, np.array(losses, "float64")

    single, weights0, single_losses = train()
    assert len(single.weights[0].value.sharding.device_set) == 1

    SEEN.clear()
    distribution = keras.distribution.DataParallel(devices=jax.devices())
    keras.distribution.set_distribution(distribution)
    multi, _, multi_losses = train(initial_weights=weights0)
    assert tuple(distribution.device_mesh.shape) == (2,)
    for v in multi.weights:  # every variable: one full copy on each device
        s = v.value.sharding
        assert len(s.device_set) == 2 and s.is_fully_replicated, (v.path, s)
    step = SEEN[0]  # the train step: the batch axis split over the 2 devices
    assert len(step.device_set) == 2 and not step.is_fully_replicated, step
    assert tuple(step.spec)[0] == distribution.batch_dim_name, step.spec
    layout = distribution.get_data_layout((8, 12)).backend_layout
    shards = jax.device_put(ids[:8], layout).addressable_shards
    assert sorted(s.data.shape for s in shards) == [(4, 12), (4, 12)]

    weight_diff = max(
        float(np.max(np.abs(ops.convert_to_numpy(a.value) - ops.convert_to_numpy(b.value))))
        for a, b in zip(single.weights, multi.weights))
    print("RESULT " + json.dumps({
        "single_losses": single_losses.tolist(), "multi_losses": multi_losses.tolist(),
        "max_rel_loss_diff": float(np.max(np.abs(multi_losses / single_losses - 1))),
        "max_abs_weight_diff": weight_diff, "train_step_ids_sharding": str(step.spec),
        "variable_sharding": str(multi.weights[0].value.sharding.spec)}))
    np.testing.assert_allclose(multi_losses, single_losses, rtol=1e-4)
    np.testing.assert_allclose(weight_diff, 0.0, atol=1e-5)
    assert single_losses[4:].mean() < single_losses[:4].mean(), single_losses  # it learns
    print("JAX DATA PARALLEL OK")
    """
)

# A pytest plugin for the JAX layer run: records every keras_seq layer class called.
LAYER_PROBE_PLUGIN = textwrap.dedent(
    """
    import json, os
    import keras

    CALLED = set()
    _call = keras.layers.Layer.__call__

    def _recording_call(self, *args, **kwargs):
        if type(self).__module__.startswith("keras_seq.layers"):
            CALLED.add(type(self).__name__)
        return _call(self, *args, **kwargs)

    keras.layers.Layer.__call__ = _recording_call

    def pytest_unconfigure(config):
        with open(os.environ["KERAS_SEQ_LAYER_PROBE_OUT"], "w") as f:
            json.dump(sorted(CALLED), f)
    """
)


# --------------------------------------------------------------------------------------
# Default run
# --------------------------------------------------------------------------------------
def test_every_public_layer_has_a_test_in_the_jax_layer_run():
    files = []
    for target in LAYER_TEST_TARGETS:
        path = ROOT / target.split("::")[0]
        files += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    text = "\n".join(f.read_text() for f in files)
    layers = _public_layer_classes()
    assert len(layers) >= 12, layers
    missing = [name for name in layers if not re.search(rf"\b{name}\b", text)]
    assert not missing, (
        f"layers without a test in a module run under JAX: {missing}; add one to tests/layers "
        "(or add its test module to LAYER_TEST_TARGETS)"
    )


def test_every_public_model_is_exercised_by_a_jax_model_script():
    text = LANGUAGE_MODELS_SCRIPT + SEQ2SEQ_AND_OTHERS_SCRIPT
    covered = set(re.findall(r"""mark\(([^)]*)\)""", text))
    covered = {n.strip(" \"'") for group in covered for n in group.split(",")}
    covered |= set(re.findall(r"""\("(\w+)", M\.""", text))  # the seq2seq cases table
    missing = sorted(set(_public_models()) - covered)
    assert not missing, f"keras_seq.models exports without a JAX check: {missing}"


@pytest.mark.slow  # JAX: the layers run stays
def test_data_parallel_on_two_host_devices_matches_one_device():
    pytest.importorskip("jax", reason="jax is not installed")
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2")
    out = _run([sys.executable, "-c", DATA_PARALLEL_SCRIPT], _jax_env(XLA_FLAGS=flags.strip()),
               "JAX DATA PARALLEL OK")
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert "'batch'" in result["train_step_ids_sharding"], result
    assert result["max_rel_loss_diff"] <= 1e-4, result


# --------------------------------------------------------------------------------------
# Slow: the layer tests and the model groups under JAX
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_layer_tests_pass_on_jax(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed")
    (tmp_path / "keras_seq_layer_probe.py").write_text(LAYER_PROBE_PLUGIN)
    probe_out = tmp_path / "called.json"
    env = _jax_env(PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
                   KERAS_SEQ_LAYER_PROBE_OUT=str(probe_out))
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-p", "keras_seq_layer_probe", "-rs", "-m", "not slow", *LAYER_TEST_TARGETS],
               env, " passed")
    assert not re.search(r"\d+ (failed|error)", out), out[-3000:]
    for line in re.findall(r"^SKIPPED .*$", out, flags=re.M):
        assert any(f in line and reason in line for f, reason in ALLOWED_JAX_SKIPS.items()), (
            f"unexpected skip under JAX: {line}"
        )
    called = set(json.loads(probe_out.read_text()))
    missing = sorted(set(_public_layer_classes()) - called)
    assert not missing, f"public layers never called during the JAX layer tests: {missing}"


@pytest.mark.parametrize(
    "group",
    # Both groups are slow (2 min): the default run keeps the JAX layers run
    # (tests/test_architecture.py).
    [pytest.param("language_models", marks=pytest.mark.slow),
     pytest.param("seq2seq_and_others", marks=pytest.mark.slow)],
)
def test_models_fit_predict_generate_on_jax(group):
    pytest.importorskip("jax", reason="jax is not installed")
    script, marker = MODEL_SCRIPTS[group]
    out = _run([sys.executable, "-c", script], _jax_env(), marker)
    assert "COVERED " in out
