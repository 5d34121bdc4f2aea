"""Training speed: our transformer translator vs keras_hub TransformerEncoder/Decoder.

Same configuration for both (vocab 15k, width 256, 8 heads, FFN 2048, 1 encoder + 1 decoder
block, batch 64, source/target length 40), same batches in the same order, same optimizer
(Adam(1e-4)), same initial seed. All models train in one process with `train_on_batch`,
interleaved round by round (`bench_common.interleaved_median`: the order rotates each round,
each step timed on its own and blocked on; 2 untimed warm-up steps per model; not epoch wall
time: tf.data autotune makes those snap to 10·(2^k−1) ms).

Rows (rule 3 of benchmarks/RESULTS.md):
- LIKE-FOR-LIKE first, one per `--precision` and `--xla` setting: ours and keras_hub on the
  same fixed batches (every pair padded to 40), the same precision and the same XLA setting
  on both sides; figure = median seconds per train step;
- "our defaults" (as reported before): ours mixed_bfloat16 with length buckets (the same
  training pairs grouped into batches of similar length, padded only to the longest in the
  batch), no XLA, against the faster keras_hub float32 variant (XLA on or off, padded to 40);
  figure = seconds per non-padding target token over the timed steps (bucketed batches differ
  in length); the row names each difference.
"Equal loss" is checked on the same fixed validation batches (padded to 40) for every model.

    python benchmarks/bench_translation_training.py [--steps-per-round 20] [--rounds 4]
        [--precision float32|mixed_bfloat16|both] [--xla off|on|both]
    python benchmarks/bench_translation_training.py --quick   # < 1 min check, small model
    python benchmarks/bench_translation_training.py --components [--xla off]

`--components` looks for where a like-for-like gap comes from: each part of the model alone
(the embedding of one side, one encoder block, one decoder block), ours and keras_hub's at the
same sizes, dropout 0, float32, on the same random inputs and padding masks; each timed as a
forward and backward pass (the gradients of the mean output with respect to the part's
weights) in a `tf.function`, interleaved, median per call. Writes
`benchmarks/out/translation_training_components.json`.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_common import interleaved_median, print_speed_rows, speed_row  # noqa: E402
from keras_seq.models import TransformerEncoderDecoder  # noqa: E402

FULL = dict(vocab=15000, width=256, heads=8, ffn=2048, length=40, batch=64)
QUICK = dict(vocab=2000, width=64, heads=4, ffn=256, length=20, batch=16)
VOCAB, WIDTH, HEADS, FFN, LENGTH, BATCH = (FULL[k] for k in ("vocab", "width", "heads", "ffn",
                                                             "length", "batch"))


def configure(sizes):
    """Sets the module's sizes (FULL or QUICK)."""
    global VOCAB, WIDTH, HEADS, FFN, LENGTH, BATCH
    VOCAB, WIDTH, HEADS, FFN, LENGTH, BATCH = (sizes[k] for k in ("vocab", "width", "heads",
                                                                  "ffn", "length", "batch"))


DROPOUT = 0.1  # --dropout: both sides


def keras_hub_translator():
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target_in")
    x = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, WIDTH, mask_zero=True)(source)
    encoded = keras_hub.layers.TransformerEncoder(FFN, HEADS, dropout=DROPOUT)(x)
    y = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, WIDTH, mask_zero=True)(target)
    y = keras_hub.layers.TransformerDecoder(FFN, HEADS, dropout=DROPOUT)(y, encoded)
    logits = keras.layers.Dense(VOCAB)(y)  # the global policy, as our output layer
    return keras.Model({"source": source, "target_in": target}, logits)


def ours_translator():
    return TransformerEncoderDecoder(VOCAB, VOCAB, LENGTH, LENGTH, embedding_dim=WIDTH,
                                     num_heads=HEADS, intermediate_dim=FFN, num_layers=1,
                                     dropout=DROPOUT)


def bucketed(x, y, w, seed=0):
    """Same pairs, batches of similar target length, each trimmed to its longest row."""
    rng = np.random.default_rng(seed)
    n = len(y) // BATCH * BATCH
    lengths = (y[:n] != 0).sum(1) + rng.random(n)  # random tie-break
    order = np.argsort(lengths)
    groups = [order[i:i + BATCH] for i in range(0, n, BATCH)]
    rng.shuffle(groups)
    out = []
    for g in groups:
        s_len = max(1, int((x["source"][g] != 0).sum(1).max()))
        t_len = max(1, int((y[g] != 0).sum(1).max()))
        out.append(({"source": x["source"][g, :s_len], "target_in": x["target_in"][g, :t_len]},
                    y[g, :t_len], w[g, :t_len]))
    return out


def batches(num, seed=0):
    """Real fra-eng pairs when the shared copy is here, else a synthetic reversal task."""
    rng = np.random.default_rng(seed)
    src = np.zeros((num * BATCH, LENGTH), "int32")
    tgt = np.zeros((num * BATCH, LENGTH + 1), "int32")
    path = (pathlib.Path(__file__).resolve().parents[2]
            / "shared/datasets/translation/fra-eng/fra.txt")
    if path.is_file():
        from keras_seq.data.sequence_tokenizer import SequenceTokenizer
        from keras_seq.data.translation_pairs import read_pairs

        pairs = read_pairs(path)
        order = rng.permutation(len(pairs))[: num * BATCH]
        pairs = [pairs[i] for i in order]
        s_tok = SequenceTokenizer.build_from_texts((s for s, _ in pairs), max_tokens=VOCAB)
        t_tok = SequenceTokenizer.build_from_texts((t for _, t in pairs), max_tokens=VOCAB)
        src = s_tok.tokenize([s for s, _ in pairs], LENGTH).numpy()
        tgt = t_tok.tokenize([t for _, t in pairs], LENGTH + 1, add_start_end=True).numpy()
        name = "fra-eng"
    else:
        lengths = rng.integers(5, LENGTH - 2, num * BATCH)
        for i, n in enumerate(lengths):
            src[i, :n] = rng.integers(4, VOCAB, n)
            tgt[i, 0], tgt[i, 1 : n + 1], tgt[i, n + 1] = 2, src[i, :n][::-1], 3
        name = "synthetic reversal"
    x = {"source": src, "target_in": tgt[:, :-1]}
    y = tgt[:, 1:]
    w = (y != 0).astype("float32")
    return x, y, w, name


def components(args):
    """Forward + backward time of each model part, ours vs keras_hub (see the docstring)."""
    from keras_seq.layers import (PositionalEmbedding, TransformerDecoderBlock,
                                  TransformerEncoderBlock)

    tf.get_logger().setLevel("ERROR")  # one tf.function per part: not a retracing problem
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    def padded_ids():
        lengths = rng.integers(5, LENGTH + 1, BATCH)
        ids = rng.integers(4, VOCAB, (BATCH, LENGTH)).astype("int32")
        ids[np.arange(LENGTH)[None, :] >= lengths[:, None]] = 0
        return tf.constant(ids)

    source, target = padded_ids(), padded_ids()
    source_mask, target_mask = source != 0, target != 0
    x = tf.random.normal((BATCH, LENGTH, WIDTH))
    encoded = tf.random.normal((BATCH, LENGTH, WIDTH))
    hub = keras_hub.layers
    parts = {
        "embedding (ours sinusoidal, keras_hub learned positions)": (
            PositionalEmbedding(VOCAB, LENGTH, WIDTH, scale_embeddings=True),
            lambda layer: layer(source),
            hub.TokenAndPositionEmbedding(VOCAB, LENGTH, WIDTH, mask_zero=True),
            lambda layer: layer(source)),
        "encoder block": (
            TransformerEncoderBlock(HEADS, FFN, dropout=0.0),
            lambda layer: layer(x, padding_mask=source_mask),
            hub.TransformerEncoder(FFN, HEADS, dropout=0.0),
            lambda layer: layer(x, padding_mask=source_mask)),
        "decoder block": (
            TransformerDecoderBlock(HEADS, FFN, dropout=0.0),
            lambda layer: layer(x, encoded, decoder_padding_mask=target_mask,
                                encoder_padding_mask=source_mask),
            hub.TransformerDecoder(FFN, HEADS, dropout=0.0),
            lambda layer: layer(x, encoded, decoder_padding_mask=target_mask,
                                encoder_padding_mask=source_mask)),
    }

    def step_fn(layer, call, jit):
        call(layer)  # builds the weights

        @tf.function(jit_compile=jit)
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(call(layer))
            return tape.gradient(loss, layer.trainable_variables)
        return step

    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    fns, names = {}, {}
    for jit in jits:
        for part, (ours, ours_call, theirs, theirs_call) in parts.items():
            tag = f"{part} / XLA {'on' if jit else 'off'}"
            if jit:  # fresh layers: a layer's tf.function variables are traced per setting
                ours, theirs = (type(layer).from_config(layer.get_config())
                                for layer in (ours, theirs))
            fns[f"ours: {tag}"] = step_fn(ours, ours_call, jit)
            fns[f"keras_hub: {tag}"] = step_fn(theirs, theirs_call, jit)
            names[tag] = (f"ours: {tag}", f"keras_hub: {tag}")
    timed = interleaved_median(fns, calls=args.steps_per_round, rounds=args.rounds, warmup=2)
    embedding_differences = ["positions: ours sinusoidal (fixed) and embeddings scaled by "
                             "sqrt(width), keras_hub learned positions (as in the models)"]
    rows = [speed_row(f"{tag}, float32, dropout 0, batch {BATCH}, length {LENGTH}",
                      timed[a]["median_s"], timed[b]["median_s"],
                      not tag.startswith("embedding"),
                      embedding_differences if tag.startswith("embedding") else (),
                      unit="median seconds per forward + backward pass")
            for tag, (a, b) in names.items()]
    print(f"\nparts alone: batch {BATCH}, length {LENGTH}, width {WIDTH}, {HEADS} heads, "
          f"FFN {FFN}, vocab {VOCAB}; {args.rounds} interleaved rounds of "
          f"{args.steps_per_round} calls")
    print_speed_rows(rows, unit="ms/pass")
    out = pathlib.Path(args.json).with_name("translation_training_components.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        rows=rows, timed={k: {"median_s": v["median_s"], "calls": v["calls"]}
                          for k, v in timed.items()},
        sizes=dict(vocab=VOCAB, width=WIDTH, heads=HEADS, ffn=FFN, length=LENGTH, batch=BATCH),
        command="python benchmarks/bench_translation_training.py " + " ".join(sys.argv[1:]),
        tensorflow=tf.__version__, keras=keras.__version__), indent=2))
    print(f"wrote {out}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps-per-round", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16",
                                                              "both"),
                   help="the precision of BOTH sides in the like-for-like rows")
    p.add_argument("--xla", default="both", choices=("off", "on", "both"),
                   help="the XLA setting of BOTH sides in the like-for-like rows")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="the dropout rate of both sides. The same rate drops more in ours: "
                        "also the embeddings and the FFN's hidden units (keras_hub: only the "
                        "sub-layer outputs and attention weights); 0 makes the work the same")
    p.add_argument("--quick", action="store_true",
                   help="a < 1 min check: vocab 2k, width 64, FFN 256, length 20, batch 16, "
                        "2 rounds of 3 steps, no validation loss (not for the record)")
    p.add_argument("--json", default="benchmarks/out/translation_training.json")
    p.add_argument("--components", action="store_true",
                   help="time each part of the model alone, ours vs keras_hub (see above)")
    args = p.parse_args()
    global DROPOUT
    DROPOUT = args.dropout
    if args.quick:
        configure(QUICK)
        args.steps_per_round, args.rounds = 3, 2
    if args.components:
        return components(args)
    warmup = 2
    total = args.steps_per_round * args.rounds + warmup
    x, y, w, data_name = batches(total + 8)
    val = ({k: v[-8 * BATCH:] for k, v in x.items()}, y[-8 * BATCH:], w[-8 * BATCH:])
    x, y, w = {k: v[: -8 * BATCH] for k, v in x.items()}, y[: -8 * BATCH], w[: -8 * BATCH]
    fixed = [({k: v[i * BATCH:(i + 1) * BATCH] for k, v in x.items()},
              y[i * BATCH:(i + 1) * BATCH], w[i * BATCH:(i + 1) * BATCH]) for i in range(total)]
    buckets = bucketed(x, y, w)

    precisions = {"both": ("float32", "mixed_bfloat16")}.get(args.precision, (args.precision,))
    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    variants = {}  # name -> (policy, jit, factory, batches)
    for policy in precisions:
        for jit in jits:
            tag = f"{policy}/{'xla' if jit else 'no-xla'}"
            variants[f"keras_hub/{tag}"] = (policy, jit, keras_hub_translator, fixed)
            variants[f"ours/{tag}"] = (policy, jit, ours_translator, fixed)
    for jit in (False, True):  # the defaults row's baseline: the faster keras_hub fp32
        variants.setdefault(f"keras_hub/float32/{'xla' if jit else 'no-xla'}",
                            ("float32", jit, keras_hub_translator, fixed))
    variants["ours-defaults/mixed_bfloat16/no-xla/buckets"] = (
        "mixed_bfloat16", False, ours_translator, buckets)
    models, fns, record = {}, {}, {}
    for name, (policy, jit, factory, data) in variants.items():
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(0)
        model = factory()
        keras.config.set_dtype_policy("float32")
        model.compile(optimizer=keras.optimizers.Adam(1e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        models[name] = model
        record[name] = {"tokens": [], "losses": []}

        def step(model=model, data=data, rec=record[name]):
            bx, by, bw = data[len(rec["losses"]) % len(data)]
            rec["tokens"].append(float(bw.sum()))
            rec["losses"].append(float(model.train_on_batch(bx, by, sample_weight=bw)))
            return None
        fns[name] = step
    timed = interleaved_median(fns, calls=args.steps_per_round, rounds=args.rounds,
                               warmup=warmup)
    models_out = {}
    for name, t in timed.items():
        tokens = record[name]["tokens"][warmup:]
        losses = record[name]["losses"]
        models_out[name] = dict(
            median_step_ms=1e3 * t["median_s"], steps=t["calls"],
            target_tokens_per_s=sum(tokens) / sum(t["times_s"]),
            seconds_per_target_token=sum(t["times_s"]) / sum(tokens),
            final_loss=statistics.mean(losses[-args.steps_per_round:]),
            validation_loss=None if args.quick else float(models[name].evaluate(
                val[0], val[1], sample_weight=val[2], batch_size=BATCH, verbose=0)),
            parameters=int(models[name].count_params()))
    rows = []
    for policy in precisions:
        for jit in jits:
            tag = f"{policy}/{'xla' if jit else 'no-xla'}"
            # The same rate drops more units in ours (see --dropout): like-for-like at 0 only.
            extra = [] if DROPOUT == 0 else [
                f"dropout {DROPOUT}: ours also drops the embeddings and the FFN's hidden units"]
            rows.append(speed_row(
                f"{'same shapes' if extra else 'like-for-like'}: {policy} both, XLA "
                f"{'on' if jit else 'off'} both, padded to {LENGTH}, dropout {DROPOUT}",
                timed[f"ours/{tag}"]["median_s"], timed[f"keras_hub/{tag}"]["median_s"],
                not extra, extra, unit="median seconds per train step",
                ours_model=f"ours/{tag}", baseline_model=f"keras_hub/{tag}"))
    reference = min(("keras_hub/float32/no-xla", "keras_hub/float32/xla"),
                    key=lambda k: models_out[k]["seconds_per_target_token"])
    ours_name = "ours-defaults/mixed_bfloat16/no-xla/buckets"
    differences = ["mixed_bfloat16 (baseline float32)",
                   f"length buckets, each batch padded to its longest pair (baseline: every "
                   f"pair padded to {LENGTH})"]
    if reference.endswith("/xla"):
        differences.append("XLA off (baseline XLA on: the faster keras_hub variant)")
    else:
        differences.append("baseline: the faster keras_hub variant (XLA off, as ours)")
    rows.append(speed_row(
        "our defaults (as reported before)", models_out[ours_name]["seconds_per_target_token"],
        models_out[reference]["seconds_per_target_token"], False, differences,
        unit="seconds per non-padding target token", ours_model=ours_name,
        baseline_model=reference))
    print(f"\ndata: {data_name}; {args.rounds} interleaved rounds of {args.steps_per_round} "
          f"steps per model, batch {BATCH}, length {LENGTH}, vocab {VOCAB}, width {WIDTH}")
    print("| model | median step (ms) | target tokens/s | mean train loss, last round | "
          "validation loss |")
    print("|---|---|---|---|---|")
    for name, r in models_out.items():
        val_loss = "not run (--quick)" if args.quick else f"{r['validation_loss']:.3f}"
        print(f"| {name} | {r['median_step_ms']:.0f} | {r['target_tokens_per_s']:.0f} | "
              f"{r['final_loss']:.3f} | {val_loss} |")
    print()
    print_speed_rows([r for r in rows if r["like_for_like"]], unit="ms/step")
    print()
    print_speed_rows([r for r in rows if not r["like_for_like"]], unit="us/token", scale=1e6)
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        data=data_name, rows=rows, models=models_out, precision=args.precision, xla=args.xla,
        rounds=args.rounds, steps_per_round=args.steps_per_round, warmup_steps=warmup,
        sizes=dict(vocab=VOCAB, width=WIDTH, heads=HEADS, ffn=FFN, length=LENGTH, batch=BATCH),
        command="python benchmarks/bench_translation_training.py " + " ".join(sys.argv[1:]),
        machine=platform.machine(), tensorflow=tf.__version__, keras=keras.__version__),
        indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
