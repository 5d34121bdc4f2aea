"""Like-for-like speed on JAX (no TensorFlow): transformer translator and IMDB classifier.

Every comparison uses the same shapes, batch, length, precision and optimizer on both sides,
and XLA on both sides (each timed function is one `jax.jit`: a training step through Keras's
stateless API, or a whole decode). Data are NumPy arrays; TensorFlow is never imported
(keras-hub imports it whenever it is installed, so the script blocks that import first; it
asserts at the end that no TensorFlow module was loaded).

(a) Training step of the transformer encoder-decoder (1 encoder + 1 decoder block, post-norm,
    ReLU FFN, dropout 0.1, Adam 1e-4, sparse cross-entropy weighted by
    the target padding mask):
      - ours: `keras_seq.models.TransformerEncoderDecoder`;
      - keras-hub: `keras_hub.layers.TokenAndPositionEmbedding`, `TransformerEncoder`,
        `TransformerDecoder` and a `Dense` output layer;
      - plain Keras: the same blocks from `keras.layers.MultiHeadAttention`,
        `LayerNormalization`, `Dense`, `Dropout` and `Embedding`.
    One difference is left: ours adds fixed sinusoidal positions (and scales the token
    vectors by sqrt(d)), as `TransformerEncoderDecoder` has no learned-position option; the
    other two add learned position tables (2 x length x width more parameters). Either way
    it is one addition per position.
(b) Cached greedy decoding, exactly N new tokens (no early stop), one `jax.jit` per decode:
      - keras-hub: `keras_hub.samplers.GreedySampler` over the keras-hub model's
        `TransformerDecoder` caches (its cross-attention cache is filled by one decoder call on
        the start token before the loop);
      - ours, same loop: the same `GreedySampler` calling our model's `call_with_cache`;
      - ours, default: `model.generate_step` (our decode loop, which also reshapes the attention
        kernels once before the loop).
    The figure is ms per token of the whole decode at the longer length N2, t(N2) / N2 (the
    encoder and cache set-up included, as `bench_decoding.py`'s "ms per step"); the JSON
    adds the marginal cost (t(N2) - t(N1)) / (N2 - N1), where those fixed costs cancel (noisy
    when N2 - N1 is small).
(c) Training step of the IMDB classifier (embedding, BiLSTM, pooling over the real steps,
    dense head; Adam 1e-3, binary cross-entropy; reviews of random length padded to T):
      - ours like-for-like: `build_sentiment_classifier(pooling="mean", word_dropout=0,
        dropout_class=keras.layers.Dropout)`;
      - plain Keras: `Embedding(mask_zero=True)`, `Dropout`, `Bidirectional(LSTM(...,
        return_sequences=True))`, `GlobalAveragePooling1D` (masked), `Dropout`, `Dense(1)`;
      - ours with the application's defaults (a separate row: `HashDropout`, word dropout
        0.2, mean + max pooling, Adam with global-norm clipping 1.0; the adversarial
        training of the default is TensorFlow-only and is not part of this step).

Each row is timed in float32 and in mixed_bfloat16. Timing: two warm-up calls (compile), then
rounds in which every variant of a comparison runs `--steps` blocking calls in turn (the order
rotates each round); the figure is the median time per call over all rounds. A ratio > 1
means ours is faster.

    KERAS_BACKEND=jax python benchmarks/bench_gpu_jax.py               # GPU sizes
    KERAS_BACKEND=jax python benchmarks/bench_gpu_jax.py --size large --parts train imdb
    KERAS_BACKEND=jax python benchmarks/bench_gpu_jax.py --quick       # CPU smoke run, < 2 min

Writes `benchmarks/out/gpu_jax[_quick].json` (or `--out FILE`). `--quick` also turns off
XLA's LLVM optimisation on CPU (compiles ~3x faster): its numbers are a smoke test only.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings

if os.environ.setdefault("KERAS_BACKEND", "jax") != "jax":
    sys.exit(f"bench_gpu_jax.py: KERAS_BACKEND must be 'jax', got "
             f"{os.environ['KERAS_BACKEND']!r}; run it with KERAS_BACKEND=jax")
# keras-hub does `try: import tensorflow` at import time; None in sys.modules makes that an
# ImportError, which keras-hub handles (it then works without TensorFlow).
sys.modules.setdefault("tensorflow", None)
sys.modules.setdefault("tensorflow_text", None)
if "--quick" in sys.argv[1:]:
    # Smoke run only: XLA's CPU backend without LLVM optimisation compiles ~3x faster.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()
warnings.filterwarnings("ignore", message=".*does not support masking.*")

import jax  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_seq.layers import HashDropout  # noqa: E402
from keras_seq.models import TransformerEncoderDecoder  # noqa: E402
from keras_seq.models import build_sentiment_classifier  # noqa: E402

START_ID = 2

SIZES = {
    # As benchmarks/bench_translation_training.py and bench_decoding.py; IMDB as the keras.io
    # reference's token budget (200) at the application's width.
    "full": dict(vocabulary_size=15000, width=256, heads=8, ffn=2048, batch=64, length=40,
                 decode_batches=(1, 32), source_length=20, decode_tokens=(20, 40),
                 imdb_vocabulary_size=20000, imdb_embedding=128, imdb_units=64,
                 imdb_batch=64, imdb_length=200, steps=10, rounds=5),
    # Sizes that load a GPU more (the full ones are launch-bound on an H200): 4x the batch,
    # 3x the length, 2x the width; the decoding part keeps the full sizes.
    "large": dict(vocabulary_size=15000, width=512, heads=8, ffn=2048, batch=256, length=128,
                  decode_batches=(1, 32), source_length=20, decode_tokens=(20, 40),
                  imdb_vocabulary_size=20000, imdb_embedding=128, imdb_units=256,
                  imdb_batch=256, imdb_length=400, steps=10, rounds=4),
    "quick": dict(vocabulary_size=300, width=32, heads=2, ffn=64, batch=8, length=12,
                  decode_batches=(2,), source_length=6, decode_tokens=(3, 6),
                  imdb_vocabulary_size=300, imdb_embedding=16, imdb_units=8,
                  imdb_batch=8, imdb_length=24, steps=3, rounds=2),
}


def tensorflow_modules():
    """Names of the TensorFlow modules really loaded (a None entry is the import block)."""
    return sorted(n for n, m in sys.modules.items() if m is not None
                  and (n.split(".")[0] in ("tensorflow", "tensorflow_text")))


def block(out):
    """Waits until every array in `out` is computed."""
    jax.block_until_ready(jax.tree_util.tree_leaves(out))
    return out


def interleaved(fns, steps, rounds):
    """Median seconds per call of each `fns[name]()`, after 2 warm-up calls each."""
    for fn in fns.values():
        block(fn())
        block(fn())
    names, times = list(fns), {name: [] for name in fns}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            for _ in range(steps):
                t0 = time.perf_counter()
                block(fns[name]())
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


# ---------------------------------------------------------------------------- translator


def translation_batch(s, seed=0):
    """Random source/target ids of random real length, padded with 0 to `length`."""
    rng = np.random.default_rng(seed)
    b, t, v = s["batch"], s["length"], s["vocabulary_size"]

    def ids(lo):
        out = np.zeros((b, t), "int32")
        for row, n in zip(out, rng.integers(lo, t + 1, b)):
            row[:n] = rng.integers(4, v, n)
        return out

    source, target = ids(2), ids(3)
    target[:, 0] = START_ID
    target_in, target_out = target[:, :-1], target[:, 1:]
    weights = (target_out != 0).astype("float32")
    return {"source": source, "target_in": target_in}, target_out, weights


class HubTranslator(keras.Model):
    """The same encoder-decoder from keras-hub layers, with a cache for its samplers."""

    def __init__(self, vocabulary_size, length, width, heads, ffn, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        emb = keras_hub.layers.TokenAndPositionEmbedding  # masks are passed explicitly
        self.source_embedding = emb(vocabulary_size, length, width)
        self.target_embedding = emb(vocabulary_size, length, width)
        self.encoder = keras_hub.layers.TransformerEncoder(ffn, heads, dropout=dropout)
        self.decoder = keras_hub.layers.TransformerDecoder(ffn, heads, dropout=dropout)
        self.output_projection = keras.layers.Dense(vocabulary_size)
        self.heads, self.key_dim = heads, width // heads

    def encode(self, source, training=False):
        mask = ops.not_equal(source, 0)
        return self.encoder(self.source_embedding(source), padding_mask=mask,
                            training=training), mask

    def call(self, inputs, training=False):
        encoded, source_mask = self.encode(inputs["source"], training)
        target = inputs["target_in"]
        y = self.decoder(self.target_embedding(target), encoded,
                         decoder_padding_mask=ops.not_equal(target, 0),
                         encoder_padding_mask=source_mask, training=training)
        return self.output_projection(y)

    def build_cache(self, source, max_length):
        """Self-attention cache of zeros; the cross-attention K/V from one decoder call."""
        encoded, source_mask = self.encode(source)
        batch, dtype = ops.shape(source)[0], encoded.dtype
        self_cache = ops.zeros((batch, 2, max_length, self.heads, self.key_dim), dtype)
        cross_cache = ops.zeros((batch, 2, ops.shape(source)[1], self.heads, self.key_dim),
                                dtype)
        start = ops.full((batch, 1), START_ID, "int32")
        _, self_cache, cross_cache = self.decoder(
            self.target_embedding(start), encoded, encoder_padding_mask=source_mask,
            self_attention_cache=self_cache, self_attention_cache_update_index=0,
            cross_attention_cache=cross_cache, cross_attention_cache_update_index=0)
        return self_cache, cross_cache, encoded, source_mask

    def call_with_cache(self, token_ids, cache, index):
        self_cache, cross_cache, encoded, source_mask = cache
        y = self.target_embedding(token_ids, start_index=index)
        y, self_cache, cross_cache = self.decoder(
            y, encoded, encoder_padding_mask=source_mask, self_attention_cache=self_cache,
            self_attention_cache_update_index=index, cross_attention_cache=cross_cache,
            cross_attention_cache_update_index=None)
        logits = self.output_projection(y)[:, 0]
        return logits, y[:, 0], (self_cache, cross_cache, encoded, source_mask)


class PlainTokenAndPosition(keras.layers.Layer):
    """`Embedding(ids, mask_zero) + Embedding(positions)`, from plain Keras layers."""

    def __init__(self, vocabulary_size, length, width, **kwargs):
        super().__init__(**kwargs)
        self.token = keras.layers.Embedding(vocabulary_size, width, mask_zero=True)
        self.position = keras.layers.Embedding(length, width)

    def call(self, ids):
        return self.token(ids) + self.position(ops.arange(ops.shape(ids)[1]))[None]

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids, 0)


def plain_translator(vocabulary_size, length, width, heads, ffn, dropout=0.1):
    """Post-norm encoder-decoder from `keras.layers.MultiHeadAttention` (masks via Keras)."""
    def residual(x, y):
        return keras.layers.LayerNormalization(epsilon=1e-5)(
            keras.layers.Add()([x, keras.layers.Dropout(dropout)(y)]))

    def feed_forward(x):
        h = keras.layers.Dense(ffn, activation="relu")(x)
        return residual(x, keras.layers.Dense(width)(h))

    def attention(**kwargs):
        return keras.layers.MultiHeadAttention(heads, width // heads, dropout=dropout, **kwargs)

    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target_in")
    x = PlainTokenAndPosition(vocabulary_size, length, width)(source)
    encoded = feed_forward(residual(x, attention()(x, x)))
    y = PlainTokenAndPosition(vocabulary_size, length, width)(target)
    y = residual(y, attention()(y, y, use_causal_mask=True))
    y = feed_forward(residual(y, attention()(y, encoded)))
    logits = keras.layers.Dense(vocabulary_size)(y)
    return keras.Model({"source": source, "target_in": target}, logits)


def train_step_fn(model, loss_fn, optimizer, x, y, w=None):
    """One call = one XLA-compiled training step (forward, loss, gradients, optimizer update).

    Written with Keras's stateless API (`stateless_call`, `stateless_apply`) under one
    `jax.jit`, the same for every model. Not `train_on_batch`: Keras re-runs a symbolic build
    of the model on every such call while any of its layers is unbuilt (our
    `BidirectionalMeanPooledRNN` keeps its unbuilt template layer), which would time Python
    tracing, not the step.
    """
    optimizer.build(model.trainable_variables)

    def compute_loss(trainable, non_trainable, x, y, w):
        out, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, out, sample_weight=w), non_trainable

    gradients = jax.value_and_grad(compute_loss, has_aux=True)

    @jax.jit
    def step(trainable, non_trainable, optimizer_state, x, y, w):
        (loss, non_trainable), grads = gradients(trainable, non_trainable, x, y, w)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads,
                                                               trainable)
        return loss, trainable, non_trainable, optimizer_state

    x, y, w = jax.device_put((x, y, w))  # on the device once, as for every variant
    state = [[v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables]]

    def run():
        loss, *state[:] = step(*state, x, y, w)
        return loss

    return run


def translation_training(s, policy):
    keras.config.set_dtype_policy(policy)
    try:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        v, t, d, h, f = s["vocabulary_size"], s["length"], s["width"], s["heads"], s["ffn"]
        keras.utils.set_random_seed(0)
        models = {
            "ours": TransformerEncoderDecoder(v, v, t, t, embedding_dim=d, num_heads=h,
                                              intermediate_dim=f, num_layers=1, dropout=0.1),
            "keras-hub": HubTranslator(v, t, d, h, f),
            "plain Keras": plain_translator(v, t, d, h, f),
        }
        x, y, w = translation_batch(s)
        fns = {}
        for name, model in models.items():
            model(x)  # builds the variables
            fns[name] = train_step_fn(model, loss, keras.optimizers.Adam(1e-4), x, y, w)
        times = interleaved(fns, s["steps"], s["rounds"])
        return [dict(comparison="translator train step", precision=policy, variant=name,
                     parameters=int(models[name].count_params()), median_ms=1e3 * sec,
                     shape=f"batch {s['batch']}, source/target length {t}, width {d}, "
                           f"{h} heads, FFN {f}, 1+1 blocks, vocabulary {v}")
                for name, sec in times.items()]
    finally:
        keras.config.set_dtype_policy("float32")


def jit_with_variables(model, fn):
    """`fn(*args)` as one `jax.jit`, with `model`'s variables passed in as state."""
    variables = list(model.variables)

    def run(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args)

    compiled_run = jax.jit(run)
    return lambda *args: compiled_run([v.value for v in variables], *args)


def greedy_with_keras_hub_sampler(model, source, max_length):
    """keras-hub's `GreedySampler` over `model.build_cache` / `model.call_with_cache`."""
    batch = ops.shape(source)[0]
    cache = model.build_cache(source, max_length)
    prompt = ops.concatenate([ops.full((batch, 1), START_ID, "int32"),
                              ops.zeros((batch, max_length - 1), "int32")], axis=1)

    def next_fn(tokens, cache, index):
        if not isinstance(model, HubTranslator):  # ours reads the buffer at index - 1 itself
            return model.call_with_cache(tokens, cache, index)
        previous = ops.slice(tokens, [0, index - 1], [batch, 1])  # keras-hub's convention
        return model.call_with_cache(previous, cache, index - 1)

    return keras_hub.samplers.GreedySampler()(next_fn, prompt, cache=cache, index=1,
                                               model=model)


def translation_decoding(s, policy):
    keras.config.set_dtype_policy(policy)
    try:
        v, d, h, f = s["vocabulary_size"], s["width"], s["heads"], s["ffn"]
        n1, n2 = s["decode_tokens"]
        keras.utils.set_random_seed(0)
        ours = TransformerEncoderDecoder(v, v, s["source_length"], n2 + 1, embedding_dim=d,
                                         num_heads=h, intermediate_dim=f, num_layers=1,
                                         dropout=0.0)
        ours.build()
        hub = HubTranslator(v, max(s["source_length"], n2 + 1), d, h, f, dropout=0.0)
        rng = np.random.default_rng(1)
        hub({"source": np.ones((1, 2), "int32"), "target_in": np.ones((1, 2), "int32")})
        rows = []
        for batch in s["decode_batches"]:
            source = jax.device_put(
                rng.integers(4, v, (batch, s["source_length"])).astype("int32"))
            fns = {}
            for n in (n1, n2):
                length = n + 1
                fns[("ours, default", n)] = jit_with_variables(
                    ours, lambda src, length=length: ours.generate_step(
                        src, ops.zeros((src.shape[0], length), "int32"), end_id=None))
                fns[("ours, keras-hub loop", n)] = jit_with_variables(
                    ours, lambda src, length=length: greedy_with_keras_hub_sampler(
                        ours, src, length))
                fns[("keras-hub", n)] = jit_with_variables(
                    hub, lambda src, length=length: greedy_with_keras_hub_sampler(
                        hub, src, length))
                a = np.asarray(fns[("ours, default", n)](source))
                b = np.asarray(fns[("ours, keras-hub loop", n)](source))
                if not np.array_equal(a, b):  # same model, same greedy choice
                    raise AssertionError(f"our two decode loops disagree at batch {batch}")
            times = interleaved({k: (lambda fn=fn, src=source: fn(src)) for k, fn in fns.items()},
                                s["steps"], s["rounds"])
            for variant in ("ours, default", "ours, keras-hub loop", "keras-hub"):
                t1, t2 = times[(variant, n1)], times[(variant, n2)]
                rows.append(dict(comparison="translator cached greedy decoding",
                                 precision=policy, variant=variant, batch=batch,
                                 ms_per_sentence={n1: 1e3 * t1 / batch, n2: 1e3 * t2 / batch},
                                 median_ms=1e3 * t2 / n2,
                                 marginal_ms_per_token=1e3 * (t2 - t1) / (n2 - n1),
                                 shape=f"batch {batch}, source length {s['source_length']}, "
                                       f"{n1} and {n2} new tokens, width {d}, {h} heads, "
                                       f"FFN {f}, 1+1 blocks, vocabulary {v}"))
        return rows
    finally:
        keras.config.set_dtype_policy("float32")


# ---------------------------------------------------------------------------- IMDB


def imdb_batch(s, seed=0):
    rng = np.random.default_rng(seed)
    b, t = s["imdb_batch"], s["imdb_length"]
    x = np.zeros((b, t), "int32")
    for row, n in zip(x, rng.integers(t // 4, t + 1, b)):
        row[:n] = rng.integers(2, s["imdb_vocabulary_size"], n)
    return x, rng.integers(0, 2, (b, 1)).astype("float32")


def plain_bilstm(s, dropout=0.5):
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(s["imdb_vocabulary_size"], s["imdb_embedding"],
                               mask_zero=True)(ids)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(s["imdb_units"],
                                                     return_sequences=True))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)  # masked mean of [h_fwd; h_bwd]
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(ids, keras.layers.Dense(1, dtype="float32")(x))


def imdb_training(s, policy):
    keras.config.set_dtype_policy(policy)
    try:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        common = dict(vocabulary_size=s["imdb_vocabulary_size"], embedding_dim=s["imdb_embedding"],
                      rnn="lstm", hidden_dim=s["imdb_units"], num_stacked=0, dropout=0.5,
                      logits=True)
        keras.utils.set_random_seed(0)
        models = {
            "ours": (build_sentiment_classifier(**common, pooling="mean", word_dropout=0.0,
                                                dropout_class=keras.layers.Dropout), None),
            "plain Keras": (plain_bilstm(s), None),
            "ours, app defaults": (build_sentiment_classifier(
                **common, pooling="mean_max", word_dropout=0.2, dropout_class=HashDropout),
                1.0),
        }
        x, y = imdb_batch(s)
        fns = {}
        for name, (model, clipnorm) in models.items():
            fns[name] = train_step_fn(model, loss, keras.optimizers.Adam(1e-3, clipnorm=clipnorm),
                                      x, y)
        times = interleaved(fns, s["steps"], s["rounds"])
        return [dict(comparison="IMDB classifier train step", precision=policy, variant=name,
                     parameters=int(models[name][0].count_params()), median_ms=1e3 * sec,
                     shape=f"batch {s['imdb_batch']}, length {s['imdb_length']} (random real "
                           f"lengths), vocabulary {s['imdb_vocabulary_size']}, embedding "
                           f"{s['imdb_embedding']}, BiLSTM {s['imdb_units']}")
                for name, sec in times.items()]
    finally:
        keras.config.set_dtype_policy("float32")


# ---------------------------------------------------------------------------- report

BASELINES = {"translator train step": ("keras-hub", "plain Keras"),
             "translator cached greedy decoding": ("keras-hub",),
             "IMDB classifier train step": ("plain Keras",)}


def add_ratios(rows):
    """`ratio_vs_<baseline>` = baseline time / this row's time, within one comparison."""
    def key(r):
        return r["comparison"], r["precision"], r.get("batch")

    for r in rows:
        for base in BASELINES[r["comparison"]]:
            match = [b for b in rows if key(b) == key(r) and b["variant"] == base]
            if match and r["variant"] != base:
                r[f"ratio_vs_{base}"] = match[0]["median_ms"] / r["median_ms"]
    return rows


def print_table(rows):
    print("| comparison | precision | batch | variant | median ms (per step / per token) "
          "| vs keras-hub | vs plain Keras |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratios = [f"{r[k]:.2f}x" if k in r else "-"
                  for k in ("ratio_vs_keras-hub", "ratio_vs_plain Keras")]
        print(f"| {r['comparison']} | {r['precision']} | {r.get('batch', '')} | "
              f"{r['variant']} | {r['median_ms']:.3f} | {ratios[0]} | {ratios[1]} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a CPU smoke run")
    p.add_argument("--size", choices=["full", "large"], default="full",
                   help="full: the CPU benchmarks' sizes (default); large: 4x batch, 3x "
                        "length, 2x width for training (see SIZES)")
    p.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"],
                   choices=["float32", "mixed_bfloat16"])
    p.add_argument("--parts", nargs="+", default=["train", "decode", "imdb"],
                   choices=["train", "decode", "imdb"])
    p.add_argument("--steps", type=int, default=None, help="timed calls per variant per round")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    p.add_argument("--out", default=None,
                   help="JSON file (default benchmarks/out/gpu_jax.json, _quick with --quick)")
    args = p.parse_args(argv)
    for name in ("steps", "rounds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name} must be >= 1, got {value}")
    sizes = dict(SIZES["quick" if args.quick else args.size])
    sizes.update({k: getattr(args, k) for k in ("steps", "rounds") if getattr(args, k)})
    parts = {"train": translation_training, "decode": translation_decoding,
             "imdb": imdb_training}
    started, rows = time.time(), []
    for part in args.parts:
        for policy in args.precisions:
            rows += parts[part](sizes, policy)
            print(f"[{time.time() - started:6.1f} s] {part} {policy} done", flush=True)
    add_ratios(rows)
    print_table(rows)
    loaded = tensorflow_modules()
    assert not loaded, f"TensorFlow was imported: {loaded[:5]}"
    devices = jax.devices()
    result = dict(
        script="benchmarks/bench_gpu_jax.py", argv=sys.argv[1:], sizes=sizes, rows=rows,
        seconds=time.time() - started, tensorflow_imported=False,
        machine=dict(python=platform.python_version(), jax=jax.__version__,
                     keras=keras.__version__, keras_hub=keras_hub.__version__,
                     backend=keras.backend.backend(), devices=[str(d) for d in devices],
                     platform=devices[0].platform, cpus=os.cpu_count(),
                     date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    out = pathlib.Path(args.out or f"benchmarks/out/gpu_jax{'_quick' if args.quick else ''}"
                                   ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"no TensorFlow module loaded; wrote {out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
