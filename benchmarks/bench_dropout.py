"""Time of a dropout mask, Keras's `Dropout` vs `keras_seq.layers.HashDropout`, with/without XLA.

On the IMDB classifier's embedding output (batch 64, 192 steps, 128 features, float32),
training mode, in one process, interleaved round by round; each `tf.function` is called once
before timing (tracing and compiling). Also a forward + backward step of the IMDB model
(`build_sentiment_classifier`, GRU 64, vocabulary 20,000, dropout 0.5) on one fixed batch,
with each dropout, because that is where the difference shows.

Prints median ms per call and writes JSON.

    python benchmarks/bench_dropout.py [--rounds 5 --calls 5]
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_common import machine_info  # noqa: E402
from keras_seq.layers import HashDropout  # noqa: E402
from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "out"


def _mask_functions(shape):
    x = tf.constant(np.random.default_rng(0).random(shape, dtype=np.float32))
    functions = {}
    for name, layer in (("keras Dropout", keras.layers.Dropout(0.5, seed=1)),
                        ("HashDropout", HashDropout(0.5, seed=1))):
        for jit in (False, True):
            fn = tf.function(lambda x, layer=layer: layer(x, training=True), jit_compile=jit)
            functions[f"mask {shape}: {name}, XLA {'on' if jit else 'off'}"] = (
                lambda fn=fn: fn(x))
    return functions


def _model_steps(batch, steps):
    rng = np.random.default_rng(0)
    lengths = rng.integers(steps // 2, steps + 1, batch)
    ids = rng.integers(1, 20000, (batch, steps)) * (np.arange(steps)[None] < lengths[:, None])
    labels = rng.integers(0, 2, batch).astype("float32")
    functions = {}
    for name, dropout_class in (("keras Dropout", keras.layers.Dropout),
                                ("HashDropout", HashDropout)):
        for jit in (False, True):
            model = build_sentiment_classifier(vocabulary_size=20000, rnn="gru", hidden_dim=64,
                                               dropout=0.5, dropout_class=dropout_class)
            compile_sentiment_classifier(model, jit_compile=jit)
            functions[f"IMDB model train step ({batch}, {steps}): {name}, XLA "
                      f"{'on' if jit else 'off'}"] = (
                lambda model=model: model.train_on_batch(ids, labels))
    return functions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5, help="calls per round (timed together)")
    parser.add_argument("--out", default=str(OUT / "dropout.json"))
    opts = parser.parse_args(argv)
    functions = {**_mask_functions((64, 192, 128)), **_model_steps(64, 192)}
    for fn in functions.values():
        fn()  # trace and compile
    times = {name: [] for name in functions}
    for _ in range(opts.rounds):
        for name, fn in functions.items():
            started = time.perf_counter()
            for _ in range(opts.calls):
                out = fn()
            if isinstance(out, tf.Tensor):
                out.numpy()
            times[name].append(1000 * (time.perf_counter() - started) / opts.calls)
    rows = [{"what": name, "median_ms": statistics.median(v), "rounds_ms": v}
            for name, v in times.items()]
    print("\n| what | median ms |\n|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['median_ms']:.1f} |")
    out = pathlib.Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "rounds": opts.rounds, "calls": opts.calls,
                               "command": " ".join(sys.argv), "machine": machine_info()},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
