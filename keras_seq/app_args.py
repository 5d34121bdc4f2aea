"""Command-line argument types and option groups shared by the applications.

`run_main` is the one entry point of every application (`keras-seq train APP` and
`python applications/APP.py`): it parses the options, records which ones the command line
gave (`--quick` leaves those alone, see `apply_quick`), imports TensorFlow without its
start-up log lines (unless `$KERAS_SEQ_TF_LOGS=1`, set by `keras-seq --verbose`), and turns
the expected failures into one-line messages: bad input (exit 2), files that cannot be read
or written (exit 1), Ctrl-C (exit 130, with the command that resumes the run). Anything
else is a bug and keeps its traceback.
"""

import argparse
import contextlib
import logging
import math
import sys

from keras_seq._startup import TF_LOGS_ENV, import_tensorflow_quietly  # noqa: F401 (re-exported)
INTERRUPTED_EXIT_STATUS = 130  # 128 + SIGINT, as a shell reports Ctrl-C
OS_ERROR_EXIT_STATUS = 1


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
    g.add_argument("--verbose", type=fit_verbosity, default="auto", metavar="{auto,0,1,2}",
                   help="model.fit verbosity; auto (default): 1 (a progress bar within each "
                        "epoch) when the output is a terminal, else 2 (one line per epoch, "
                        "for log files); 0 = silent")
    return g


def fit_verbosity(text):
    """The argparse type of `--verbose`: "auto", "0", "1" or "2" → the `model.fit` verbosity.

    "auto" is resolved here, the one place: 1 (progress within an epoch) when standard output
    is a terminal, 2 (one line per epoch) when it goes to a file or a pipe.

    Example:

    >>> fit_verbosity("0"), fit_verbosity("2")
    (0, 2)
    """
    if text == "auto":
        return 1 if sys.stdout.isatty() else 2
    if str(text) in ("0", "1", "2"):
        return int(text)
    raise argparse.ArgumentTypeError(f"--verbose must be auto, 0, 1 or 2, got {text!r}")


class _NotGiven(list):
    """The default that marks an option absent from the command line (a list: 'append' works)."""


def given_options(parser, argv, args=None):
    """The destinations of the options that `argv` sets explicitly.

    The command line is parsed a second time with every default replaced by a marker; an
    option that still holds the marker was not given. (Comparing values with the defaults
    would miss `--epochs 20` given on purpose when 20 is the default.)

    Args:
        parser: the `argparse.ArgumentParser`.
        argv: the command line (None = `sys.argv[1:]`).
        args: the namespace `parser.parse_args(argv)` returned (parsed again if None).

    Returns:
        A sorted list of option destinations, e.g. `["epochs", "quick"]`.

    Example:

    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--epochs", type=int, default=20)
    >>> _ = p.add_argument("--quick", action="store_true")
    >>> given_options(p, ["--quick", "--epochs", "20"]), given_options(p, [])
    (['epochs', 'quick'], [])
    """
    if args is None:
        args = parser.parse_args(argv)
    names = list(vars(args))
    saved = {name: parser.get_default(name) for name in names}
    marker = _NotGiven()
    parser.set_defaults(**{name: marker for name in names})
    try:
        probe = parser.parse_args(argv)
    finally:
        parser.set_defaults(**saved)
    return sorted(name for name, value in vars(probe).items()
                  if not (isinstance(value, _NotGiven) and not value))


def apply_quick(args, quick, log=print):
    """`--quick`: shrinks the options of `quick` that neither the command line nor a resumed
    run's config.json set, and says what it changed.

    An option left at its default becomes `min(default, quick value)` (the quick value where
    the default is None); an option in `args.explicit_options` (set by `run_main` and
    `restore_run_options`) keeps its value, so `--quick --epochs 10` trains 10 epochs.

    Args:
        args: the parsed options, with `quick`.
        quick: dict option name → its smoke-run value.
        log: printer of the one line saying what `--quick` set (and what it kept).

    Returns:
        `args`.

    Example:

    >>> ns = argparse.Namespace(quick=True, epochs=10, units=256, explicit_options=["epochs"])
    >>> apply_quick(ns, {"epochs": 2, "units": 32}).units
    --quick: --units 32; kept as set: --epochs 10
    32
    """
    if not getattr(args, "quick", False):
        return args
    given = set(getattr(args, "explicit_options", None) or ())
    changed, kept = [], []
    for key, value in quick.items():
        flag = "--" + key.replace("_", "-")
        current = getattr(args, key, None)
        if key in given:
            if current != value:
                kept.append(f"{flag} {current}")
            continue
        new = value if current is None else min(current, value)
        if new != current:
            setattr(args, key, new)
            changed.append(f"{flag} {new}")
    line = "--quick: " + (", ".join(changed) if changed else "nothing to shrink")
    if kept:
        line += "; kept as set: " + ", ".join(kept)
    log(line)
    return args


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

    Every option taken from config.json joins `args.explicit_options`, so that `apply_quick`
    leaves it as the run made it.
    """
    if not getattr(args, "run_dir", None):
        return args
    import json
    import pathlib

    config_file = pathlib.Path(args.run_dir) / "config.json"
    if not config_file.is_file():
        return args
    try:
        stored = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--run-dir {args.run_dir!r}: {config_file} is no readable run "
                         f"configuration ({error}).") from None
    changed = []
    stored = {**(absent_in_old_runs or {}), **stored}
    restored = set(getattr(args, "explicit_options", None) or ())
    for key in names:
        if key in stored:
            restored.add(key)
        if key in stored and getattr(args, key, None) != stored[key]:
            changed.append(f"--{key.replace('_', '-')}={stored[key]!r}")
            setattr(args, key, stored[key])
    args.explicit_options = sorted(restored)
    if changed:
        log(f"Resuming {args.run_dir}: options taken from its config.json: " + ", ".join(changed))
    return args


WORKER_LOST_EXIT_STATUS = 75  # EX_TEMPFAIL: restart the job to resume


def run_main(parser, run, argv=None, app=None):
    """Parses `argv` and calls `run(args)` inside the strategy of `--strategy`.

    Before `run`: records the options the command line gave in `args.explicit_options`
    (see `given_options`), refuses a `--run-dir` that holds another application's run,
    imports TensorFlow quietly (`import_tensorflow_quietly`) and prints the library's
    progress lines (logger "keras_seq", e.g. "learning the vocabulary from N texts...").

    Failures become one line on stderr, no traceback:

    * `ValueError` (bad input; a `UnicodeDecodeError` names the file): exit status 2;
    * `OSError` (a file that cannot be read or written, a full disk): exit status 1;
    * Ctrl-C: `interrupted; resume with: keras-seq train APP --run-dir RUN`, exit 130;
    * in a multi-worker job, a lost worker (TensorFlow's `UnavailableError`/
      `DeadlineExceededError` in the other workers): exit status 75 and the command that
      resumes from the last backup.

    Any other exception is a bug and keeps its traceback.

    Args:
        parser: the application's parser.
        run: the application's `run(args)`.
        argv: the command line (None = `sys.argv[1:]`).
        app: the application's name (default: `APP_NAME` of `run`'s module).

    Returns:
        0 (the failures above exit through `parser.exit`).
    """
    from keras_seq.runs import check_run_owner, clear_current_run, current_run

    args = parser.parse_args(argv)
    args.explicit_options = given_options(parser, argv, args)
    if app is None:
        app = getattr(sys.modules.get(getattr(run, "__module__", None)), "APP_NAME", None)
    clear_current_run()
    try:
        if app and getattr(args, "run_dir", None):
            check_run_owner(args.run_dir, app)
        import_tensorflow_quietly()
        with show_progress_lines():
            run_in_cluster(run, args)
    except KeyboardInterrupt:
        run_dir = current_run()
        hint = ""
        if run_dir is not None and (run_dir.shared_path or not run_dir.is_worker_copy):
            # (a worker's private copy without --run-dir is no folder to resume from)
            hint = f"; resume with: keras-seq train {run_dir.app} --run-dir " \
                   f"{run_dir.shared_path or run_dir.path}"
        parser.exit(INTERRUPTED_EXIT_STATUS, f"{parser.prog}: interrupted{hint}\n")
    except WorkerLostError as error:
        parser.exit(WORKER_LOST_EXIT_STATUS, f"{parser.prog}: {error}\n")
    except UnicodeDecodeError as error:
        parser.exit(2, f"{parser.prog}: error: {describe_decode_error(error)}\n")
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except OSError as error:
        parser.exit(OS_ERROR_EXIT_STATUS, f"{parser.prog}: error: {describe_os_error(error)}\n")
    finally:
        clear_current_run()
    return 0


def describe_os_error(error):
    """One line for an `OSError`: what failed and on which path.

    A permission, read-only or full-disk error is the user's to fix; any other also names
    the line of code that raised it (it may be a bug).
    """
    import errno

    what = error.strerror or str(error) or type(error).__name__
    paths = [str(p) for p in (error.filename, getattr(error, "filename2", None)) if p]
    line = f"{what}: {' -> '.join(paths)}" if paths else what
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return line + " (give a writable folder: --run-dir, --runs-root, --export-dir)"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return line
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        line += f" ({type(error).__name__} in {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
    return line


def describe_decode_error(error, what=None):
    """One line for a `UnicodeDecodeError` that names the file and the byte offset.

    The file is `what` when given, else found in the traceback: the `pathlib.Path` whose
    `read_text` failed (the offset is then the file's) or an open text file (the offset is
    then within the block being decoded, so it is left out).

    Example:

    >>> try:
    ...     bytes([111, 107, 255]).decode("utf-8")
    ... except UnicodeDecodeError as error:
    ...     print(describe_decode_error(error, "notes.txt"))
    notes.txt: not valid utf-8 text (invalid start byte 0xff at byte offset 2)
    """
    import io
    import pathlib

    exact = what is not None
    if what is None:
        tb, frames = error.__traceback__, []
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            me = frame.f_locals.get("self")
            if frame.f_code.co_name == "read_text" and isinstance(me, pathlib.PurePath):
                what, exact = str(me), True
                break
            files = [v for v in frame.f_locals.values()
                     if isinstance(v, io.TextIOWrapper) and isinstance(v.name, str)]
            if files:
                what = files[0].name
                break
    bad = error.object[error.start:error.end][:4].hex(" ")
    where = f" at byte offset {error.start}" if exact else ""
    return (f"{what or 'an input file'}: not valid {error.encoding} text "
            f"({error.reason} 0x{bad}{where})")


class _PrintHandler(logging.Handler):
    """Prints log records to the current `sys.stdout` (so they interleave with `print`)."""

    def emit(self, record):
        print(self.format(record), flush=True)


@contextlib.contextmanager
def show_progress_lines(level=logging.INFO):
    """While the block runs, prints the messages of the "keras_seq" logger (the data loaders'
    progress lines).

    A library user sees none of them unless they configure logging; an application run
    through `run_main` prints them like its own lines. The logger is left as it was found.
    """
    logger = logging.getLogger("keras_seq")
    saved = logger.level, logger.propagate
    handler = _PrintHandler()
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


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
