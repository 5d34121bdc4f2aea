"""IMDB sentiment benchmarks: (1) accuracy of the application, (2) training throughput.

(1) `--part accuracy`: runs the application (`applications/imdb.py`, the same
    code as `keras-seq train imdb`) on the full data - train on the 25,000 training reviews
    (a seeded 10% of them held out for validation, best epoch by validation accuracy), test
    on all 25,000 test reviews - and records accuracy, epochs and wall time.
(2) `--part throughput`: training samples/s of the application's model and pipeline (length
    buckets, its batch size) against a plain Keras reference of the keras.io bidirectional
    LSTM example (Embedding(20000,128) -> Bidirectional(LSTM(64, return_sequences=True)) ->
    Bidirectional(LSTM(64)) -> Dense(1, sigmoid), reviews padded/cut to 200 tokens, batch
    32), on the same reviews, with and without XLA. The configurations are interleaved
    round by round in one process; each round fits one epoch of `--subset` reviews and the
    time is the sum of the per-step times measured by a callback (not epoch wall time).
    The first round (tracing/compiling) is dropped; medians over the rest are reported.
    `--reference-accuracy` also trains the reference for `--reference-epochs` epochs on the
    full training set and tests it on all test reviews.

    python benchmarks/bench_imdb.py --part accuracy [--epochs 3] [-- APP OPTIONS]  # long
    python benchmarks/bench_imdb.py --part throughput [--rounds 4 --subset 1536]

Writes benchmarks/out/imdb_accuracy.json (or --out) / imdb_throughput.json and prints a table.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

from bench_common import machine_info  # noqa: E402


def part_accuracy(opts):
    from applications import imdb as imdb_app

    parser = imdb_app.build_parser()
    argv = ["--dataset", "imdb", "--epochs", str(opts.epochs), "--runs-root",
            str(ROOT / "runs" / "bench")] + opts.app_args
    args = parser.parse_args(argv)
    started = time.time()
    metrics = imdb_app.run(args)
    wall = time.time() - started
    result = {"part": "accuracy", "command": "python " + " ".join(sys.argv),
              "app_argv": argv, "wall_seconds": wall, "machine": machine_info(),
              "metrics": {k: v for k, v in metrics.items() if k != "examples"},
              "examples": metrics["examples"]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / opts.out).write_text(json.dumps(result, indent=2, default=str))
    print("| what | value |\n|---|---|")
    print(f"| test accuracy (25k test reviews) | {metrics['test_accuracy']:.4f} |")
    print(f"| best validation accuracy | {metrics['best_val_accuracy']:.4f} |")
    print(f"| epochs | {metrics['epochs']} |")
    print(f"| fit wall time | {metrics['fit_seconds']:.0f} s |")
    print(f"| total wall time | {wall:.0f} s |")
    return result


class StepTimer:
    """Keras callback: sums the duration of every train step of one `fit`."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.step_times = []

            def on_train_batch_begin(self, batch, logs=None):
                self._t = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.step_times.append(time.perf_counter() - self._t)

        return _Timer()


def part_throughput(opts):
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_seq.data.pipeline import token_id_dataset
    from keras_seq.data.reviews import load_reviews
    from keras_seq.data.text import standardize_review
    from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier

    keras.utils.set_random_seed(0)
    splits, info = load_reviews("imdb", data_dir=opts.data_dir, download=False)
    train, test = splits["train"], splits["test"]
    vectorizer = keras.layers.TextVectorization(
        max_tokens=opts.vocab_size, standardize=standardize_review, ragged=True)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train.texts).batch(1024))
    rng = np.random.default_rng(0)
    subset = rng.permutation(len(train))[: opts.subset]
    texts = [train.texts[i] for i in subset]
    labels = train.labels[subset]
    ragged = vectorizer(tf.constant(texts))

    def reference_data(ragged_ids, y, shuffle):
        # keras.io: pad_sequences(maxlen=200): keep the last 200 tokens, pad in front.
        x = keras.utils.pad_sequences(ragged_ids.to_list(), maxlen=200)
        ds = tf.data.Dataset.from_tensor_slices((x.astype("int32"), y.astype("float32")))
        if shuffle:
            ds = ds.shuffle(len(x), seed=0)
        return ds.batch(32).prefetch(tf.data.AUTOTUNE)

    def reference_model(jit):
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = keras.layers.Embedding(opts.vocab_size, 128)(inputs)
        x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
        x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
        return model

    def ours_data(ragged_ids, y, shuffle):
        return token_id_dataset(ragged_ids[:, : opts.max_length], y, opts.batch_size,
                                shuffle=shuffle, seed=0, max_length=opts.max_length)

    def ours_model(jit, rnn=None, policy="float32"):
        keras.mixed_precision.set_global_policy(policy)
        model = build_sentiment_classifier(
            vocab_size=opts.vocab_size, rnn=rnn or opts.rnn, units=opts.units,
            num_stacked=opts.stacked)
        keras.mixed_precision.set_global_policy("float32")
        return compile_sentiment_classifier(model, jit_compile=jit)

    configs = {}
    for jit in {"both": (False, True), "off": (False,), "on": (True,)}[opts.xla]:
        tag = "xla" if jit else "no-xla"
        configs[f"reference/{tag}"] = (reference_model(jit), reference_data(ragged, labels, True))
        configs[f"ours/{tag}"] = (ours_model(jit), ours_data(ragged, labels, True))
    if opts.bf16:
        configs["ours-bf16/no-xla"] = (ours_model(False, policy="mixed_bfloat16"),
                                       ours_data(ragged, labels, True))
    rates = {name: [] for name in configs}
    for r in range(opts.rounds):
        for name, (model, ds) in configs.items():
            timer = StepTimer()
            model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
            rate = len(texts) / sum(timer.step_times)
            if r > 0:
                rates[name].append(rate)
            print(f"round {r} {name:20s} {rate:8.1f} samples/s"
                  f"{' (warm-up, dropped)' if r == 0 else ''}", flush=True)
    summary = {name: statistics.median(v) for name, v in rates.items()}
    result = {"part": "throughput", "subset": len(texts), "rounds": opts.rounds,
              "ours": {"rnn": opts.rnn, "units": opts.units, "stacked": opts.stacked,
                       "max_length": opts.max_length, "batch_size": opts.batch_size,
                       "bucketing": True},
              "reference": {"maxlen": 200, "batch_size": 32, "layers": "2 x BiLSTM(64)"},
              "samples_per_second_median": summary, "samples_per_second_rounds": rates,
              "machine": machine_info()}
    for tag in ("no-xla", "xla"):
        if f"ours/{tag}" in summary:
            result[f"ratio_ours_over_reference/{tag}"] = (
                summary[f"ours/{tag}"] / summary[f"reference/{tag}"])
            # Ratio within each round (both measured minutes apart at most), then the median.
            per_round = [a / b for a, b in zip(rates[f"ours/{tag}"], rates[f"reference/{tag}"])]
            result[f"ratio_per_round/{tag}"] = per_round
            result[f"ratio_median_of_rounds/{tag}"] = statistics.median(per_round)
    result["ratio_ours_best_over_reference_best"] = max(
        v for k, v in summary.items() if k.startswith("ours")) / max(
        v for k, v in summary.items() if k.startswith("reference"))

    if opts.reference_accuracy:
        full = vectorizer(tf.constant(train.texts))
        order = rng.permutation(len(train))
        model = reference_model(False)
        started = time.time()
        model.fit(reference_data(tf.gather(full, order), train.labels[order], True),
                  epochs=opts.reference_epochs, verbose=2)
        seconds = time.time() - started
        _, acc = model.evaluate(reference_data(vectorizer(tf.constant(test.texts)),
                                               test.labels, False), verbose=0)
        result["reference_accuracy"] = {"test_accuracy": float(acc),
                                        "epochs": opts.reference_epochs,
                                        "fit_seconds": seconds, "test_size": len(test)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / opts.out_throughput).write_text(json.dumps(result, indent=2, default=str))
    print("\n| configuration | samples/s (median) |\n|---|---|")
    for name, value in summary.items():
        print(f"| {name} | {value:.1f} |")
    for key, value in result.items():
        if key.startswith("ratio") and not isinstance(value, list):
            print(f"| {key} | {value:.2f}x |")
    if "reference_accuracy" in result:
        print(f"| reference test accuracy | {result['reference_accuracy']['test_accuracy']:.4f} |")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("accuracy", "throughput"), required=True)
    parser.add_argument("--epochs", type=int, default=2, help="accuracy: epochs")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="imdb_accuracy.json",
                        help="accuracy: JSON file name under benchmarks/out/")
    parser.add_argument("--rounds", type=int, default=4, help="throughput: rounds (first dropped)")
    parser.add_argument("--subset", type=int, default=1536, help="throughput: reviews per round")
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--max-length", type=int, default=1000, help="throughput: ours")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rnn", default="lstm", help="throughput: ours (the app default)")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--stacked", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="throughput: also ours in bf16")
    parser.add_argument("--xla", choices=("both", "off", "on"), default="both",
                        help="throughput: XLA settings to measure")
    parser.add_argument("--out-throughput", default="imdb_throughput.json")
    parser.add_argument("--reference-accuracy", action="store_true")
    parser.add_argument("--reference-epochs", type=int, default=2)
    argv = list(sys.argv[1:] if argv is None else argv)
    # Options after "--" go to the application unchanged (accuracy part).
    app_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    opts, unknown = parser.parse_known_args(own)
    opts.app_args = unknown + app_args
    if opts.part == "accuracy":
        part_accuracy(opts)
    else:
        if app_args:
            parser.error(f"unknown arguments for --part throughput: {app_args}")
        part_throughput(opts)


if __name__ == "__main__":
    main()
