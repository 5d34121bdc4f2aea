"""Char-level language model benchmarks (issue 4): quality (d2l protocol, full book) and speed.

    python benchmarks/bench_char_lm.py --part d2l [--cell gru --units 256 ...]
    python benchmarks/bench_char_lm.py --part full
    python benchmarks/bench_char_lm.py --part generation
    python benchmarks/bench_char_lm.py --part training

Each part prints a table and writes `benchmarks/out/char_lm_<part>.json`.

* d2l: d2l 1.0's TimeMachine data: the book standardized to lower-case a-z + space
  (`re.sub('[^A-Za-z]+', ' ', t).lower()`), every stride-1 window of 32 + 1 characters; windows
  starting at 0..9,999 train, windows starting at 10,000..14,999 validate (d2l's num_train=10000,
  num_val=5000, num_steps=32). Validation perplexity = exp(mean cross-entropy over all 5,000 x
  32 predictions), computed here from the logits (not Keras' running mean). Early stopping on it,
  wall-clock limit `--time-limit` (default 600 s).
* full: the whole book by position: the first 80% trains, the last 10% validates (early
  stopping, best weights; every earlier choice of this part was made on it) and the tenth
  between them is a held-out test slice, scored once per seed (`--seeds`, default 1337 7);
  random-sampling batches; both scored over non-overlapping subsequences (state reset per
  subsequence).
* generation: `CharLanguageModel.generate` (prefill once + one while_loop that carries the
  state) vs re-running the model on the growing prefix (a `tf.function` with a shape-relaxed
  trace) for 200 characters. Like-for-like rows first (the same XLA setting on both sides,
  `--xla`), then the "our defaults" row (ours XLA, baseline without XLA) naming the
  difference. Interleaved rounds, median per generation.
* training: a train step of our model vs a plain Keras `Embedding -> LSTM(256) -> Dense`,
  seq 35, batch 32, all models interleaved in one process (`train_on_batch`, median step).
  Like-for-like rows first (the same precision, `--precision`, no clipping, the same XLA
  setting, `--xla`, on both sides), then the "our defaults" row (ours mixed_bfloat16 with
  clipping vs plain float32, no XLA) naming each difference.

    python benchmarks/bench_char_lm.py --part training --quick   # a < 1 min check
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.data.char_tokenizer import CharTokenizer  # noqa: E402
from keras_seq.data.sequence_batches import (  # noqa: E402
    random_sampling_dataset, split_by_position, window_dataset, windows)
from keras_seq.data.timemachine import load_text  # noqa: E402
from keras_seq.models.char_language_model import CharLanguageModel  # noqa: E402
from keras_seq.runtime import default_jit_compile  # noqa: E402
from keras_seq.training import AdversarialEmbeddingTrainer  # noqa: E402

from bench_common import (add_seeds_argument, check_seeds, interleaved_median,  # noqa: E402
                          print_speed_rows, run_seeds, speed_row)


def _book_ids():
    text, info = load_text("timemachine", download=False, log=lambda *_: None)
    tokenizer = CharTokenizer("d2l")
    return tokenizer, tokenizer.tokenize_text(text), info


def _log_probabilities(model, x, batch=1000):
    """Next-char log-probabilities `(N, T, V)` (float64) of one model, from the logits.

    The forward pass is one `tf.function` per model (traced once, reused for every epoch's
    validation and every snapshot): about 2.5x faster than calling the model eagerly.
    """
    forward = getattr(model, "_bench_forward", None)
    if forward is None:
        forward = tf.function(lambda inputs: model(inputs, training=False),
                              reduce_retracing=True)
        model._bench_forward = forward
    out = []
    for i in range(0, len(x), batch):
        logits = np.asarray(forward(x[i:i + batch]), "float64")
        logits -= logits.max(-1, keepdims=True)
        out.append(logits - np.log(np.exp(logits).sum(-1, keepdims=True)))
    return np.concatenate(out)


def _cross_entropy(model, x, y, per_position=False):
    """Mean next-char cross-entropy (nats) over every prediction (or per position)."""
    nll = -np.take_along_axis(_log_probabilities(model, x), y[..., None], -1)[..., 0]  # (N, T)
    return nll.mean(0) if per_position else float(nll.mean())


class _TimeLimit(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start, self.cut = seconds, None, False

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):  # checked every step, not every epoch
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True
            self.cut = True


class _ExactValidation(keras.callbacks.Callback):
    """Exact validation cross-entropy each epoch; keeps the best weights (early stopping)."""

    def __init__(self, x, y, patience):
        super().__init__()
        self.x, self.y, self.patience = x, y, patience
        self.best, self.best_epoch, self.wait, self.rows = np.inf, -1, 0, []
        self.weights = {}  # epoch -> the weights validated after it

    @property
    def best_weights(self):
        return self.weights[self.best_epoch]

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        raw = None
        if optimizer.use_ema:  # evaluate (and keep) the moving average of the weights
            variables = self.model.trainable_variables
            raw = [v.numpy() for v in variables]
            optimizer.finalize_variable_values(variables)
        ce = _cross_entropy(self.model, self.x, self.y)
        self.rows.append({"epoch": epoch + 1, "train_loss": float(logs["loss"]),
                          "val_ce": ce, "val_ppl": float(np.exp(ce)),
                          "seconds": time.time() - self.start})
        print(f"  epoch {epoch + 1}: train loss {logs['loss']:.4f}  val ppl {np.exp(ce):.3f}",
              flush=True)
        self.weights[epoch + 1] = self.model.get_weights()
        if ce < self.best:
            self.best, self.best_epoch, self.wait = ce, epoch + 1, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
        if raw is not None:  # training goes on from the raw weights
            for v, value in zip(self.model.trainable_variables, raw):
                v.assign(value)

    def on_train_begin(self, logs=None):
        self.start = time.time()


class _CyclicCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine annealing restarted every `cycle_steps` (snapshot ensembles, Huang et al. 2017):
    lr(t) = lr · (α + (1 − α) · ½ (1 + cos(π · (t mod L) / L)))."""

    def __init__(self, lr, cycle_steps, alpha=0.05):
        self.lr, self.cycle_steps, self.alpha = lr, cycle_steps, alpha

    def __call__(self, step):
        t = keras.ops.mod(keras.ops.cast(step, "float32"), self.cycle_steps) / self.cycle_steps
        return self.lr * (self.alpha + (1 - self.alpha) * 0.5 * (1 + keras.ops.cos(np.pi * t)))

    def get_config(self):
        return {"lr": self.lr, "cycle_steps": self.cycle_steps, "alpha": self.alpha}


class _CycleSnapshots(keras.callbacks.Callback):
    """At the end of every cycle: keeps the weights and their validation cross-entropy."""

    def __init__(self, cycle_epochs, x, y):
        super().__init__()
        self.cycle_epochs, self.x, self.y, self.snapshots = cycle_epochs, x, y, []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs:
            return
        ce = _cross_entropy(self.model, self.x, self.y)
        self.snapshots.append({"cycle": len(self.snapshots) + 1, "val_ppl": float(np.exp(ce)),
                               "weights": self.model.get_weights()})
        print(f"  cycle {len(self.snapshots)}: val ppl {np.exp(ce):.3f}", flush=True)


def _optimizer(args, schedule):
    ema = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
    if args.weight_decay:
        return keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay,
                                      global_clipnorm=args.clip_norm, **ema)
    return keras.optimizers.Adam(schedule, global_clipnorm=args.clip_norm, **ema)


def _train(model, train_ds, x_val, y_val, args, steps):
    if args.steps_per_epoch:
        steps = args.steps_per_epoch * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=0.05)
    fit_model = model
    if args.adversarial:  # also train on adversarially perturbed character vectors
        fit_model = AdversarialEmbeddingTrainer(model, epsilon=args.adversarial)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fit_model.compile(_optimizer(args, schedule), loss)
    exact = _ExactValidation(x_val, y_val, args.patience)
    started = time.time()
    fit_kwargs = {}
    if args.steps_per_epoch:  # evaluate (and early-stop) more often than once a pass
        train_ds, fit_kwargs = train_ds.repeat(), {"steps_per_epoch": args.steps_per_epoch}
    time_limit = _TimeLimit(args.time_limit)
    fit_model.fit(train_ds, epochs=args.epochs, verbose=0, shuffle=False,
                  callbacks=[exact, time_limit], **fit_kwargs)
    exact.cut_by_time_limit = time_limit.cut
    fit_model.set_weights(exact.best_weights)
    exact.cycles = []
    remaining = args.time_limit - (time.time() - started)
    if args.cycles and remaining > 0:
        # From the best weights on: `--cycles` cosine cycles of `--cycle-epochs` epochs each,
        # restarting at `--cycle-lr` with a fresh Adam; each cycle's end is a snapshot.
        cycle_steps = args.cycle_epochs * (args.steps_per_epoch or steps // args.epochs)
        fit_model.compile(_optimizer(args, _CyclicCosine(args.cycle_lr, cycle_steps)), loss)
        snapshots = _CycleSnapshots(args.cycle_epochs, x_val, y_val)
        fit_model.fit(train_ds, epochs=args.cycles * args.cycle_epochs, verbose=0,
                      shuffle=False, callbacks=[snapshots, _TimeLimit(remaining)],
                      **fit_kwargs)
        exact.cycles = snapshots.snapshots
        fit_model.set_weights(exact.best_weights)
    return exact, time.time() - started


def _with_input_noise(train_ds, rate, vocab, seed):
    """Replaces each input character (not the targets) with a random symbol with prob. `rate`.

    Deterministic: each batch draws from a stateless generator seeded by a seeded random
    stream that is drawn anew at every repetition of the dataset.
    """
    if not rate:
        return train_ds
    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def noisy(xy, batch_seed):
        x, y = xy
        key = tf.stack([batch_seed, tf.constant(seed, tf.int64)])
        replace = tf.random.stateless_uniform(tf.shape(x), key) < rate
        symbols = tf.random.stateless_uniform(tf.shape(x), key + [0, 1], minval=1,
                                              maxval=vocab, dtype=x.dtype)
        return tf.where(replace, symbols, x), y

    return tf.data.Dataset.zip((train_ds, batch_seeds)).map(
        noisy, num_parallel_calls=tf.data.AUTOTUNE)


def _model(args, vocab):
    return CharLanguageModel(vocab, cell=args.cell, hidden_dim=args.units, num_layers=args.layers,
                             embedding_dim=args.embedding_dim or None, dropout=args.dropout,
                             recurrent_dropout=args.recurrent_dropout)


def _probabilities(model, x):
    """Next-char probabilities `(N, T, V)` (float64) of one model."""
    return np.exp(_log_probabilities(model, x))


def _ensemble_cross_entropy(probability_sum, count, y):
    """Cross-entropy (nats) of the ensemble that averages `count` models' probabilities."""
    return float(-np.log(np.take_along_axis(probability_sum / count, y[..., None], -1)).mean())


def _varied(args):
    """{name: [values]} from the `--vary name=v1,v2,...` options."""
    out = {}
    for item in args.vary:
        name, _, values = item.partition("=")
        name = name.replace("-", "_")
        if not hasattr(args, name) or not values:
            raise SystemExit(f"--vary {item!r}: expected OPTION=V1,V2,... with a known option")
        kind = type(getattr(args, name))
        out[name] = [kind(v) for v in values.split(",")]
    return out


def _member_args(args, k):
    """A copy of `args` with member k's values of the `--vary` options (cycled)."""
    member = argparse.Namespace(**vars(args))
    for name, values in _varied(args).items():
        setattr(member, name, values[k % len(values)])
    return member


def part_d2l_ensemble(args):
    """`--ensemble` once per seed of `--seeds` (each seed's members: seed..seed+N-1).

    Every choice of this ensemble (members, snapshots, the member cut, ~40 configurations)
    was made on d2l's validation windows, so each run is also scored on an untouched slice
    of the book, windows 20,000..24,999 (never trained on, no choice saw it).
    """
    import copy

    def run_one(seed):
        seed_args = copy.copy(args)
        seed_args.seed = seed
        out = _d2l_ensemble_once(seed_args)
        return {"validation_perplexity": out["validation_perplexity"],
                "untouched_perplexity": out["untouched_perplexity"],
                "members": len([r for r in out["members"] if "left_out" not in r]),
                "train_seconds_all_members": out["train_seconds_all_members"],
                "member_rows": out["members"]}

    summary = run_seeds(run_one, args.seeds, show=("validation_perplexity",
                                                    "untouched_perplexity", "members"))
    mean, low, high = summary["mean"], summary["min"], summary["max"]
    print("\n| protocol | seeds | members | d2l validation ppl (chosen on) | untouched ppl "
          "(windows 20,000..24,999) |")
    print("|---|---|---|---|---|")
    print(f"| d2l ensemble | {', '.join(map(str, args.seeds))} | {mean['members']:.1f} | "
          f"{mean['validation_perplexity']:.3f} ({low['validation_perplexity']:.3f}–"
          f"{high['validation_perplexity']:.3f}) | {mean['untouched_perplexity']:.3f} "
          f"({low['untouched_perplexity']:.3f}–{high['untouched_perplexity']:.3f}) |")
    return {"protocol": "d2l 1.0 windows (see part d2l); members average probabilities; "
                        "chosen on d2l's validation windows 10,000..14,999; also scored on "
                        "untouched windows 20,000..24,999",
            "config": vars(args), **summary}


def _d2l_ensemble_once(args):
    """`--ensemble N` members trained like `part_d2l` (seeds seed..seed+N-1), probabilities
    averaged; the time limit covers all members together (not the untouched scoring)."""
    tokenizer, ids, info = _book_ids()
    steps = 32
    x_val, y_val = windows(ids, steps, start=10000, count=5000)
    x_new, y_new = windows(ids, steps, start=20000, count=5000)
    rows, started = [], time.time()
    sums = {"best": 0.0, "snapshots": 0.0}  # summed probabilities of the ensemble's models
    counts = {"best": 0, "snapshots": 0}
    untouched = {"best": 0.0, "snapshots": 0.0}  # the same models on the untouched windows
    limit = args.time_limit
    for k in range(args.ensemble):
        elapsed = time.time() - started
        if k and limit - elapsed < elapsed / k:
            # A member cut off after a few epochs is an untrained model that spoils the
            # average: start one only with a member's mean time left.
            print(f"no member {k + 1}: {limit - elapsed:.0f} s left, less than the "
                  f"{elapsed / k:.0f} s a member took on average", flush=True)
            break
        member = _member_args(args, k)  # with --vary, member k's own settings
        # Its training stops in time to leave ~5 s for validating its snapshots.
        member.time_limit = max(1.0, limit - elapsed - 5.0)
        train_ds = window_dataset(ids, steps, member.batch_size, start=0, count=10000,
                                  seed=args.seed + k)
        train_ds = _with_input_noise(train_ds, member.input_noise, tokenizer.vocabulary_size,
                                     args.seed + k)
        keras.utils.set_random_seed(args.seed + k)
        model = _model(member, tokenizer.vocabulary_size)
        model(x_val[:2])
        n_batches = int(np.ceil(10000 / member.batch_size))
        exact, seconds = _train(model, train_ds, x_val, y_val, member,
                                n_batches * member.epochs)
        if exact.cut_by_time_limit:
            print(f"member {k + 1} left out: the time limit stopped it at epoch "
                  f"{len(exact.rows)} (best so far {np.exp(exact.best):.3f})", flush=True)
            rows.append({"member": k + 1, "left_out": "cut by the time limit",
                         "member_val_ppl": float(np.exp(exact.best)),
                         "epochs_run": len(exact.rows), "member_seconds": seconds,
                         "elapsed_seconds": time.time() - started})
            break
        # The member's best weights (early stopping), and with --snapshots K also the weights
        # of the K-1 epochs after it, which patience trained anyway (no further selection).
        # With --snapshots-before J also those of the J epochs before it (trained anyway).
        epochs = [e for e in range(exact.best_epoch, exact.best_epoch + max(1, args.snapshots))
                  if e in exact.weights]
        epochs += [e for e in range(exact.best_epoch - 1,
                                    exact.best_epoch - 1 - args.snapshots_before, -1)
                   if e in exact.weights]
        # With --cycles C, also the weights at the end of each of the C cycles after it.
        snapshot_weights = [exact.weights[e] for e in epochs]
        snapshot_weights += [c.pop("weights") for c in exact.cycles]
        by_snapshot = []  # the whole ensemble's perplexity after adding each snapshot
        for i, weights in enumerate(snapshot_weights):
            model.set_weights(weights)
            p = _probabilities(model, x_val)
            if i == 0:  # the best epoch's weights
                sums["best"], counts["best"] = sums["best"] + p, counts["best"] + 1
            sums["snapshots"], counts["snapshots"] = sums["snapshots"] + p, counts["snapshots"] + 1
            by_snapshot.append(float(np.exp(_ensemble_cross_entropy(
                sums["snapshots"], counts["snapshots"], y_val))))
            scoring = time.time()  # outside the time limit: shift the start by its time
            p_new = _probabilities(model, x_new)
            untouched["snapshots"] = untouched["snapshots"] + p_new
            if i == 0:
                untouched["best"] = untouched["best"] + p_new
            started += time.time() - scoring
        if len(by_snapshot) > 1:
            print("  ensemble after each snapshot: " + " ".join(f"{v:.3f}" for v in by_snapshot))
        ce_best = _ensemble_cross_entropy(sums["best"], counts["best"], y_val)
        ce = _ensemble_cross_entropy(sums["snapshots"], counts["snapshots"], y_val) \
            if len(snapshot_weights) > 1 else ce_best
        rows.append({"member": k + 1, "settings": {n: getattr(member, n) for n in _varied(args)},
                     "member_val_ppl": float(np.exp(exact.best)),
                     "snapshot_epochs": epochs, "cycles": exact.cycles,
                     "ensemble_val_ppl_by_snapshot": by_snapshot,
                     "ensemble_of_best_weights_val_ppl": float(np.exp(ce_best)),
                     "member_best_epoch": exact.best_epoch, "member_seconds": seconds,
                     "ensemble_val_ppl": float(np.exp(ce)),
                     "ensemble_uses_snapshots": len(snapshot_weights) > 1,
                     "elapsed_seconds": time.time() - started})
        settings = f" {rows[-1]['settings']}" if rows[-1]["settings"] else ""
        print(f"member {k + 1}{settings}: own val ppl {np.exp(exact.best):.3f}; "
              f"ensemble of {k + 1}: {np.exp(ce_best):.3f}"
              + (f"; with the snapshots ({counts['snapshots']} in all): {np.exp(ce):.3f}"
                 if len(snapshot_weights) > 1 else "") +
              f" ({time.time() - started:.0f} s)", flush=True)
        if time.time() - started > limit:
            break
    finished = [r for r in rows if "left_out" not in r]
    if not finished:
        raise SystemExit(f"no member finished inside --time-limit {limit:g} s")
    best = finished[-1]
    best = dict(best, elapsed_seconds=rows[-1]["elapsed_seconds"])  # the time of all members
    print("\n| protocol | model | members | val perplexity | bits/char | train s (all) |")
    print("|---|---|---|---|---|---|")
    print(f"| d2l (10k/5k windows, 32 steps) | ensemble of {args.cell} x{args.layers} "
          f"{args.units}u drop {args.dropout}{' varied ' + str(_varied(args)) if args.vary else ''}"
          f" | {best['member']} | {best['ensemble_val_ppl']:.3f} | "
          f"{np.log(best['ensemble_val_ppl']) / np.log(2):.3f} | {best['elapsed_seconds']:.0f} |")
    # The untouched windows, scored by the same models as the reported validation figure.
    kind = "snapshots" if best["ensemble_uses_snapshots"] else "best"
    untouched = float(np.exp(_ensemble_cross_entropy(untouched[kind], counts[kind], y_new)))
    print(f"untouched windows 20,000..24,999: {untouched:.3f} (the same {counts[kind]} models)")
    return {"protocol": "d2l 1.0 windows (see part d2l); members average probabilities",
            "config": vars(args), "members": rows,
            "validation_perplexity": best["ensemble_val_ppl"],
            "untouched_perplexity": untouched,
            "validation_bits_per_char": float(np.log(best["ensemble_val_ppl"]) / np.log(2)),
            "train_seconds_all_members": best["elapsed_seconds"], "data": info}


def part_d2l(args):
    if args.ensemble > 1:
        return part_d2l_ensemble(args)
    tokenizer, ids, info = _book_ids()
    steps = 32
    x_tr, _ = windows(ids, steps, start=0, count=10000)
    x_val, y_val = windows(ids, steps, start=10000, count=5000)
    train_ds = window_dataset(ids, steps, args.batch_size, start=0, count=10000, seed=args.seed)
    train_ds = _with_input_noise(train_ds, args.input_noise, tokenizer.vocabulary_size, args.seed)
    keras.utils.set_random_seed(args.seed)
    model = _model(args, tokenizer.vocabulary_size)
    model(x_tr[:2])
    n_batches = int(np.ceil(10000 / args.batch_size))
    exact, seconds = _train(model, train_ds, x_val, y_val, args, n_batches * args.epochs)
    result = {
        "protocol": "d2l 1.0 TimeMachine: windows 0..9999 train, 10000..14999 validation, "
                    "num_steps 32, 28 symbols (+ padding id)",
        "config": vars(args), "parameters": int(model.count_params()),
        "best_epoch": exact.best_epoch, "validation_perplexity": float(np.exp(exact.best)),
        "validation_bits_per_char": float(exact.best / np.log(2)),
        "train_seconds": seconds, "epochs": exact.rows, "data": info,
        "validation_perplexity_by_position": np.exp(
            _cross_entropy(model, x_val, y_val, per_position=True)).tolist(),
    }
    print("val perplexity by position in the window (1 = one character of context):",
          " ".join(f"{p:.1f}" for p in result["validation_perplexity_by_position"]))
    print("\n| protocol | model | params | best epoch | val perplexity | bits/char | train s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| d2l (10k/5k windows, 32 steps) | {args.cell} x{args.layers} {args.units}u "
          f"emb {args.embedding_dim} drop {args.dropout} | {model.count_params():,} | "
          f"{exact.best_epoch} | {result['validation_perplexity']:.3f} | "
          f"{result['validation_bits_per_char']:.3f} | {seconds:.0f} |")
    return result


def _non_overlapping(ids, steps):
    n = (len(ids) - 1) // steps
    return ids[:n * steps].reshape(n, steps), ids[1:n * steps + 1].reshape(n, steps)


def part_full(args):
    """The full book per protocol: validation (last 10%) chooses, a held-out tenth tests.

    The first 80% of the book trains; the last 10% (the validation part every earlier choice
    of this benchmark was made on) drives early stopping and the best weights; the tenth
    between them is never trained on and is scored once per seed (`--seeds`).
    """
    tokenizer, ids, info = _book_ids()
    train_ids, val_ids = split_by_position(ids, 0.1)
    cut = int(round(len(train_ids) * 8 / 9))
    train_ids, test_ids = train_ids[:cut], train_ids[cut:]
    steps = args.num_steps
    x_val, y_val = _non_overlapping(val_ids, steps)
    x_test, y_test = _non_overlapping(test_ids, steps)

    def run_one(seed):
        train_ds = random_sampling_dataset(train_ids, args.batch_size, steps, seed=seed)
        keras.utils.set_random_seed(seed)
        model = _model(args, tokenizer.vocabulary_size)
        model(x_val[:2])
        n_batches = int(train_ds.cardinality().numpy())
        exact, seconds = _train(model, train_ds, x_val, y_val, args, n_batches * args.epochs)
        test_ce = _cross_entropy(model, x_test, y_test)  # the best weights, scored once
        return {"test_perplexity": float(np.exp(test_ce)),
                "test_bits_per_char": float(test_ce / np.log(2)),
                "validation_perplexity": float(np.exp(exact.best)),
                "best_epoch": exact.best_epoch, "train_seconds": seconds,
                "cut_by_time_limit": bool(exact.cut_by_time_limit), "epochs": exact.rows,
                "parameters": int(model.count_params())}

    summary = run_seeds(run_one, args.seeds, show=("test_perplexity", "validation_perplexity",
                                                   "best_epoch", "train_seconds"))
    result = {
        "protocol": f"full book, d2l symbols, by position: first 80% trains ({len(train_ids)} "
                    f"chars), the next 10% is the held-out test ({len(test_ids)} chars, never "
                    f"trained on, scored once per seed), the last 10% validates ({len(val_ids)} "
                    f"chars: early stopping, best weights, and every earlier choice); random "
                    f"sampling {steps} steps; scored over non-overlapping {steps}-char "
                    "subsequences (state reset each)",
        "config": vars(args), "data": info, **summary}
    mean, low, high = summary["mean"], summary["min"], summary["max"]
    print("\n| protocol | model | seeds | test perplexity (held out) | validation perplexity "
          "(chosen on) | train s |")
    print("|---|---|---|---|---|---|")
    print(f"| full book 80/10/10 | {args.cell} x{args.layers} {args.units}u | "
          f"{', '.join(map(str, args.seeds))} | {mean['test_perplexity']:.3f} "
          f"({low['test_perplexity']:.3f}–{high['test_perplexity']:.3f}) | "
          f"{mean['validation_perplexity']:.3f} ({low['validation_perplexity']:.3f}–"
          f"{high['validation_perplexity']:.3f}) | {mean['train_seconds']:.0f} |")
    return result


def part_generation(args):
    """Cached generation vs re-running the model on the growing prefix (rule 3 rows).

    Like-for-like rows: the same XLA setting on both sides (`--xla on`: ours'
    `generate(jit_compile=True)` vs the re-run forward under `tf.function(jit_compile=True)`,
    which compiles once per prefix length in the untimed warm-up; `--xla off`: both plain
    `tf.function` graphs). The "our defaults" row: `generate()` with its default compile
    setting (XLA for inference on CPU) vs the re-run without XLA, as measured before.
    """
    tokenizer = CharTokenizer("d2l")
    keras.utils.set_random_seed(args.seed)
    model = _model(args, tokenizer.vocabulary_size)
    prefix = tokenizer.tokenize_text("the time traveller")[None].astype("int32")
    model(prefix)
    n = args.num_chars
    total = prefix.shape[1] + n
    default_jit = bool(default_jit_compile("inference"))
    jits = {"both": (True, False), "on": (True,), "off": (False,)}[args.xla]

    def rerun_fn(jit):
        forward = tf.function(lambda ids: model(ids, training=False)[:, -1],
                              reduce_retracing=True, jit_compile=jit)

        def rerun():
            ids = tf.constant(prefix)
            for _ in range(n):
                nxt = tf.argmax(forward(ids), axis=-1, output_type=tf.int32)
                ids = tf.concat([ids, nxt[:, None]], axis=1)
            return ids.numpy()
        return rerun

    def ours_fn(jit):
        return lambda: model.generate(prefix, total, jit_compile=jit)

    fns, first_call = {}, {}
    for jit in jits:
        tag = "xla" if jit else "graph"
        fns[f"ours/{tag}"], fns[f"rerun/{tag}"] = ours_fn(jit), rerun_fn(jit)
    fns.setdefault(f"ours/{'xla' if default_jit else 'graph'}", ours_fn(default_jit))
    fns.setdefault("rerun/graph", rerun_fn(False))  # the defaults row's baseline
    outputs = {}
    for name, fn in fns.items():  # first call: tracing / compiling, kept apart
        t0 = time.perf_counter()
        outputs[name] = np.asarray(fn())
        first_call[name] = time.perf_counter() - t0
    same = all(np.array_equal(outputs["ours/xla" if default_jit else "ours/graph"], o)
               for o in outputs.values())
    timed = interleaved_median(fns, calls=1, rounds=args.repeats, warmup=0)
    med = {k: v["median_s"] for k, v in timed.items()}
    rows = []
    for jit in jits:
        tag = "xla" if jit else "graph"
        rows.append(speed_row(
            f"like-for-like: XLA {'on' if jit else 'off'} both sides", med[f"ours/{tag}"],
            med[f"rerun/{tag}"], True, unit=f"seconds for {n} chars",
            ours_chars_per_second=n / med[f"ours/{tag}"],
            baseline_chars_per_second=n / med[f"rerun/{tag}"]))
    ours_tag = "xla" if default_jit else "graph"
    differences = (["ours XLA-compiled (`generate()`'s default on this machine), baseline a "
                    "tf.function without XLA"] if default_jit else [])
    if differences:
        rows.append(speed_row(
            "our defaults (as measured before)", med[f"ours/{ours_tag}"], med["rerun/graph"],
            False, differences, unit=f"seconds for {n} chars",
            ours_chars_per_second=n / med[f"ours/{ours_tag}"],
            baseline_chars_per_second=n / med["rerun/graph"]))
    result = {
        "model": f"{args.cell} x{args.layers} {args.units}u", "num_chars": n,
        "prefix_chars": int(prefix.shape[1]), "repeats": args.repeats,
        "figure": "median seconds per generation of num_chars, interleaved rounds",
        "rows": rows, "seconds_per_call": {k: v["times_s"] for k, v in timed.items()},
        "first_call_seconds": first_call, "same_greedy_tokens": same,
        "generate_default_jit_compile": default_jit,
        "speedup": rows[-1]["ratio"], "speedup_like_for_like": rows[0]["ratio"],
        "generate_traces": model.generate_traces,
    }
    print(f"\ncached generation (prefill + one while_loop) vs re-running the model on the "
          f"growing prefix: {n} chars after {prefix.shape[1]}, batch 1, median of "
          f"{args.repeats} interleaved rounds; same greedy tokens: {same}")
    print_speed_rows(rows, unit=f"ms / {n} chars")
    print("first calls (s): " + ", ".join(f"{k} {v:.2f}" for k, v in first_call.items()))
    return result


def part_training(args):
    """Train-step speed of ours vs a plain Keras Embedding -> LSTM -> Dense (rule 3 rows).

    Every model trains on the same batches (seq 35, batch 32) with `train_on_batch`; the
    models take turns in interleaved rounds (`bench_common.interleaved_median`) and the
    figure is the median time per step. Like-for-like rows (one per `--precision` and
    `--xla` setting): the same architecture, precision, Adam(1e-3) without clipping and
    compile setting on both sides. The "our defaults" row: ours in `--policy` with global
    clipnorm `--clip-norm` vs the plain model in float32, no XLA (as measured before).
    """
    vocab, seq, batch, units = 29, 35, 32, args.units
    steps = args.steps_per_block
    rng = np.random.default_rng(0)
    x = rng.integers(2, vocab, (batch * steps, seq)).astype("int32")
    y = rng.integers(2, vocab, (batch * steps, seq)).astype("int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def plain(policy, jit):
        keras.config.set_dtype_policy(policy)
        inp = keras.Input((seq,), dtype="int32")
        h = keras.layers.Embedding(vocab, args.embedding_dim)(inp)
        h = keras.layers.LSTM(units, return_sequences=True)(h)
        m = keras.Model(inp, keras.layers.Dense(vocab, dtype="float32")(h))
        m.compile(keras.optimizers.Adam(1e-3), loss, jit_compile=jit)
        return m

    def ours(policy, jit, clip):
        keras.config.set_dtype_policy(policy)
        m = CharLanguageModel(vocab, cell="lstm", hidden_dim=units,
                              embedding_dim=args.embedding_dim)
        m.compile(keras.optimizers.Adam(1e-3, global_clipnorm=clip), loss, jit_compile=jit)
        return m

    precisions = {"both": ("float32", "mixed_bfloat16")}.get(args.precision, (args.precision,))
    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    specs = {}  # name -> (factory, arguments)
    for policy in precisions:
        for jit in jits:
            tag = f"{policy}/{'xla' if jit else 'no-xla'}"
            specs[f"plain/{tag}"] = (plain, (policy, jit))
            specs[f"ours/{tag}"] = (ours, (policy, jit, None))
    specs.setdefault("plain/float32/no-xla", (plain, ("float32", False)))
    specs[f"ours-defaults/{args.policy}/clip{args.clip_norm:g}"] = (
        ours, (args.policy, False, args.clip_norm or None))
    models, fns = {}, {}
    for name, (factory, fargs) in specs.items():
        keras.utils.set_random_seed(args.seed)
        models[name] = factory(*fargs)
        keras.config.set_dtype_policy("float32")
        counter = iter(range(10 ** 9))

        def step(m=models[name], counter=counter):
            i = next(counter) % steps
            return m.train_on_batch(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
        fns[name] = step
    timed = interleaved_median(fns, calls=steps, rounds=args.blocks, warmup=2)
    med = {k: v["median_s"] for k, v in timed.items()}

    def figures(a, b):
        return {"ours_chars_per_second": batch * seq / med[a],
                "baseline_chars_per_second": batch * seq / med[b],
                "ours_model": a, "baseline_model": b, "unit": "seconds per train step"}

    rows = []
    for policy in precisions:
        for jit in jits:
            tag = f"{policy}/{'xla' if jit else 'no-xla'}"
            rows.append(speed_row(
                f"like-for-like: {policy} both, XLA {'on' if jit else 'off'} both, no clipping",
                med[f"ours/{tag}"], med[f"plain/{tag}"], True,
                **figures(f"ours/{tag}", f"plain/{tag}")))
    name = f"ours-defaults/{args.policy}/clip{args.clip_norm:g}"
    differences = []
    if args.policy != "float32":
        differences.append(f"{args.policy} (baseline float32)")
    if args.clip_norm:
        differences.append(f"global gradient clipnorm {args.clip_norm:g} (baseline none)")
    if differences:
        rows.append(speed_row("our defaults (as measured before), XLA off both",
                              med[name], med["plain/float32/no-xla"], False, differences,
                              **figures(name, "plain/float32/no-xla")))
    result = {"rows": rows, "seq": seq, "batch": batch, "units": units,
              "policy": args.policy, "precision": args.precision, "xla": args.xla,
              "blocks": args.blocks, "steps_per_block": steps,
              "figure": "median seconds per train step (train_on_batch), interleaved rounds",
              "models": {k: {"median_step_ms": 1e3 * med[k], "steps": timed[k]["calls"],
                             "parameters": int(models[k].count_params())} for k in models},
              "speedup": rows[-1]["ratio"], "speedup_like_for_like": rows[0]["ratio"],
              "cpu_threads": os.cpu_count()}
    print(f"\ntrain step, LSTM({units}) char LM, seq {seq}, batch {batch}: median of "
          f"{args.blocks} interleaved rounds of {steps} steps per model")
    print_speed_rows(rows, unit="ms/step")
    return result


def part_app_d2l(args):
    """The char-lm APPLICATION's defaults on d2l's data, per protocol (issue 23).

    `keras-seq train char-lm` with its default options (only the data, the seed and the run
    folder given) on the first 15,032 characters of the d2l-standardized book: characters
    0..10,031 (d2l's 10,000 training windows) train, 10,032..15,031 are the application's
    validation text (early stopping, best weights). Scored once per seed from the saved task:
    d2l's validation windows 10,000..14,999 (32 steps, stride 1; the figure d2l reports,
    chosen on: early stopping saw it) and an untouched slice, windows 20,000..24,999 of the
    same book (no choice saw it).
    """
    import tempfile

    import keras_seq
    from keras_seq.applications import char_lm

    tokenizer, ids, info = _book_ids()
    x_val, y_val = windows(ids, 32, start=10000, count=5000)
    x_new, y_new = windows(ids, 32, start=20000, count=5000)
    used = 15032  # the last character of the last d2l validation window
    root = pathlib.Path(tempfile.mkdtemp(prefix="char_lm_app_d2l_"))

    def run_one(seed):
        run_dir = root / f"seed{seed}"
        metrics = char_lm.run(char_lm.build_parser().parse_args([
            "--data-file", info["path"], "--max-chars", str(used),
            "--val-fraction", repr(5000 / used), "--seed", str(seed),
            "--run-dir", str(run_dir), "--verbose", "0"]), log=lambda line: None)
        task = keras_seq.load(run_dir)
        assert task.preprocessor.vocabulary_size == tokenizer.vocabulary_size
        assert np.array_equal(np.asarray(task.preprocessor.ids("the time machine")),
                              np.asarray(tokenizer.tokenize_text("the time machine")))
        return {"d2l_validation_perplexity": float(np.exp(_cross_entropy(task.network, x_val,
                                                                          y_val))),
                "untouched_perplexity": float(np.exp(_cross_entropy(task.network, x_new,
                                                                    y_new))),
                "app_validation_perplexity": metrics["validation_perplexity"],
                "epochs_run": metrics["epochs_run_this_call"],
                "fit_seconds": metrics["fit_seconds"], "run_dir": str(run_dir)}

    summary = run_seeds(run_one, args.seeds, show=("d2l_validation_perplexity",
                                                    "untouched_perplexity", "epochs_run"))
    print("\n| model | seeds | d2l validation ppl (early stopping saw it) | untouched ppl "
          "(windows 20,000..24,999) |")
    print("|---|---|---|---|")
    print(f"| `keras-seq train char-lm` defaults | {', '.join(map(str, args.seeds))} | "
          f"{summary['mean']['d2l_validation_perplexity']:.3f} "
          f"({summary['min']['d2l_validation_perplexity']:.3f}-"
          f"{summary['max']['d2l_validation_perplexity']:.3f}) | "
          f"{summary['mean']['untouched_perplexity']:.3f} "
          f"({summary['min']['untouched_perplexity']:.3f}-"
          f"{summary['max']['untouched_perplexity']:.3f}) |")
    return {"protocol": "the application's defaults; train chars 0..10,031, early stopping "
                        "on chars 10,032..15,031; d2l validation windows 10,000..14,999 "
                        "(seen by early stopping) and untouched windows 20,000..24,999, 32 "
                        "steps, stride 1", "data": info, **summary}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("d2l", "full", "generation", "training", "app_d2l"),
                   required=True)
    p.add_argument("--cell", default="lstm", choices=("elman", "rnn", "gru", "lstm"))
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--recurrent-dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-steps", type=int, default=64, help="full part only (d2l uses 32)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip-norm", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--steps-per-epoch", type=int, default=0,
                   help="train steps between validations (0 = one pass over the data)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (0 = Adam)")
    p.add_argument("--adversarial", type=float, default=0.0, metavar="EPSILON",
                   help="d2l/full parts: adversarial training of the character vectors "
                        "(keras_seq.training.AdversarialEmbeddingTrainer; 0 = off)")
    p.add_argument("--input-noise", type=float, default=0.0, metavar="P",
                   help="d2l part: replace each training input character (not the target) "
                        "by a random symbol with probability P")
    p.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                   help="validate, early-stop on and keep an exponential moving average of "
                        "the weights (Adam's use_ema) with this momentum; 0 = the raw weights")
    p.add_argument("--snapshots", type=int, default=1, metavar="K",
                   help="--ensemble: each member also adds the weights of the K-1 epochs after "
                        "its best one (trained anyway while patience waits) to the average")
    p.add_argument("--snapshots-before", type=int, default=0, metavar="J",
                   help="--ensemble: each member also adds the weights of the J epochs before "
                        "its best one")
    p.add_argument("--cycles", type=int, default=0, metavar="C",
                   help="after early stopping, C more cosine cycles from the best weights "
                        "(fresh Adam, from --cycle-lr down); with --ensemble each cycle's end "
                        "is one more snapshot in the average")
    p.add_argument("--cycle-epochs", type=int, default=2, metavar="E")
    p.add_argument("--cycle-lr", type=float, default=1.5e-3)
    p.add_argument("--vary", action="append", default=[], metavar="OPTION=V1,V2,...",
                   help="--ensemble: member k uses value k mod n of this option (e.g. "
                        "--vary units=256,384 alternates the width); repeatable")
    p.add_argument("--time-limit", type=float, default=600.0)
    p.add_argument("--num-chars", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--policy", default="mixed_bfloat16",
                   help="training: ours' policy in the 'our defaults' row")
    p.add_argument("--precision", default="both", choices=("float32", "mixed_bfloat16", "both"),
                   help="training: the precision of BOTH sides in the like-for-like rows")
    p.add_argument("--xla", default="both", choices=("off", "on", "both"),
                   help="generation/training: the XLA setting of BOTH sides in the "
                        "like-for-like rows")
    p.add_argument("--blocks", type=int, default=6, help="training: interleaved rounds")
    p.add_argument("--steps-per-block", type=int, default=20,
                   help="training: timed steps per model per round")
    p.add_argument("--quick", action="store_true",
                   help="generation/training: a short check (< 1 min on 2 cores): 20 chars, "
                        "2 repeats / 2 rounds of 4 steps; figures not for the record")
    p.add_argument("--out", default=None,
                   help="JSON path (default benchmarks/out/char_lm_<part><tag>.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="", help="suffix of the JSON file name")
    p.add_argument("--ensemble", type=int, default=1,
                   help="d2l part: train N members and average their probabilities")
    p.add_argument("--mixed-precision", action="store_true",
                   help="d2l/full parts: train with the mixed_bfloat16 policy")
    add_seeds_argument(p, help_text="app_d2l and full parts: the seeds of the reported "
                       "configuration (default 1337 7)")
    args = p.parse_args(argv)
    check_seeds(p, args.seeds)
    if args.cycles and args.ema:
        p.error("--cycles keeps each cycle's raw weights; it does not combine with --ema")
    if args.quick:
        args.num_chars, args.repeats, args.blocks, args.steps_per_block = 20, 2, 2, 4
    if args.mixed_precision and args.part in ("d2l", "full"):
        keras.config.set_dtype_policy("mixed_bfloat16")
    result = globals()[f"part_{args.part}"](args)
    result.update(command="python " + " ".join(sys.argv), tensorflow=tf.__version__,
                  keras=keras.__version__, note="2-core CPU shared with other jobs; timings noisy")
    OUT.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(args.out) if args.out else OUT / f"char_lm_{args.part}{args.tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
