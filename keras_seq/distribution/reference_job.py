"""A reference training job: does a distributed setup train like one process, and how fast?

    python -m keras_seq.distribution.reference_job                       # one process
    python -m keras_seq.distribution.reference_job --strategy mirrored --cpu-devices 2
    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m keras_seq.distribution.reference_job --strategy multi-worker   # + index 1

It trains the bi-LSTM sentiment classifier of `keras_seq.models` on generated token ids
through the package's own shuffled tf.data pipeline inside a
`keras_seq.distribution.TrainingCluster`, and prints (and with `--out`, the chief writes) one
JSON line: the per-epoch losses and accuracies, a checksum of the final weights, the first
predictions, and step times. With the same global batch and seed every strategy must give
the same numbers (tests/distribution/test_same_loss.py) when every batch is full (the default
512 examples in batches of 32). With `--bucket` (length buckets) the last batch of a bucket is
partial, is split unevenly across replicas, and Keras averages the loss per replica: those
examples then weigh a little differently than in one process and the runs drift apart.
"""

import argparse
import json
import os
import sys
import time


def build_parser():
    """The job's options."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_seq.distribution.reference_job",
        description="A reference training job for checking a tf.distribute setup.")
    parser.add_argument("--strategy", default="none",
                        help="none, one-device, mirrored or multi-worker")
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="with mirrored: this many logical CPU devices")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=40)
    parser.add_argument("--vocabulary-size", type=int, default=200)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-dim", type=int, default=16)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--clipnorm", type=float, default=1.0,
                        help="clip each variable's gradient to this norm (default 1, as the "
                             "applications)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default 3e-3 for adam, 1.0 for sgd")
    parser.add_argument("--bucket", action="store_true",
                        help="batch by length buckets (partial batches split unevenly)")
    parser.add_argument("--out", default=None, help="the chief writes the JSON result here")
    return parser


def run(args):
    """Trains under `args.strategy`; returns the result dict (see the module docstring)."""
    from keras_seq.distribution.training_cluster import TrainingCluster

    cluster = TrainingCluster(args.strategy, cpu_devices=args.cpu_devices).start()
    try:
        import keras
        import numpy as np
        import tensorflow as tf

        from keras_seq.data.pipeline import token_id_dataset
        from keras_seq.models import build_sentiment_classifier

        keras.utils.set_random_seed(7)
        rng = np.random.default_rng(0)
        lengths = rng.integers(5, args.max_length + 1, size=args.examples)
        rows = [rng.integers(1, args.vocabulary_size, size=n) for n in lengths]
        middle = args.vocabulary_size / 2
        labels = np.array([float(np.mean(r) > middle) for r in rows], "float32")
        ids = tf.ragged.constant(rows, dtype=tf.int32)
        train = token_id_dataset(ids, labels, args.batch_size, shuffle=True, seed=3,
                                 bucket=args.bucket, max_length=args.max_length)
        with cluster.scope():
            model = build_sentiment_classifier(
                vocabulary_size=args.vocabulary_size, embedding_dim=args.embedding_dim, rnn="lstm",
                hidden_dim=args.hidden_dim, num_stacked=0, dropout=0.0)
            # As the IMDB application: binary cross-entropy, gradients clipped to norm 1.
            if args.optimizer == "sgd":
                optimizer = keras.optimizers.SGD(args.learning_rate or 1.0,
                                                 clipnorm=args.clipnorm)
            else:
                optimizer = keras.optimizers.Adam(args.learning_rate or 3e-3,
                                                  clipnorm=args.clipnorm)
            model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(),
                          metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                          jit_compile=False)

        step_seconds = []

        class StepTimer(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.started = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                step_seconds.append(time.perf_counter() - self.started)

        started = time.perf_counter()
        history = model.fit(train, epochs=args.epochs, verbose=0, callbacks=[StepTimer()])
        fit_seconds = time.perf_counter() - started
        steps_per_epoch = len(step_seconds) // args.epochs
        later = step_seconds[steps_per_epoch:] or step_seconds  # epoch 1 includes tracing
        probe = ids[:8].to_tensor(default_value=0)
        return {
            "strategy": args.strategy, "replicas": cluster.num_replicas,
            "workers": cluster.num_workers, "is_chief": cluster.is_chief,
            "global_batch_size": args.batch_size,
            "loss": [float(v) for v in history.history["loss"]],
            "accuracy": [float(v) for v in history.history["accuracy"]],
            "weights_sum": float(sum(float(np.sum(np.abs(w))) for w in model.get_weights())),
            "predictions": [float(v) for v in model.predict(probe, verbose=0)[:, 0]],
            "fit_seconds": fit_seconds, "steps": len(step_seconds),
            "median_step_seconds": float(np.median(later)),
            "samples_per_second": float(args.batch_size / np.median(later)),
        }
    finally:
        cluster.close()


def main(argv=None):
    """Runs the job, prints the JSON result; the chief also writes it to `--out`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    result = run(args)
    if args.out and result["is_chief"]:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
