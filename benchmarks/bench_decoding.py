"""Decoding speed: our cached, compiled decoder vs the tutorial loop and an uncached compiled loop.

Transformer translator (vocab 15k, width 256, 8 heads, FFN 2048, 1 encoder + 1 decoder block,
source length 20; untrained weights: speed does not depend on them) generating exactly N new
tokens (no early stop), batch 1 and 32:

  (a) tutorial: call the model on the growing prefix for every new token, eagerly (keras.io);
  (b) uncached compiled: keras_hub GreedySampler under XLA, `next` re-runs the decoder on the
      whole fixed-size buffer at every step (no KV cache);
  (c) ours: `model.generate_step` (what `model.generate` runs) — KV cache, one
      `ops.while_loop`, compiled by XLA;
  (d) ours in a plain `tf.function` graph (no XLA): XLA's CPU matrix-vector products
      measured slower than oneDNN's for this size, so both are timed.

Prints ms per sentence and per token, and the speed-ups; writes JSON.

    python benchmarks/bench_decoding.py [--tokens 10 40 160] [--batches 1 32]
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


def timed(fn, repeats):
    fn()  # warm up / compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        np.asarray(out)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tokens", type=int, nargs="+", default=[10, 40, 160])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-tutorial-above", type=int, default=40,
                   help="the eager tutorial loop is only timed up to this many tokens")
    p.add_argument("--json", default="benchmarks/out/decoding.json")
    p.add_argument("--bf16", action="store_true",
                   help="also time ours with a bfloat16 copy of the weights (graph, no XLA): "
                        "half the bytes read per token; tokens may differ from float32")
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    max_tokens = max(args.tokens)

    def make_model():
        return TransformerEncoderDecoder(15000, 15000, 20, max_tokens + 1, embedding_dim=256,
                                         num_heads=8, intermediate_dim=2048, num_layers=1,
                                         dropout=0.0)

    model = make_model()
    model.build()
    model16 = None
    if args.bf16:  # the same weights, stored and computed in bfloat16
        keras.config.set_dtype_policy("bfloat16")
        model16 = make_model()
        model16.build()
        keras.config.set_dtype_policy("float32")
        model16.set_weights(model.get_weights())
    rows = []
    for batch in args.batches:
        source = tf.constant(np.random.default_rng(0).integers(4, 15000, (batch, 20)), tf.int32)
        for n in args.tokens:
            length = n + 1

            buffer = tf.zeros([batch, length], tf.int32)

            # `generate_step`: the traceable decode that `model.generate` runs compiled.
            @tf.function(jit_compile=True)
            def ours(src):
                return model.generate_step(src, buffer, end_id=None)

            @tf.function(jit_compile=False)
            def ours_graph(src):
                return model.generate_step(src, buffer, end_id=None)

            def uncached_next(tokens, cache, index):
                logits = model({"source": source, "target_in": tokens}, training=False)
                return tf.gather(logits, index - 1, axis=1), None, cache

            sampler = keras_hub.samplers.GreedySampler()

            @tf.function(jit_compile=True)
            def uncached(src):
                prompt = tf.concat([tf.fill([batch, 1], 2), tf.zeros([batch, n], tf.int32)], 1)
                return sampler(uncached_next, prompt, index=1, model=model)

            def tutorial():
                tokens = np.full((batch, 1), 2, "int32")
                for _ in range(n):
                    logits = model({"source": source, "target_in": tokens}, training=False)
                    nxt = np.argmax(np.asarray(logits[:, -1]), -1).astype("int32")
                    tokens = np.concatenate([tokens, nxt[:, None]], 1)
                return tokens

            # All three agree on the tokens (greedy, same weights).
            a = np.asarray(ours(source))
            b = np.asarray(uncached(source))
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, np.asarray(ours_graph(source)))
            row = dict(batch=batch, new_tokens=n)
            row["ours_xla_s"] = timed(lambda: ours(source), args.repeats)
            row["ours_graph_s"] = timed(lambda: ours_graph(source), args.repeats)
            row["ours_s"] = min(row["ours_xla_s"], row["ours_graph_s"])
            row["ours_best"] = "xla" if row["ours_xla_s"] <= row["ours_graph_s"] else "graph"
            if model16 is not None:
                @tf.function(jit_compile=False)
                def ours_bf16(src):
                    return model16.generate_step(src, buffer, end_id=None)

                row["bf16_token_agreement"] = float(np.mean(np.asarray(ours_bf16(source)) == a))
                row["ours_bf16_graph_s"] = timed(lambda: ours_bf16(source), args.repeats)
                if row["ours_bf16_graph_s"] < row["ours_s"]:
                    row["ours_s"], row["ours_best"] = row["ours_bf16_graph_s"], "bf16 graph"
            row["uncached_xla_s"] = timed(lambda: uncached(source), args.repeats)
            if n <= args.skip_tutorial_above:
                np.testing.assert_array_equal(a, tutorial())
                row["tutorial_s"] = timed(tutorial, max(1, args.repeats - 1))
            rows.append(row)
            per = lambda s: 1e3 * s / batch  # ms per sentence  # noqa: E731
            bf16 = (f" / bf16 graph {per(row['ours_bf16_graph_s']):8.2f} (tokens agree "
                    f"{row['bf16_token_agreement']:.2f})"
                    if "ours_bf16_graph_s" in row else "")
            line = (f"batch={batch:3d} tokens={n:4d}  "
                    f"ours xla {per(row['ours_xla_s']):8.2f} / graph "
                    f"{per(row['ours_graph_s']):8.2f}{bf16} ms/sent; "
                    f"best {per(row['ours_s']):8.2f} ms/sent "
                    f"({1e3 * row['ours_s'] / n:6.2f} ms/token)  uncached-XLA "
                    f"{per(row['uncached_xla_s']):8.2f} ms/sent  "
                    f"x{row['uncached_xla_s'] / row['ours_s']:.1f}")
            if "tutorial_s" in row:
                line += (f"  tutorial {per(row['tutorial_s']):9.2f} ms/sent  "
                         f"x{row['tutorial_s'] / row['ours_s']:.1f}")
            print(line, flush=True)

    print("\n| batch | new tokens | ours XLA ms/sentence | ours graph ms/sentence "
          "| ours bf16 graph ms/sentence | ours best ms per step (whole batch) "
          "| uncached XLA ms/sentence | speed-up vs uncached | tutorial ms/sentence | "
          "speed-up vs tutorial |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["batch"]
        bf16_cell = (f"{1e3 * r['ours_bf16_graph_s'] / b:.2f}" if "ours_bf16_graph_s" in r
                     else "-")
        tut = (f"{1e3 * r['tutorial_s'] / b:.1f} | {r['tutorial_s'] / r['ours_s']:.0f}x"
               if "tutorial_s" in r else "not run | -")
        print(f"| {b} | {r['new_tokens']} | {1e3 * r['ours_xla_s'] / b:.2f} | "
              f"{1e3 * r['ours_graph_s'] / b:.2f} | "
              f"{bf16_cell} | "
              f"{1e3 * r['ours_s'] / r['new_tokens']:.2f} | {1e3 * r['uncached_xla_s'] / b:.2f} | "
              f"{r['uncached_xla_s'] / r['ours_s']:.1f}x | {tut} |")
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(meta=dict(tensorflow=tf.__version__, keras=keras.__version__,
                                             machine=platform.machine(), cpus=os.cpu_count()),
                                   rows=rows), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
