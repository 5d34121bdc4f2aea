"""Forward + backward time of the label-smoothed loss vs plain sparse cross-entropy.

On the translator's output shape (batch 64, 40 target positions, 15,000 classes, float32
logits, a padding mask as sample weights), in one process, interleaved round by round:

  plain:     keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  gather:    L = logsumexp(z) - (1 - e) z_y - e mean_k z_k, written with ops.logsumexp,
             ops.take_along_axis and ops.mean (the first form of our loss)
  ours:      keras_seq.losses.LabelSmoothedSparseCrossentropy (smoothed one-hot target into
             the backend's fused softmax cross-entropy)
  keras 1h:  keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=e) on
             one-hot labels built outside the timed step (what a user would otherwise write)

Prints median ms per step and the ratio to `plain`; writes JSON.

    python benchmarks/bench_label_smoothing.py [--rounds 5 --steps 5]
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
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from bench_common import machine_info  # noqa: E402
from keras_seq.losses import LabelSmoothedSparseCrossentropy  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "out"


class GatherFormLoss(keras.losses.Loss):
    """The logsumexp/gather form of the same loss (the reference for `ours`)."""

    def __init__(self, epsilon):
        super().__init__(name="gather_form")
        self.epsilon = epsilon

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true, "int32")
        log_z = ops.logsumexp(logits, axis=-1)
        true_logit = ops.squeeze(
            ops.take_along_axis(logits, ops.expand_dims(labels, -1), axis=-1), -1)
        return log_z - (1.0 - self.epsilon) * true_logit - self.epsilon * ops.mean(logits, -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--classes", type=int, default=15000)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant per round")
    parser.add_argument("--json", default=str(OUT / "label_smoothing.json"))
    opts = parser.parse_args()

    rng = tf.random.Generator.from_seed(0)
    logits = rng.normal((opts.batch, opts.length, opts.classes))
    labels = rng.uniform((opts.batch, opts.length), 0, opts.classes, tf.int32)
    weights = tf.cast(rng.uniform((opts.batch, opts.length)) > 0.3, tf.float32)
    one_hot = tf.one_hot(labels, opts.classes)
    variants = {
        "plain": (keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels),
        "gather": (GatherFormLoss(opts.epsilon), labels),
        "ours": (LabelSmoothedSparseCrossentropy(opts.epsilon), labels),
        "keras 1h": (keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=opts.epsilon), one_hot),
    }
    steps, values = {}, {}
    for name, (loss, target) in variants.items():
        @tf.function
        def step(loss=loss, target=target):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                value = loss(target, logits, sample_weight=weights)
            return value, tape.gradient(value, logits)

        value, _ = step()  # trace
        steps[name], values[name] = step, float(value)

    times = {name: [] for name in variants}
    for _ in range(opts.rounds):
        for name, step in steps.items():
            for _ in range(opts.steps):
                start = time.perf_counter()
                _, grad = step()
                grad.numpy()  # wait for the result
                times[name].append(time.perf_counter() - start)

    med = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(f"B {opts.batch}, T {opts.length}, K {opts.classes}, epsilon {opts.epsilon}, "
          f"{opts.rounds} rounds x {opts.steps} steps")
    print("| loss | value | median ms (fwd+bwd) | vs plain |\n|---|---|---|---|")
    for name in variants:
        print(f"| {name} | {values[name]:.5f} | {med[name]:.1f} | "
              f"{med[name] / med['plain']:.2f}x |")
    out = pathlib.Path(opts.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "options": vars(opts),
                               "median_ms": med, "loss_values": values,
                               "machine": machine_info()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
