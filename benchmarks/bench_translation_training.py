"""Training speed: our transformer translator vs keras_hub TransformerEncoder/Decoder.

Same configuration for both (vocab 15k, width 256, 8 heads, FFN 2048, 1 encoder + 1 decoder
block, batch 64, source/target length 40), same batches in the same order, same optimizer.
Rounds alternate between the models in one process (A, B, A, B, ...); each step is timed by
a callback (not epoch wall time: tf.data autotune makes those snap to 10·(2^k−1) ms).
Reports target tokens/s (non-padding target tokens per second of training steps) and the
final training loss of each after the same number of steps.

Variants: keras_hub fp32 with and without XLA (its CPU-best setting is reported as the
reference), ours fp32 and ours mixed_bfloat16 (oneDNN bf16 matmuls), without XLA on CPU, and
ours bf16 with length bucketing: the same training pairs grouped into batches of similar
length and padded only to the longest in the batch (≤ 40), so fewer padded positions go through
the 15k-way output layer. Bucketing changes which pairs share a batch, so "equal loss" is
checked on the same fixed validation batches (padded to 40) for every variant.

    python benchmarks/bench_translation_training.py [--steps-per-round 20] [--rounds 4]
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.models import TransformerEncoderDecoder  # noqa: E402

VOCAB, WIDTH, HEADS, FFN, LENGTH, BATCH = 15000, 256, 8, 2048, 40, 64


def keras_hub_translator():
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target_in")
    x = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, WIDTH, mask_zero=True)(source)
    encoded = keras_hub.layers.TransformerEncoder(FFN, HEADS, dropout=0.1)(x)
    y = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, LENGTH, WIDTH, mask_zero=True)(target)
    y = keras_hub.layers.TransformerDecoder(FFN, HEADS, dropout=0.1)(y, encoded)
    logits = keras.layers.Dense(VOCAB)(y)
    return keras.Model({"source": source, "target_in": target}, logits)


def ours_translator():
    return TransformerEncoderDecoder(VOCAB, VOCAB, LENGTH, LENGTH, embedding_dim=WIDTH,
                                     num_heads=HEADS, intermediate_dim=FFN, num_layers=1,
                                     dropout=0.1)


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


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times, self.losses = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._t)
        self.losses.append(float(logs["loss"]))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps-per-round", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--json", default="benchmarks/out/translation_training.json")
    args = p.parse_args()

    total = args.steps_per_round * args.rounds
    x, y, w, data_name = batches(total + 1 + 8)
    val = ({k: v[-8 * BATCH:] for k, v in x.items()}, y[-8 * BATCH:], w[-8 * BATCH:])
    x, y, w = {k: v[: -8 * BATCH] for k, v in x.items()}, y[: -8 * BATCH], w[: -8 * BATCH]
    buckets = bucketed({k: v[BATCH:] for k, v in x.items()}, y[BATCH:], w[BATCH:])
    # Real (non-padding) target tokens of each training step, per variant, in order.
    fixed_tokens = [float(w[(i + 1) * BATCH:(i + 2) * BATCH].sum()) for i in range(total)]
    bucket_tokens = [float(b[2].sum()) for b in buckets[:total]]
    variants = {
        "keras_hub fp32": ("float32", False, keras_hub_translator),
        "keras_hub fp32 XLA": ("float32", True, keras_hub_translator),
        "ours fp32": ("float32", False, ours_translator),
        "ours bf16": ("mixed_bfloat16", False, ours_translator),
        "ours bf16 + length buckets": ("mixed_bfloat16", False, ours_translator),
    }
    models, timers = {}, {}
    for name, (policy, jit, factory) in variants.items():
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(0)
        model = factory()
        model.compile(optimizer=keras.optimizers.Adam(1e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        warm = {k: v[:BATCH] for k, v in x.items()}
        model.fit(warm, y[:BATCH], sample_weight=w[:BATCH], batch_size=BATCH, verbose=0)
        models[name], timers[name] = model, StepTimer()
    keras.config.set_dtype_policy("float32")
    for r in range(args.rounds):
        lo, hi = ((r * args.steps_per_round + 1) * BATCH,
                  ((r + 1) * args.steps_per_round + 1) * BATCH)
        chunk = ({k: v[lo:hi] for k, v in x.items()}, y[lo:hi], w[lo:hi])
        for name, model in models.items():
            if name.endswith("length buckets"):
                for bx, by, bw in buckets[r * args.steps_per_round:(r + 1) * args.steps_per_round]:
                    model.fit(bx, by, sample_weight=bw, batch_size=BATCH, epochs=1,
                              shuffle=False, verbose=0, callbacks=[timers[name]])
                continue
            model.fit(chunk[0], chunk[1], sample_weight=chunk[2], batch_size=BATCH, epochs=1,
                      shuffle=False, verbose=0, callbacks=[timers[name]])
    rows = []
    warm = args.steps_per_round  # the first round includes tracing: left out of the rate
    for name, timer in timers.items():
        tokens = bucket_tokens if name.endswith("length buckets") else fixed_tokens
        step = statistics.median(timer.times)
        rows.append(dict(variant=name, median_step_ms=1e3 * step,
                         target_tokens_per_s=sum(tokens[warm:]) / sum(timer.times[warm:]),
                         final_loss=statistics.mean(timer.losses[-args.steps_per_round:]),
                         validation_loss=float(models[name].evaluate(
                             val[0], val[1], sample_weight=val[2], batch_size=BATCH, verbose=0))))
    reference = max((r for r in rows if r["variant"].startswith("keras_hub")),
                    key=lambda r: r["target_tokens_per_s"])
    print(f"data: {data_name}; {total} steps of batch {BATCH}, length {LENGTH}")
    print("| variant | median step (ms) | target tokens/s | ratio vs best keras_hub | "
          "mean train loss, last round | validation loss |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        r["ratio_vs_best_keras_hub"] = r["target_tokens_per_s"] / reference["target_tokens_per_s"]
        print(f"| {r['variant']} | {r['median_step_ms']:.0f} | {r['target_tokens_per_s']:.0f} | "
              f"{r['ratio_vs_best_keras_hub']:.2f}x | {r['final_loss']:.3f} | "
              f"{r['validation_loss']:.3f} |")
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(data=data_name, rows=rows, machine=platform.machine(),
                                   tensorflow=tf.__version__, keras=keras.__version__), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
