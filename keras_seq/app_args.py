"""Command-line argument types and option groups shared by the applications."""

import argparse
import math


def positive_int(name):
    """An argparse type: an int > 0, with an error that names the option."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}")
        return value
    return parse


def float_in(name, low, high, low_open=False, high_open=True):
    """An argparse type: a finite float in [low, high) (brackets set by `low_open`/`high_open`)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        ok = value is not None and math.isfinite(value) and \
            (value > low if low_open else value >= low) and \
            (value < high if high_open else value <= high)
        if not ok:
            lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
            raise argparse.ArgumentTypeError(
                f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {text!r}")
        return value
    return parse


def add_run_arguments(parser, default_epochs, default_batch_size, quick_help):
    """The options every application shares: training length, XLA, seed, run folder."""
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int("--epochs"), default=default_epochs)
    g.add_argument("--batch-size", type=positive_int("--batch-size"), default=default_batch_size)
    g.add_argument("--learning-rate", type=float_in("--learning-rate", 0.0, 10.0, low_open=True),
                   default=1e-3)
    g.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA for the train step; auto = keras_seq.runtime default "
                        "(on for GPU/TPU, off for CPU training where it measured slower)")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--time-budget-minutes",
                   type=float_in("--time-budget-minutes", 0.0, 1e6, low_open=True),
                   default=None,
                   help="stop training once this much wall time is spent (the epoch's "
                        "validation, logs and export still run)")
    g.add_argument("--quick", action="store_true", help=quick_help)
    add_output_arguments(parser)
    return parser


def add_text_corpus_arguments(group):
    """Adds the options of the apps that train on The Time Machine or any text file.

    `--data-file`, `--data-dir`, `--dataset auto|timemachine|generated` and `--no-download`,
    as read by `keras_seq.data.timemachine.load_text` (char-lm, gpt-lm, bert-mlm, elmo-lm).

    Args:
        group: an `argparse` parser or argument group.
    """
    group.add_argument("--data-file", default=None,
                       help="any UTF-8 text file to train on (instead of The Time Machine)")
    group.add_argument("--data-dir", default=None,
                       help="folder holding timemachine.txt (or timemachine/timemachine.txt). "
                            "Default: $KERAS_SEQ_DATA_DIR, ../shared/datasets, the cache, "
                            "or a download")
    group.add_argument("--dataset", choices=("auto", "timemachine", "generated"),
                       default="auto",
                       help="auto: the book if found/downloadable, else the generated corpus; "
                            "timemachine: the book or an error; generated: the generated "
                            "corpus")
    group.add_argument("--no-download", action="store_true", help="never try to download")


def add_distribution_arguments(parser):
    """The "distribution" option group: `--strategy`, `--cpu-devices`, `--collective-timeout`.

    Read by `run_main`, which starts a `keras_seq.distribution.TrainingCluster` and runs the
    whole application inside its strategy scope.
    """
    from keras_seq.distribution.training_cluster import STRATEGIES

    g = parser.add_argument_group(
        "distribution", "train on tf.distribute; --batch-size is the global batch, split "
                        "evenly across the replicas")
    g.add_argument("--strategy", choices=STRATEGIES, default="none",
                   help="none (default); one-device (OneDeviceStrategy); mirrored "
                        "(MirroredStrategy over the local GPUs, or --cpu-devices); "
                        "multi-worker (MultiWorkerMirroredStrategy across the processes named "
                        "by TF_CONFIG: start one per worker, same command and --run-dir)")
    g.add_argument("--cpu-devices", type=positive_int("--cpu-devices"), default=None,
                   help="with --strategy mirrored: split the CPU into this many logical "
                        "devices (data parallelism without GPUs, for testing)")
    g.add_argument("--collective-timeout",
                   type=float_in("--collective-timeout", 0.0, 1e7, low_open=True),
                   default=None,
                   help="multi-worker: fail a step that waits more than this many seconds for "
                        "the other workers (default: wait; a dead worker is still detected "
                        "by TensorFlow's heartbeat check)")
    return g


def add_output_arguments(parser, run_dir_help="use this run folder; an existing one is resumed "
                                                 "from its backup"):
    """The "outputs" option group (run folder, TensorBoard logs, export, verbosity), and the
    "distribution" group of `add_distribution_arguments`."""
    add_distribution_arguments(parser)
    g = parser.add_argument_group("outputs")
    g.add_argument("--runs-root", default="runs", help="parent of run folders (default runs/)")
    g.add_argument("--run-dir", default=None, help=run_dir_help)
    g.add_argument("--logdir", default=None, help="TensorBoard logs (default RUN/logs)")
    g.add_argument("--export-dir", default=None, help="SavedModel (default RUN/export)")
    g.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                   help="model.fit verbosity (default 2: one line per epoch)")
    return g


def resolve_jit(choice, purpose="train"):
    """'on'/'off' → bool; 'auto' → `keras_seq.runtime.default_jit_compile(purpose)`."""
    if choice == "on":
        return True
    if choice == "off":
        return False
    from keras_seq import runtime

    return runtime.default_jit_compile(purpose)


def restore_run_options(args, names, log=print, absent_in_old_runs=None):
    """For `--run-dir` holding a config.json: takes the options in `names` from it.

    A resumed run must keep what defines its data, vocabulary, model and optimizer, whatever
    the new command line says; each option that differs is reported through `log`. An option
    added after the run was made is missing from its config.json: `absent_in_old_runs` maps
    such an option to the value the run was made with (what the code did before the option
    existed), so an old run keeps its model even when the new default differs.
    """
    if not getattr(args, "run_dir", None):
        return args
    import json
    import pathlib

    config_file = pathlib.Path(args.run_dir) / "config.json"
    if not config_file.is_file():
        return args
    stored = json.loads(config_file.read_text(encoding="utf-8"))
    changed = []
    stored = {**(absent_in_old_runs or {}), **stored}
    for key in names:
        if key in stored and getattr(args, key, None) != stored[key]:
            changed.append(f"--{key.replace('_', '-')}={stored[key]!r}")
            setattr(args, key, stored[key])
    if changed:
        log(f"Resuming {args.run_dir}: options taken from its config.json: " + ", ".join(changed))
    return args


WORKER_LOST_EXIT_STATUS = 75  # EX_TEMPFAIL: restart the job to resume


def run_main(parser, run, argv=None):
    """Parses `argv` and calls `run(args)` inside the strategy of `--strategy`.

    A `ValueError` becomes a usage error (exit status 2). In a multi-worker job a lost worker
    (TensorFlow's `UnavailableError`/`DeadlineExceededError` in the other workers) ends the
    process with exit status 75 and the command that resumes from the last backup.
    """
    args = parser.parse_args(argv)
    try:
        run_in_cluster(run, args)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except WorkerLostError as error:
        parser.exit(WORKER_LOST_EXIT_STATUS, f"{parser.prog}: {error}\n")
    return 0


def model_scope():
    """The scope to build and compile models in: the current cluster's strategy scope.

    Without `--strategy` it is TensorFlow's default (no-op) strategy scope.
    """
    from keras_seq.distribution.training_cluster import current_cluster

    return current_cluster().scope()


class WorkerLostError(RuntimeError):
    """A worker of a multi-worker job stopped; the job must be restarted to resume."""


def run_in_cluster(run, args, log=print, **run_kwargs):
    """Starts the `TrainingCluster` of `args` (the current one while `run(args)` runs).

    The application builds and compiles its model inside `model_scope()`; the export and its
    check run outside (a SavedModel loaded under a strategy scope cannot be called).

    Args:
        run: the application's `run` function.
        args: its parsed options (with `--strategy` etc.; absent means "none").
        log: printer for the one line describing the distribution.
        **run_kwargs: more arguments for `run`.

    Returns:
        What `run` returns.

    Raises:
        WorkerLostError: another worker of a multi-worker job stopped.
    """
    from keras_seq.distribution.training_cluster import TrainingCluster

    cluster = TrainingCluster.from_args(args)
    if cluster.name == "none":
        return run(args, **run_kwargs)
    cluster.start()
    try:
        log(cluster.describe(getattr(args, "batch_size", None)))
        if getattr(args, "jit_compile", None) == "on" and cluster.num_replicas > 1:
            log("WARNING: --jit-compile on under a multi-replica strategy: XLA could not "
                "compile tf.distribute's collective operations on CPU here (auto leaves the "
                "distributed train step uncompiled); on GPUs this was not measured.")
        return run(args, **run_kwargs)
    except Exception as error:
        import tensorflow as tf

        lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.CancelledError, tf.errors.AbortedError)
        if cluster.name == "multi-worker" and isinstance(error, lost):
            where = f" --run-dir {args.run_dir}" if getattr(args, "run_dir", None) else ""
            raise WorkerLostError(
                f"a worker of this multi-worker job stopped ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0][:300]}). Start every worker again with "
                f"the same command{where}: training resumes from the last backup.") from error
        raise
    finally:
        cluster.close()


def open_run(app_name, args, data_info, log=print, **extra_config):
    """Creates (or reopens) the run folder, prints where everything goes, writes config.json.

    Args:
        app_name: the application's name (the folder under `--runs-root`).
        args: the resolved options (all of them go into config.json).
        data_info: dict describing the data used.
        log: printer.
        **extra_config: more entries for config.json (e.g. resolved settings).

    Returns:
        The `keras_seq.runs.RunDirectory`.
    """
    import keras
    import tensorflow as tf

    from keras_seq.runs import RunDirectory

    run_dir = RunDirectory(app_name, root=args.runs_root, run_dir=args.run_dir,
                           logdir=args.logdir, export_dir=args.export_dir)
    for line in run_dir.describe():
        log(line)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(app=app_name, data=data_info, run_dir=str(run_dir.path),
                  keras=keras.__version__, tensorflow=tf.__version__, **extra_config)
    run_dir.write_json("config.json", config)
    return run_dir


def compile_token_classifier(model, args, steps, jit, max_warmup_steps=1000):
    """Compiles a model that predicts token ids: Adam (clipnorm 1) with warm-up + cosine decay,
    sparse cross-entropy on logits, token accuracy weighted by the padding weights.

    Optional, read from `args` when present: `label_smoothing` (epsilon of
    `LabelSmoothedSparseCrossentropy`; 0 = plain cross-entropy) and `ema_momentum` (keep an
    exponential moving average of the weights in the optimizer; `fit` copies it into the
    model when training ends).
    """
    import keras

    from keras_seq.losses import LabelSmoothedSparseCrossentropy

    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=steps, warmup_target=args.learning_rate,
        warmup_steps=min(max_warmup_steps, max(1, steps // 10)))
    smoothing = float(getattr(args, "label_smoothing", 0.0) or 0.0)
    ema = getattr(args, "ema_momentum", None)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0, use_ema=bool(ema),
                                        ema_momentum=ema or 0.99),
        loss=(LabelSmoothedSparseCrossentropy(smoothing) if smoothing
              else keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit)
    return model


def training_callbacks(run_dir, args, app_callbacks=(), extra_callbacks=(), log=print):
    """The callbacks every application trains with, around its own ones.

    Time budget (with `--time-budget-minutes`), backups every 200 steps (resume a killed run),
    TensorBoard, the learning rate, `app_callbacks` (e.g. sample outputs), history.csv, then
    `extra_callbacks`.

    Returns:
        `(callbacks, budget)`; `budget` is the `TrainingTimeBudget` or None.
    """
    import keras

    from keras_seq.callbacks import (LearningRateLogger, ResumableBackupAndRestore,
                                     TrainingTimeBudget)

    callbacks = [
        ResumableBackupAndRestore(str(run_dir.backup), save_freq=200),
        keras.callbacks.TensorBoard(str(run_dir.logs), write_graph=False, profile_batch=0),
        LearningRateLogger(run_dir.logs / "train"),
        *app_callbacks,
        keras.callbacks.CSVLogger(str(run_dir.file("history.csv")), append=True),
        *extra_callbacks,
    ]
    budget = None
    if args.time_budget_minutes:
        budget = TrainingTimeBudget(args.time_budget_minutes, log=log)
        callbacks.insert(0, budget)
    return callbacks, budget


def open_finished_run(app_name, args, required_files, resumed_options, absent_in_old_runs=None):
    """For `--evaluate-only`: the run folder of a finished run, and its stored options.

    Args:
        app_name: the application's name.
        args: the parsed options (`--run-dir` is required).
        required_files: file names that a finished run holds (e.g. "model.weights.h5").
        resumed_options: option names to take from the run's config.json.
        absent_in_old_runs: see `restore_run_options`.

    Returns:
        `(run_dir, args)` with `args` updated from config.json.

    Raises:
        ValueError: no `--run-dir`, or a file of `required_files` (or config.json) is missing.
    """
    from keras_seq.runs import RunDirectory

    if not args.run_dir:
        raise ValueError("--evaluate-only needs --run-dir (a finished run's folder)")
    run_dir = RunDirectory(app_name, run_dir=args.run_dir)
    needed = ["config.json", *required_files]
    if not all(run_dir.file(name).is_file() for name in needed):
        raise ValueError(f"{args.run_dir} holds no finished {app_name} run "
                         f"({', '.join(needed)} are needed)")
    return run_dir, restore_run_options(args, resumed_options, log=lambda line: None,
                                        absent_in_old_runs=absent_in_old_runs)
