"""IMDB sentiment benchmarks: (1) accuracy of the application, (2) training throughput.

(1) `--part accuracy` runs the application (`applications/imdb.py`, the same code as
    `keras-seq train imdb`; by default the full data: 25,000 training reviews, a seeded 10%
    of them held out for validation, best epoch by validation accuracy) with the protocol of
    benchmarks/RESULTS.md:
    - without `--score-test` (choosing): the configuration given after `--` is trained once
      per `--seeds` and scored on the VALIDATION split only (the test reviews are never
      scored); the JSON records each seed's validation accuracy and mean / min / max.
    - `--score-test A.json B.json ...` (reporting): takes the validation JSONs of the
      configurations compared, chooses the one with the best mean validation accuracy,
      trains it once per `--seeds` and scores the TEST split once per seed.
(2) `--part throughput`: training speed against a plain Keras reference of the keras.io
    bidirectional LSTM example (Embedding(20000,128) -> Bidirectional(LSTM(64,
    return_sequences=True)) -> Bidirectional(LSTM(64)) -> Dense(1, sigmoid), batch 32,
    reviews padded/cut to 200 tokens, Adam, fp32). Two rows, `--mode`:
    - like-for-like: ours built to the reference's exact shape (our embedding with masking,
      a BiLSTM(64) sequence layer, our `BidirectionalMeanPooledRNN(LSTM(64))` with
      pooling="last", Dense(1, sigmoid); no dropout, no clipping, Adam, fp32), both fed the
      SAME tensors: reviews with >= 200 tokens cut to their first 200 (no padding), batch 32,
      the same XLA setting on both sides; figure = median time per train step;
    - our defaults: the application's defaults (`ImdbConfig`, resolved as the application
      does: model, length buckets, batch, dropout and word dropout, pooling, clipping, cosine
      decay and adversarial training) against the reference on the same reviews (vocabulary
      `--vocabulary-size` on both sides); figure = samples/s; the row lists each difference.
    All configurations are interleaved round by round in one process; the step times come
    from a callback (not epoch wall time); the first round (tracing/compiling) is dropped.
    `--reference-accuracy` also trains the reference for `--reference-epochs` epochs on the
    full training set and tests it on all test reviews.

    python benchmarks/bench_imdb.py --part accuracy --out imdb_val_a.json -- APP OPTIONS
    python benchmarks/bench_imdb.py --part accuracy --score-test imdb_val_a.json imdb_val_b.json
    python benchmarks/bench_imdb.py --part throughput [--rounds 4 --subset 1536] [--quick]

Writes benchmarks/out/imdb_accuracy_{validation,test}.json (or --out) / imdb_throughput.json
and prints a table.
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

from bench_common import (add_seeds_argument, check_seeds, choose_on_validation,  # noqa: E402
                          format_spread, machine_info, run_seeds, validation_only)

REFERENCE_SHAPE = {"layers": "Embedding(vocab,128) -> BiLSTM(64, sequences) -> BiLSTM(64) "
                             "-> Dense(1, sigmoid)", "batch_size": 32, "maxlen": 200,
                   "optimizer": "Adam(1e-3)", "precision": "float32"}


def _json_path(name):
    path = pathlib.Path(name)
    return path if path.is_absolute() or path.parent != pathlib.Path(".") else OUT / path


def part_accuracy(opts):
    from keras_seq.cli import import_application

    imdb = import_application("keras_seq.applications.imdb")
    if opts.score_test:
        candidates = []
        for name in opts.score_test:
            recorded = json.loads(_json_path(name).read_text(encoding="utf-8"))
            if recorded.get("scored_split") != "validation":
                raise SystemExit(f"--score-test {name}: expected a validation JSON of --part "
                                 f"accuracy, got scored_split={recorded.get('scored_split')!r}")
            candidates.append({"file": str(name), "app_argv": recorded["app_argv"],
                               "validation_seeds": recorded["validation"]["seeds"],
                               "validation_accuracy_mean":
                                   recorded["validation"]["mean"]["validation_accuracy"]})
        chosen = choose_on_validation(candidates, "validation_accuracy_mean", "max")
        app_argv, application, split = chosen["app_argv"], imdb.APPLICATION, "test"
        print(f"chosen on validation: {chosen['file']} (mean validation accuracy "
              f"{chosen['validation_accuracy_mean']:.4f} of {len(candidates)} configurations); "
              f"test scored once per seed", flush=True)
    else:
        app_argv = ["--dataset", "imdb", "--epochs", str(opts.epochs), "--runs-root",
                    str(ROOT / "runs" / "bench")] + opts.app_args
        if opts.data_dir:
            app_argv += ["--data-dir", opts.data_dir]
        application, split, candidates, chosen = (validation_only(imdb.APPLICATION),
                                                  "validation", None, None)
    keep = ("validation_accuracy", "validation_loss", "test_accuracy", "test_loss",
            "best_val_accuracy", "fit_seconds", "total_seconds", "epochs_run_this_call",
            "validation_size", "test_size")

    def run_one(seed):
        args = application.build_parser().parse_args(app_argv + ["--seed", str(seed)])
        metrics = application.run(args)
        return {k: metrics[k] for k in keep if k in metrics}

    started = time.time()
    seeds = run_seeds(run_one, opts.seeds, show=("best_val_accuracy", f"{split}_accuracy"))
    result = {"part": "accuracy", "scored_split": split,
              "command": "python benchmarks/bench_imdb.py " + " ".join(opts.argv),
              "app_argv": app_argv, "wall_seconds": time.time() - started,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_info(), "candidates": candidates, "chosen": chosen,
              split: seeds}
    out = _json_path(opts.out or f"imdb_accuracy_{split}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"| what ({split} split; mean (min–max) over seeds) | value |\n|---|---|")
    size = seeds["per_seed"][0].get(f"{split}_size")
    print(f"| {split} accuracy ({size} reviews) | {format_spread(seeds, split + '_accuracy')} |")
    if split == "test":
        print(f"| best validation accuracy | {format_spread(seeds, 'best_val_accuracy')} |")
    print(f"| fit wall time per seed | {seeds['mean']['fit_seconds']:.0f} s |")
    print(f"| total wall time | {result['wall_seconds']:.0f} s -> {out} |")
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
    from keras_seq.models import build_sentiment_classifier

    keras.utils.set_random_seed(0)
    splits, info = load_reviews("imdb", data_dir=opts.data_dir, download=False)
    train, test = splits["train"], splits["test"]
    vectorizer = keras.layers.TextVectorization(
        max_tokens=opts.vocabulary_size, standardize=standardize_review, ragged=True)
    adapt_texts = train.texts[: opts.adapt_size] if opts.adapt_size else train.texts
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(adapt_texts).batch(1024))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(train))
    subset = order[: opts.subset]
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
        x = keras.layers.Embedding(opts.vocabulary_size, 128)(inputs)
        x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
        x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
        return model

    def like_model(jit):
        # The reference's shape with our layers: one BiLSTM(64) sequence layer, then our
        # BidirectionalMeanPooledRNN(LSTM(64)) keeping the last states; no dropout.
        model = build_sentiment_classifier(
            vocabulary_size=opts.vocabulary_size, embedding_dim=128, rnn="lstm", hidden_dim=64,
            num_stacked=1, dropout=0.0, pooling="last")
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                      metrics=["accuracy"], jit_compile=jit)
        return model

    def full_length_data():
        # Reviews with >= 200 tokens cut to their first 200: no padding, identical tensors.
        chosen, rows = [], []
        for start in range(0, len(order), 1024):
            chunk = order[start:start + 1024]
            ids = vectorizer(tf.constant([train.texts[i] for i in chunk]))
            for i, n, row in zip(chunk, ids.row_lengths().numpy(), ids):
                if n >= 200 and len(chosen) < opts.subset:
                    chosen.append(i)
                    rows.append(row[:200].numpy())
            if len(chosen) == opts.subset:
                break
        x = np.stack(rows).astype("int32")
        y = train.labels[np.array(chosen)].astype("float32")
        return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(32)
                .prefetch(tf.data.AUTOTUNE)), len(x)

    def ours_data(ragged_ids, y, shuffle):
        return token_id_dataset(ragged_ids[:, : opts.max_length], y, opts.batch_size,
                                shuffle=shuffle, seed=0, max_length=opts.max_length)

    from keras_seq.applications.imdb import APPLICATION, ImdbConfig

    # The application's defaults (`keras-seq train imdb`), with this script's options.
    app = APPLICATION.resolve(ImdbConfig(
        rnn=opts.rnn, hidden_dim=opts.units, stacked=opts.stacked, max_length=opts.max_length,
        batch_size=opts.batch_size))

    def ours_model(jit, policy="float32"):
        keras.mixed_precision.set_global_policy(policy)
        model = build_sentiment_classifier(
            vocabulary_size=opts.vocabulary_size, embedding_dim=app.embedding_dim, rnn=app.rnn,
            hidden_dim=app.hidden_dim, num_stacked=app.stacked, dropout=app.dropout,
            word_dropout=app.word_dropout, pooling=app.pooling)
        keras.mixed_precision.set_global_policy("float32")
        # The task's own compile: adversarial wrapper, cosine decay, clipping, as the app.
        from keras_seq.tasks import ImdbClassifier, ImdbPreprocessor

        task = ImdbClassifier(model, ImdbPreprocessor(vectorizer.get_vocabulary(),
                                                      app.max_length, app.punctuation),
                              adversarial=app.adversarial,
                              adversarial_weight=app.adversarial_weight)
        steps = opts.rounds * -(-len(texts) // app.batch_size)
        return task.compile(total_steps=steps, learning_rate=app.learning_rate,
                            lr_schedule=app.lr_schedule, jit_compile=jit,
                            ema_momentum=app.ema_momentum)

    jits = {"both": (False, True), "off": (False,), "on": (True,)}[opts.xla]
    like = opts.mode in ("like-for-like", "both")
    defaults = opts.mode in ("defaults", "both")
    configs, sizes = {}, {}
    if like:
        full_ds, full_n = full_length_data()
    for jit in jits:
        tag = "xla" if jit else "no-xla"
        if like:
            configs[f"like/reference/{tag}"] = (reference_model(jit), full_ds)
            configs[f"like/ours/{tag}"] = (like_model(jit), full_ds)
            sizes[f"like/reference/{tag}"] = sizes[f"like/ours/{tag}"] = full_n
        if defaults:
            configs[f"defaults/reference/{tag}"] = (reference_model(jit),
                                                    reference_data(ragged, labels, True))
            configs[f"defaults/ours/{tag}"] = (ours_model(jit), ours_data(ragged, labels, True))
            sizes[f"defaults/reference/{tag}"] = sizes[f"defaults/ours/{tag}"] = len(texts)
    if opts.bf16 and defaults:
        configs["defaults/ours-bf16/no-xla"] = (ours_model(False, policy="mixed_bfloat16"),
                                                ours_data(ragged, labels, True))
        sizes["defaults/ours-bf16/no-xla"] = len(texts)
    rates = {name: [] for name in configs}
    steps = {name: [] for name in configs}
    for r in range(opts.rounds):
        for name, (model, ds) in configs.items():
            timer = StepTimer()
            model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
            rate = sizes[name] / sum(timer.step_times)
            if r > 0:
                rates[name].append(rate)
                steps[name].extend(timer.step_times)
            print(f"round {r} {name:28s} {rate:8.1f} samples/s, median step "
                  f"{1e3 * statistics.median(timer.step_times):7.1f} ms"
                  f"{' (warm-up, dropped)' if r == 0 else ''}", flush=True)
    result = {"part": "throughput", "rounds": opts.rounds, "mode": opts.mode,
              "command": "python benchmarks/bench_imdb.py " + " ".join(opts.argv),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "reference": REFERENCE_SHAPE, "machine": machine_info(), "rows": []}
    for jit in jits:
        tag = "xla" if jit else "no-xla"
        if like:
            ref, ours = (statistics.median(steps[f"like/{k}/{tag}"]) for k in ("reference",
                                                                                 "ours"))
            result["rows"].append({
                "row": f"like-for-like, XLA {'on' if jit else 'off'} both sides",
                "figure": "median seconds per train step", "reference_step_seconds": ref,
                "ours_step_seconds": ours, "ratio_reference_over_ours": ref / ours,
                "reviews": full_n, "steps_timed": len(steps[f"like/ours/{tag}"]),
                "same": "architecture (2 x BiLSTM(64), last states), batch 32, 200 tokens "
                        "without padding (the same tensors), float32, Adam(1e-3), no "
                        "clipping, no dropout, XLA setting",
                "ours": "Embedding(mask_zero) -> Bidirectional(LSTM(64), sequences) -> "
                        "BidirectionalMeanPooledRNN(LSTM(64), pooling='last') -> Dense(1)"})
        if defaults:
            ref = statistics.median(rates[f"defaults/reference/{tag}"])
            ours = statistics.median(rates[f"defaults/ours/{tag}"])
            per_round = [a / b for a, b in zip(rates[f"defaults/ours/{tag}"],
                                               rates[f"defaults/reference/{tag}"])]
            result["rows"].append({
                "row": f"our defaults, XLA {'on' if jit else 'off'} both sides",
                "figure": "median samples/s over rounds", "reference_samples_per_second": ref,
                "ours_samples_per_second": ours, "ratio_ours_over_reference": ours / ref,
                "ratio_per_round": per_round, "reviews": len(texts),
                "differences": [
                    f"ours: {app.stacked} BiRNN sequence layers + one Bi{app.rnn.upper()}"
                    f"({app.hidden_dim}) pooled by {app.pooling} over the real tokens "
                    "(reference: 2 x BiLSTM(64), last state)",
                    f"batch {app.batch_size} (reference 32)",
                    f"length buckets, reviews cut to {app.max_length} tokens (reference: "
                    "every review padded/cut to 200)",
                    "padding masked (reference: padding read as tokens)",
                    f"dropout {app.dropout} after the embedding and before the head, whole "
                    f"word vectors dropped at {app.word_dropout} (reference: none)",
                    "global gradient clipnorm 1.0, cosine learning-rate decay (reference: "
                    "none, constant)",
                    *([f"adversarial training of the word vectors, epsilon "
                       f"{app.adversarial}: a second forward and backward pass per step "
                       "(reference: none)"] if app.adversarial else []),
                    f"vocabulary {opts.vocabulary_size:,} on both sides (the application's "
                    f"default is {ImdbConfig.vocabulary_size:,})"]})
    if "defaults/ours-bf16/no-xla" in rates:
        result["rows"].append({
            "row": "our defaults + mixed_bfloat16, XLA off",
            "ours_samples_per_second": statistics.median(rates["defaults/ours-bf16/no-xla"]),
            "ratio_ours_over_reference": statistics.median(rates["defaults/ours-bf16/no-xla"])
            / statistics.median(rates["defaults/reference/no-xla"]),
            "differences": ["as 'our defaults'", "mixed_bfloat16 (reference float32)"]})
    result["samples_per_second_rounds"] = rates

    if opts.reference_accuracy:
        full = vectorizer(tf.constant(train.texts))
        model = reference_model(False)
        started = time.time()
        model.fit(reference_data(tf.gather(full, order), train.labels[order], True),
                  epochs=opts.reference_epochs, verbose=2)
        seconds = time.time() - started
        _, acc = model.evaluate(reference_data(vectorizer(tf.constant(test.texts)),
                                               test.labels, False), verbose=0)
        result["reference_accuracy"] = {"test_accuracy": float(acc),
                                        "epochs": opts.reference_epochs, "seeds": [0],
                                        "fit_seconds": seconds, "test_size": len(test)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / opts.out_throughput).write_text(json.dumps(result, indent=2, default=str))
    print("\n| row | reference | ours | ratio (> 1: ours faster) |\n|---|---|---|---|")
    for row in result["rows"]:
        if "ours_step_seconds" in row:
            print(f"| {row['row']} | {1e3 * row['reference_step_seconds']:.1f} ms/step | "
                  f"{1e3 * row['ours_step_seconds']:.1f} ms/step | "
                  f"{row['ratio_reference_over_ours']:.2f}x |")
        else:
            ref = row.get("reference_samples_per_second")
            print(f"| {row['row']} | {'' if ref is None else f'{ref:.1f} samples/s'} | "
                  f"{row['ours_samples_per_second']:.1f} samples/s | "
                  f"{row['ratio_ours_over_reference']:.2f}x |")
    for row in result["rows"]:
        if "differences" in row:
            print(f"{row['row']} differs from the reference in: "
                  + "; ".join(row["differences"]))
    if "reference_accuracy" in result:
        print(f"| reference test accuracy | {result['reference_accuracy']['test_accuracy']:.4f} |")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("accuracy", "throughput"), required=True)
    parser.add_argument("--epochs", type=int, default=2, help="accuracy: epochs")
    parser.add_argument("--data-dir", default=None)
    add_seeds_argument(parser, help_text="accuracy: the seeds each configuration is trained "
                       "with (default 1337 7)")
    parser.add_argument("--score-test", nargs="+", default=None, metavar="VALIDATION_JSON",
                        help="accuracy: the validation JSONs of the configurations compared; "
                        "the best by mean validation accuracy is trained per seed and scored "
                        "on test")
    parser.add_argument("--out", default=None, help="accuracy: JSON file under "
                        "benchmarks/out/ (default imdb_accuracy_{validation,test}.json)")
    parser.add_argument("--rounds", type=int, default=4, help="throughput: rounds (first dropped)")
    parser.add_argument("--subset", type=int, default=1536, help="throughput: reviews per round")
    parser.add_argument("--mode", choices=("like-for-like", "defaults", "both"), default="both",
                        help="throughput: the rows measured")
    parser.add_argument("--adapt-size", type=int, default=None,
                        help="throughput: adapt the vocabulary on this many training reviews "
                        "(default all)")
    parser.add_argument("--quick", action="store_true", help="throughput: smoke run (32 "
                        "reviews, 2 rounds, XLA off, ours cut to 200 tokens, vocabulary from "
                        "2,000 reviews)")
    parser.add_argument("--vocabulary-size", type=int, default=20000)
    parser.add_argument("--max-length", type=int, default=1000, help="throughput: ours")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="throughput: ours (the app default)")
    parser.add_argument("--rnn", default="lstm", help="throughput: ours (the app default)")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--stacked", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="throughput: also ours in bf16")
    parser.add_argument("--xla", choices=("both", "off", "on"), default="both",
                        help="throughput: XLA settings to measure (the same on both sides)")
    parser.add_argument("--out-throughput", default="imdb_throughput.json")
    parser.add_argument("--reference-accuracy", action="store_true")
    parser.add_argument("--reference-epochs", type=int, default=2)
    argv = list(sys.argv[1:] if argv is None else argv)
    # Options after "--" go to the application unchanged (accuracy part).
    app_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    opts, unknown = parser.parse_known_args(own)
    opts.app_args, opts.argv = unknown + app_args, argv
    check_seeds(parser, opts.seeds)
    if opts.part == "accuracy":
        if "--seed" in opts.app_args:
            parser.error("give the seeds with --seeds (each configuration runs once per seed), "
                         "not --seed after --")
        if opts.score_test and opts.app_args:
            parser.error(f"--score-test takes the configuration from the chosen validation "
                         f"JSON; got application options {opts.app_args}")
        part_accuracy(opts)
    else:
        if opts.app_args:
            parser.error(f"unknown arguments for --part throughput: {opts.app_args}")
        if opts.quick:
            opts.subset, opts.rounds, opts.xla, opts.max_length = 32, 2, "off", 200
            opts.adapt_size = opts.adapt_size or 2000
            opts.out_throughput = "imdb_throughput_quick.json"
        part_throughput(opts)


if __name__ == "__main__":
    main()
