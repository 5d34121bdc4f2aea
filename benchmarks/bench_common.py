"""Shared by the benchmark scripts: the protocol of `benchmarks/RESULTS.md`, in code.

- `choose_on_validation(rows, key, mode)`: the configuration with the best VALIDATION figure
  (a key naming the test split is refused, so a choice cannot be made on test);
- `run_seeds(run_one, seeds)` / `seed_summary(seeds, per_seed)`: one configuration run for
  several seeds; mean, min and max per metric, each seed's figure kept;
- `add_seeds_argument(parser)`: the `--seeds` option (default two seeds);
- `format_spread(summary, metric)`: "mean (min–max, N seeds)" for the printed tables;
- `validation_only(application)`: a lifecycle application (`keras_seq.lifecycle`) whose
  evaluation scores the validation split in place of the test split (for the choosing runs);
- `held_out_test(application, fraction)`: a lifecycle application that never trains on the
  last `fraction` of its training part (the data just before its validation part), kept as a
  test slice no choice has seen (for the language models, whose data has no test split);
- `machine_info()`: the machine a figure was measured on;
- `interleaved_median(fns, calls, rounds)`: A/B(/C...) timing of rule 3: the callables take
  turns round by round in one process (order rotated), each result blocked on, median per call;
- `speed_row(...)` / `print_speed_rows(rows)`: one labelled ratio row (`like_for_like` and
  the `differences` it names) and the printed table of such rows.
"""

import math
import os
import platform
import statistics
import time

DEFAULT_SEEDS = (1337, 7)


def choose_on_validation(rows, key, mode="max"):
    """The row whose validation figure `row[key]` is best; the first one on a tie.

    Args:
        rows: the configurations compared (dicts), in the order they were run.
        key: the validation metric: a key present in every row whose name contains
            "val" and does not name the test split (e.g. "validation_span_f1",
            "best_val_accuracy", "validation_model_mae").
        mode: "max" (accuracy, F1) or "min" (a loss, an error).

    Returns:
        The chosen row (the same object as in `rows`).

    Raises:
        ValueError: no rows, a key naming the test split or not a validation figure, a row
            without the key, a bad `mode`, or a figure that is not a finite number.

    Example:

    >>> rows = [{"cell": "gru", "validation_f1": 0.91}, {"cell": "lstm", "validation_f1": 0.93}]
    >>> choose_on_validation(rows, "validation_f1", "max")["cell"]
    'lstm'
    """
    if mode not in ("max", "min"):
        raise ValueError(f"`mode` must be 'max' or 'min', got mode={mode!r}.")
    if not isinstance(key, str) or "test" in key.lower() or "val" not in key.lower():
        raise ValueError(f"`key` must name a validation figure (contain 'val', not 'test'): "
                         f"choices are made on validation, got key={key!r}.")
    rows = list(rows)
    if not rows:
        raise ValueError("`rows` must hold at least one configuration, got none.")
    figures = []
    for i, row in enumerate(rows):
        if key not in row:
            raise ValueError(f"row {i} has no {key!r}; expected every row to carry its "
                             f"validation figure, got keys {sorted(row)}.")
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise ValueError(f"row {i}: {key}={value!r}; expected a finite number.")
        figures.append(value)
    best = (max if mode == "max" else min)(figures)
    return rows[figures.index(best)]


def seed_summary(seeds, per_seed):
    """Mean, min and max over seeds of every numeric metric, each seed's figure kept.

    Args:
        seeds: the seeds, one per entry of `per_seed`.
        per_seed: one dict of metrics per seed (the same keys; non-numeric values are kept in
            `per_seed` and left out of the statistics).

    Returns:
        A JSON-ready dict: `seeds`, `per_seed` (the dicts, each with its "seed"), `mean`,
        `min`, `max` (metric -> value, over the numeric metrics every seed has) and
        `headline` (True when there are at least 2 seeds: a headline figure needs 2).

    Raises:
        ValueError: no seeds, or `seeds` and `per_seed` of different lengths.

    Example:

    >>> s = seed_summary([1, 2], [{"acc": 0.8}, {"acc": 0.9}])
    >>> round(s["mean"]["acc"], 4), s["min"]["acc"], s["max"]["acc"], s["headline"]
    (0.85, 0.8, 0.9, True)
    """
    seeds, per_seed = list(seeds), list(per_seed)
    if not seeds or len(seeds) != len(per_seed):
        raise ValueError(f"`seeds` and `per_seed` must be non-empty and of the same length, "
                         f"got {len(seeds)} seeds and {len(per_seed)} results.")
    numeric = [k for k, v in per_seed[0].items() if _is_number(v) and k != "seed"
               and all(_is_number(r.get(k)) for r in per_seed)]
    summary = {"seeds": seeds, "per_seed": [{"seed": s, **r} for s, r in zip(seeds, per_seed)],
               "mean": {}, "min": {}, "max": {}, "headline": len(seeds) >= 2}
    for k in numeric:
        values = [float(r[k]) for r in per_seed]
        summary["mean"][k] = statistics.fmean(values)
        summary["min"][k] = min(values)
        summary["max"][k] = max(values)
    return summary


def run_seeds(run_one, seeds, log=print, show=None):
    """Runs one configuration once per seed; returns `seed_summary` of the results.

    Args:
        run_one: called as `run_one(seed)`, returns a dict of metrics.
        seeds: the seeds (distinct ints).
        log: called with one line per seed (and a warning for fewer than 2 seeds).
        show: the metrics that line shows (default: every numeric one).

    Raises:
        ValueError: no seeds or a repeated seed.

    Example:

    >>> run_seeds(lambda seed: {"acc": seed / 10}, [1, 3], log=lambda line: None)["mean"]
    {'acc': 0.2}
    """
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct and at least one, got seeds={seeds!r}.")
    if len(seeds) < 2:
        log(f"NOTE: {len(seeds)} seed: not a headline figure (the protocol needs >= 2 seeds).")
    results = []
    for seed in seeds:
        results.append(run_one(seed))
        log(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[-1].items()
                                         if _is_number(v) and (show is None or k in show)))
    return seed_summary(seeds, results)


def add_seeds_argument(parser, default=DEFAULT_SEEDS, help_text=None):
    """Adds `--seeds S [S ...]` (distinct ints, default two seeds) to an argparse parser."""
    parser.add_argument("--seeds", nargs="+", type=int, default=list(default),
                        help=help_text or "seeds of the reported configuration (its figures "
                        "are the mean and min-max over them; default "
                        f"{' '.join(map(str, default))})")
    return parser


def check_seeds(parser, seeds):
    """`parser.error` (one line, exit 2) when `seeds` repeats a seed."""
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seeds must be distinct, got {' '.join(map(str, seeds))}")


def format_spread(summary, metric, digits=4):
    """'mean (min–max, N seeds)' of `metric` in a `seed_summary`.

    Example:

    >>> format_spread(seed_summary([1, 2], [{"f1": 0.9}, {"f1": 0.8}]), "f1", 2)
    '0.85 (0.80–0.90, 2 seeds)'
    """
    n = len(summary["seeds"])
    return (f"{summary['mean'][metric]:.{digits}f} ({summary['min'][metric]:.{digits}f}–"
            f"{summary['max'][metric]:.{digits}f}, {n} seed{'s' if n != 1 else ''})")


def validation_only(application):
    """A copy of a lifecycle application that scores the validation split in place of test.

    The returned application's `load_data` hands the validation split to the application's
    own evaluation (and export check) under the name "test", so the test split is never
    scored, and its `evaluate` renames the metrics `test_*` to `validation_*` (metrics.json
    of the run folder says `"scored_split": "validation"`). Used for the runs that a choice
    is made on.

    Args:
        application: a `keras_seq.lifecycle.Application` instance (e.g.
            `keras_seq.applications.imdb.APPLICATION`).

    Returns:
        A new application of a subclass of `type(application)`.
    """
    base = type(application)

    class ValidationOnly(base):
        def load_data(self, config, log):
            splits, info = super().load_data(config, log)
            splits = dict(splits, test=splits["validation"])
            info = dict(info, scored_split="validation (the test split is not scored)")
            return splits, info

        def evaluate(self, task, config, splits, history, run_dir, log):
            metrics = super().evaluate(task, config, splits, history, run_dir, log)
            renamed = {("validation_" + k[5:] if k.startswith("test_") else k): v
                       for k, v in metrics.items()}
            return {**renamed, "scored_split": "validation"}

        def summary(self, config, metrics, run_dir):
            shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in metrics.items()
                              if k.startswith("validation_") and _is_number(v))
            return [f"Validation only (the test split is not scored): {shown}."]

    ValidationOnly.__name__ = ValidationOnly.__qualname__ = f"ValidationOnly{base.__name__}"
    return ValidationOnly()


def held_out_test(application, fraction=1 / 9):
    """A copy of a lifecycle application that keeps the end of its training part as a test slice.

    The language-model applications split their text by position into training and
    validation parts only, and their defaults were chosen on that validation part. The
    returned application cuts the last `fraction` of the training part (by position: the
    text, sentences or tokens just before the validation part) off before anything is built
    from it (vocabulary, model, datasets), so the model never sees it and no choice has used
    it. The validation part is unchanged. A text is cut at the start of a line. The slice is
    `application.held_out_test` after `load_data`; the data info records its size
    (`held_out_test_units`) and what was trained on (`trained_units`); counts the
    application itself put in the info (e.g. gpt-lm's `train_tokens`) still describe the
    training part before the cut.

    Args:
        application: a `keras_seq.lifecycle.Application` instance whose `load_data` returns
            `{"train": ..., "validation": ...}` with a sliceable training part (a string or a
            list).
        fraction: the share of the training part held out, in (0, 1) (default 1/9: the tenth
            of the data before the last tenth when validation is the last 10%).

    Returns:
        A new application of a subclass of `type(application)`.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"`fraction` must be in (0, 1), got fraction={fraction!r}.")
    base = type(application)

    class HeldOutTest(base):
        held_out_test = None

        def load_data(self, config, log):
            splits, info = super().load_data(config, log)
            train = splits["train"]
            cut = int(round(len(train) * (1.0 - fraction)))
            if isinstance(train, str):  # at the start of a line
                cut = train.rfind("\n", 0, cut) + 1 or cut
            if not 0 < cut < len(train):
                raise ValueError(f"holding out {fraction:.3g} of {len(train)} training units "
                                 "leaves nothing to train on or nothing to test")
            self.held_out_test = train[cut:]
            info = dict(info, held_out_test=f"the last {len(train) - cut} of {len(train)} "
                        "units of the training part (never trained on, no choice saw it)",
                        held_out_test_units=len(train) - cut, trained_units=cut)
            return dict(splits, train=train[:cut]), info

    HeldOutTest.__name__ = HeldOutTest.__qualname__ = f"HeldOutTest{base.__name__}"
    return HeldOutTest()


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def machine_info():
    """Python/TF/Keras versions, CPU and GPU counts and the platform, for the JSON outputs."""
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(),
            "gpus": len(tf.config.list_physical_devices("GPU")), "platform": platform.platform()}


def block(out):
    """Waits for `out` (a tensor, array, number or a list/tuple/dict of them) to be computed.

    Every leaf with a `.numpy()` method (TensorFlow tensors, Keras variables) is copied to the
    host, which waits for the computation that produces it; other leaves are left as they are.
    Returns `out` unchanged.

    Example:

    >>> block({"a": [1, 2.0], "b": (None,)})
    {'a': [1, 2.0], 'b': (None,)}
    """
    if isinstance(out, dict):
        for value in out.values():
            block(value)
    elif isinstance(out, (list, tuple)):
        for value in out:
            block(value)
    elif hasattr(out, "numpy"):
        out.numpy()
    return out


def interleaved_median(fns, calls=1, rounds=3, warmup=1, clock=time.perf_counter):
    """Median seconds per call of each callable, timed interleaved in one process (rule 3).

    Each callable is first called `warmup` times untimed (tracing, compiling). Then, for each
    of `rounds` rounds, every callable is called `calls` times in a row, each call timed on
    its own and its result blocked on (`block`); the order of the callables rotates by one
    each round so none is always first after another's caches.

    Args:
        fns: {name: callable()} (insertion order is the first round's order).
        calls: timed calls per callable per round (>= 1).
        rounds: rounds (>= 1).
        warmup: untimed calls per callable before the first round (>= 0).
        clock: the clock (seconds; injectable for tests).

    Returns:
        {name: {"median_s": median seconds per call, "calls": number of timed calls,
        "times_s": every timed call in order}}.

    Raises:
        ValueError: no callables, a value that is not callable, or calls / rounds < 1 or
            warmup < 0.

    Example:

    >>> t = interleaved_median({"a": lambda: 1, "b": lambda: 2}, calls=2, rounds=2)
    >>> sorted(t), t["a"]["calls"]
    (['a', 'b'], 4)
    """
    fns = dict(fns)
    if not fns or not all(callable(fn) for fn in fns.values()):
        raise ValueError(f"`fns` must map names to callables, got {sorted(map(str, fns))} "
                         f"with values {[type(f).__name__ for f in fns.values()]}.")
    for name, value, least in (("calls", calls, 1), ("rounds", rounds, 1),
                               ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"`{name}` must be an int >= {least}, got {name}={value!r}.")
    for fn in fns.values():
        for _ in range(warmup):
            block(fn())
    names, times = list(fns), {name: [] for name in fns}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            for _ in range(calls):
                start = clock()
                block(fns[name]())
                times[name].append(clock() - start)
    return {name: {"median_s": statistics.median(t), "calls": len(t), "times_s": t}
            for name, t in times.items()}


def speed_row(row, ours_s, baseline_s, like_for_like, differences=(), **extra):
    """One labelled speed-ratio row for the JSON outputs and tables (rule 3).

    Args:
        row: what the row measures (e.g. "like-for-like: fp32 both, XLA off both").
        ours_s: our median seconds per unit (step, call, sentence...).
        baseline_s: the baseline's median seconds per the same unit.
        like_for_like: True when the two sides run the same architecture, batch, length,
            precision, optimizer and compile setting; False for an "our defaults" row.
        differences: each difference of our side in a non-like-for-like row (must be empty
            for a like-for-like row and non-empty otherwise).
        **extra: more JSON fields for the row (figures of each side, settings...).

    Returns:
        A dict with `row`, `like_for_like`, `differences` (a list), `ours_s`, `baseline_s`,
        `ratio` (baseline_s / ours_s: > 1 means ours is faster) and `extra`'s keys.

    Raises:
        ValueError: a time that is not a positive finite number, a like-for-like row with
            differences or a non-like-for-like row without any.

    Example:

    >>> r = speed_row("fp32 both", 0.5, 1.0, True)
    >>> r["ratio"], r["like_for_like"], r["differences"]
    (2.0, True, [])
    """
    for name, value in (("ours_s", ours_s), ("baseline_s", baseline_s)):
        if not _is_number(value) or value <= 0:
            raise ValueError(f"`{name}` must be a positive finite number of seconds, got "
                             f"{name}={value!r}.")
    differences = [str(d) for d in differences]
    if like_for_like and differences:
        raise ValueError(f"a like-for-like row names no differences, got "
                         f"differences={differences!r}.")
    if not like_for_like and not differences:
        raise ValueError("a row that is not like-for-like must name each difference, got "
                         "differences=[].")
    return {"row": row, "like_for_like": bool(like_for_like), "differences": differences,
            "ours_s": float(ours_s), "baseline_s": float(baseline_s),
            "ratio": float(baseline_s) / float(ours_s), **extra}


def print_speed_rows(rows, unit="ms", scale=1e3, log=print):
    """Prints `speed_row` rows as a markdown table, then each row's differences.

    Example:

    >>> print_speed_rows([speed_row("fp32 both", 0.5, 1.0, True)])
    | row | like-for-like | ours ms | baseline ms | ratio (> 1: ours faster) |
    |---|---|---|---|---|
    | fp32 both | yes | 500.00 | 1000.00 | 2.00x |
    """
    log(f"| row | like-for-like | ours {unit} | baseline {unit} | ratio (> 1: ours faster) |")
    log("|---|---|---|---|---|")
    for r in rows:
        log(f"| {r['row']} | {'yes' if r['like_for_like'] else 'no'} | "
            f"{scale * r['ours_s']:.2f} | {scale * r['baseline_s']:.2f} | {r['ratio']:.2f}x |")
    for r in rows:
        if r["differences"]:
            log(f"{r['row']}: differs in " + "; ".join(r["differences"]))
