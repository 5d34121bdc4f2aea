"""Micro-benchmark: keras_seq MultiHeadAttention vs keras.layers.MultiHeadAttention.

Forward + backward (gradients w.r.t. inputs and all weights) of self-attention with the
same projection weights, B=8, 8 heads of 64 (model width 512), T=128 and T=512, with and
without XLA. A and B are timed interleaved in one process (rounds alternate), and the
median step time of each is reported with the ratio keras / ours (> 1 = ours faster).

    python benchmarks/bench_mha.py [--steps 20] [--rounds 5] [--json benchmarks/out/mha.json]
    python benchmarks/bench_mha.py --hlo-summary   # what XLA compiles for each side, no timing

`--hlo-summary` counts the instructions of each side's optimized XLA program (one
forward + backward step, XLA on): matrix products with their shapes, fusions, all.
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
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.layers import MultiHeadAttention  # noqa: E402


def make_step(layer, jit, causal):
    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, x, use_causal_mask=causal)
            loss = tf.reduce_sum(tf.square(y))
        grads = tape.gradient(loss, [x] + layer.trainable_variables)
        return loss, grads

    return step


def hlo_summary(step, x):
    """Instruction counts of the optimized XLA program of `step(x)` (its ENTRY computation)."""
    import collections
    import re

    hlo = step.experimental_get_compiler_ir(x)(stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY"):]
    counts = collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", entry))
    dots = sorted(re.findall(r"= (\S+) dot\(", entry))
    return {"instructions": sum(counts.values()), "fusions": counts["fusion"],
            "dots": len(dots), "dot_shapes": dots}


def time_steps(step, x, steps):
    out = step(x)
    [g.numpy() for g in out[1][:1]]
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step(x)
    out[0].numpy()
    return (time.perf_counter() - t0) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--causal", action="store_true", help="use a causal mask")
    p.add_argument("--json", default="benchmarks/out/mha.json")
    p.add_argument("--hlo-summary", action="store_true",
                   help="print the optimized XLA programs' instruction counts; no timing")
    args = p.parse_args()

    width = args.heads * args.head_dim
    rows = []
    for T in args.lengths:
        x = tf.constant(np.random.default_rng(0).normal(size=(args.batch, T, width)), tf.float32)
        ref = keras.layers.MultiHeadAttention(args.heads, args.head_dim)
        ours = MultiHeadAttention(args.heads, args.head_dim)
        ref(x, x)
        ours(x, x)
        ours.set_weights(ref.get_weights())
        np.testing.assert_allclose(
            ours(x, x, use_causal_mask=args.causal).numpy(),
            ref(x, x, use_causal_mask=args.causal).numpy(), atol=1e-4,
        )
        if args.hlo_summary:
            keras_hlo = hlo_summary(make_step(ref, True, args.causal), x)
            ours_hlo = hlo_summary(make_step(ours, True, args.causal), x)
            rows.append(dict(T=T, causal=args.causal, keras=keras_hlo, ours=ours_hlo))
            print(f"T={T:4d} XLA program: keras {keras_hlo['instructions']} instructions "
                  f"({keras_hlo['fusions']} fusions, {keras_hlo['dots']} dots); ours "
                  f"{ours_hlo['instructions']} ({ours_hlo['fusions']} fusions, "
                  f"{ours_hlo['dots']} dots); same dot shapes: "
                  f"{keras_hlo['dot_shapes'] == ours_hlo['dot_shapes']}", flush=True)
            continue
        for jit in (False, True):
            steps = {
                "keras": make_step(ref, jit, args.causal),
                "ours": make_step(ours, jit, args.causal),
            }
            times = {k: [] for k in steps}
            for _ in range(args.rounds):  # interleaved A/B
                for name, fn in steps.items():
                    times[name].append(time_steps(fn, x, args.steps))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append(
                dict(
                    T=T, xla=jit, causal=args.causal,
                    keras_ms=1e3 * med["keras"], ours_ms=1e3 * med["ours"],
                    ratio=med["keras"] / med["ours"],
                )
            )
            r = rows[-1]
            print(
                f"T={T:4d} xla={str(jit):5s} keras={r['keras_ms']:8.2f} ms  "
                f"ours={r['ours_ms']:8.2f} ms  ratio keras/ours={r['ratio']:.2f}x",
                flush=True,
            )
    meta = dict(
        batch=args.batch, heads=args.heads, head_dim=args.head_dim,
        tensorflow=tf.__version__, keras=keras.__version__,
        cpu_count=os.cpu_count(), machine=platform.machine(),
    )
    if not args.hlo_summary:
        print("\n| T | XLA | keras MHA (ms) | keras_seq MHA (ms) | ratio |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['T']} | {'on' if r['xla'] else 'off'} | {r['keras_ms']:.1f} | "
                  f"{r['ours_ms']:.1f} | {r['ratio']:.2f}x |")
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(meta=meta, rows=rows), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
