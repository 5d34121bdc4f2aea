"""Where a batch-1 transformer decoding step spends its time, with and without hoisted kernels.

Each line times a compiled (XLA) `tf.while_loop` of N steps of one piece of the translator's
decoder step (vocab 15k, width 256, 8 heads, FFN 2048, 1 decoder block, batch 1, untrained
weights) and prints microseconds per step, with the attention kernels used as 3-D variables
(reshaped inside the loop) or hoisted (`hoisted_projection_kernels`: 2-D tensors made once,
before the loop). Writes JSON.

    python benchmarks/bench_decode_step.py [--steps 40] [--repeats 20]
"""

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.layers.multi_head_attention import hoisted_projection_kernels  # noqa: E402
from keras_seq.models import TransformerEncoderDecoder  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default="benchmarks/out/decode_step.json")
    args = p.parse_args()
    n = args.steps
    keras.utils.set_random_seed(0)
    model = TransformerEncoderDecoder(15000, 15000, 20, n + 1, embedding_dim=256, num_heads=8,
                                      intermediate_dim=2048, num_layers=1, dropout=0.0)
    model.build()
    block, mha = model.decoder_blocks[0], model.decoder_blocks[0].self_attention
    source = tf.constant(np.random.default_rng(0).integers(4, 15000, (1, 20)), tf.int32)
    y0 = tf.random.normal([1, 1, 256])

    def self_attention(i, y, sc, cc, m):
        return mha(y, y, cache=sc, cache_update_index=i, use_causal_mask=True)

    def q_projection(i, y, sc, cc, m):
        return keras.ops.reshape(mha._project(y, "q"), (1, 1, 256)), sc

    def block_only(i, y, sc, cc, m):
        out, sc, _ = block(y, self_attention_cache=sc, self_attention_cache_update_index=i,
                           cross_attention_cache=cc, encoder_padding_mask=m)
        return out, sc

    def projection_only(i, y, sc, cc, m):
        return y + tf.reduce_max(model.output_projection(y)) * 1e-9, sc

    def whole_step(i, y, sc, cc, m):  # embedding -> block -> projection -> argmax
        token = tf.cast(tf.abs(y[:, :, 0]) * 100, tf.int32) % 15000
        out, sc, _ = block(model.target_embedding(token, start_index=i),
                           self_attention_cache=sc, self_attention_cache_update_index=i,
                           cross_attention_cache=cc, encoder_padding_mask=m)
        best = tf.cast(tf.argmax(model.output_projection(out)[:, 0], -1), tf.float32)
        return out + best[:, None, None] * 1e-9, sc

    def time_loop(step, hoist):
        @tf.function(jit_compile=True)
        def run(src):
            self_caches, cross_caches, mask = model.build_cache(src, n + 1)
            cc = cross_caches[:, 0]

            def body(i, y, sc):
                y, sc = step(i, y, sc, cc, mask)
                return i + 1, y / (1e-3 + tf.reduce_max(tf.abs(y))), sc

            with hoisted_projection_kernels(model) if hoist else contextlib.nullcontext():
                return tf.while_loop(lambda i, *_: i < n, body, (0, y0, self_caches[:, 0]))[1]

        run(source)
        run(source)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            np.asarray(run(source))
            times.append(time.perf_counter() - t0)
        return 1e6 * statistics.median(times) / n

    rows = []
    for name, step in [("Q projection", q_projection), ("cached self-attention", self_attention),
                       ("decoder block", block_only), ("output projection", projection_only),
                       ("whole step", whole_step)]:
        row = {"piece": name, "variables_us": time_loop(step, False),
               "hoisted_us": time_loop(step, True)}
        rows.append(row)
        print(f"{name:24s} 3-D variables {row['variables_us']:8.1f} us/step   hoisted "
              f"{row['hoisted_us']:8.1f} us/step", flush=True)
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"steps": n, "repeats": args.repeats, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
