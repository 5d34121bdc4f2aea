"""One lifecycle for the applications, and one config object per application.

An application is a task, a config and its evaluation. Its config is a dataclass whose
fields are declared with `option(...)`; from it are derived

- the `argparse` options (`add_config_arguments`), grouped as declared;
- `--quick`: each option's `quick=` value, used unless the option was given explicitly;
- `config.json` (`dataclasses.asdict`);
- what a resumed run restores (`resumed=True` options, from its `config.json`; an option newer
  than the run takes its `before=` value, what the code did before the option existed).

`Application.run(config)` owns the lifecycle: seed, run folder (new or resumed), config.json,
the strategy scope, callbacks, `fit`, the test split, saving the task, the export and its
reload check, metrics.json and the summary. A subclass supplies the data, the task, its
datasets and its evaluation.
"""

import abc
import argparse
import dataclasses
import json
import math
import os
import pathlib
import sys
import time

_UNSET = object()


def option(default, group, help, choices=None, type=None, quick=_UNSET, resumed=True,
           before=_UNSET, metavar=None, renamed_from=None):
    """A config field that is also a command-line option.

    Args:
        default: the default value. A bool option is a flag: `--name` when the default is
            False, `--no-name` when it is True. A tuple default makes a repeatable option
            (`--name A --name B`); the value is then a tuple of strings.
        group: the `--help` section ("data", "model", "training", "outputs", ...).
        help: the option's help text.
        choices: the allowed values.
        type: parses the command-line text (default: the type of `default`).
        quick: the value under `--quick`, unless the option is given explicitly.
        resumed: a resumed run takes it from its config.json (data, model, optimizer).
        before: its value in runs made before the option existed.
        metavar: the name of its value in `--help`.
        renamed_from: its former name: a run folder whose config.json has the old name
            resumes with that value.
    """
    metadata = {"group": group, "help": help, "choices": choices, "type": type,
                "quick": quick, "resumed": resumed, "before": before, "metavar": metavar,
                "renamed_from": renamed_from}
    return dataclasses.field(default=default, metadata=metadata)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


def fraction(text):
    value = float(text)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError
    return value


def positive_float(text):
    value = float(text)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError
    return value


def non_negative_float(text):
    value = float(text)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError
    return value


_TYPE_WORDS = {positive_int: "a positive integer", fraction: "a number in [0, 1)",
               positive_float: "a positive number", non_negative_float: "a number >= 0",
               int: "an integer", float: "a number", str: "a string"}


def _parser_type(flag, parse):
    def checked(text):
        try:
            return parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{flag} must be {_TYPE_WORDS.get(parse, 'valid')}, got {text!r}") from None
    return checked


def _flag(name):
    return "--" + name.replace("_", "-")


def add_config_arguments(parser, config_class):
    """Adds one option per field of `config_class` to `parser`; returns the parser.

    Every option's parsed default is None, so that `config_from_args` can tell what the
    command line set explicitly (that wins over `--quick`).
    """
    groups = {}
    for f in dataclasses.fields(config_class):
        meta = f.metadata
        if "group" not in meta:
            continue
        group = groups.get(meta["group"])
        if group is None:
            group = groups[meta["group"]] = parser.add_argument_group(meta["group"])
        help_text = meta["help"]
        if isinstance(f.default, bool):
            flag = _flag(("no_" if f.default else "") + f.name)
            group.add_argument(flag, dest=f.name, default=None, help=help_text,
                               action="store_false" if f.default else "store_true")
            continue
        if isinstance(f.default, tuple):
            group.add_argument(_flag(f.name), action="append", default=None,
                               metavar=meta["metavar"], help=help_text + " (repeatable; "
                               f"default {' / '.join(map(repr, f.default))})")
            continue
        if f.default is not None and "(default" not in help_text:
            help_text += f" (default {f.default})"
        parse = meta["type"] or (type(f.default) if f.default is not None else str)
        kwargs = {"choices": meta["choices"]} if meta["choices"] else {
            "type": _parser_type(_flag(f.name), parse)}
        if meta["choices"] and meta["type"]:
            kwargs["type"] = meta["type"]
        group.add_argument(_flag(f.name), default=None, help=help_text,
                           metavar=meta["metavar"], **kwargs)
    return parser


def config_from_args(config_class, args, log=print):
    """The config of parsed `args`: explicit options, then `--quick` values, then defaults.

    Options under `--quick` that the command line did not set take their quick values; the
    values `--quick` changed are reported through `log`.
    """
    values, quick_changes = {}, []
    quick = bool(getattr(args, "quick", False))
    for f in dataclasses.fields(config_class):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(f.default, tuple) else given
        elif quick and f.metadata.get("quick", _UNSET) is not _UNSET:
            values[f.name] = f.metadata["quick"]
            quick_changes.append(f"{_flag(f.name)} {f.metadata['quick']}")
    if quick_changes:
        log("--quick: " + ", ".join(quick_changes) + " (options given explicitly win).")
    return config_class(**values)


def restore_from_run(config, log=print):
    """For `config.run_dir` holding a config.json: takes the resumed options from it.

    Raises:
        ValueError: the folder belongs to another application (or its config.json is
            unreadable), or it lacks an option that has no `before=` value.
    """
    if not config.run_dir:
        return config
    from keras_seq.runs import check_run_owner

    check_run_owner(config.run_dir, config.APP)  # another application's folder: one line
    stored_file = pathlib.Path(config.run_dir) / "config.json"
    if not stored_file.is_file():
        return config
    stored = json.loads(stored_file.read_text(encoding="utf-8"))
    changed, updates = [], {}
    for f in dataclasses.fields(config):
        if not f.metadata.get("resumed"):
            continue
        old_name = f.metadata.get("renamed_from")
        if f.name in stored:
            value = stored[f.name]
        elif old_name and old_name in stored:
            value = stored[old_name]
        elif f.metadata.get("before", _UNSET) is not _UNSET:
            value = f.metadata["before"]
        else:
            raise ValueError(f"--run-dir {config.run_dir}: its config.json lacks "
                             f"{_flag(f.name)}; it was made by another version of keras-seq "
                             "and cannot be resumed. Start a new run.")
        if value != getattr(config, f.name):
            changed.append(f"{_flag(f.name)}={value!r}")
            updates[f.name] = value
    if changed:
        log(f"Resuming {config.run_dir}: options taken from its config.json: "
            + ", ".join(changed))
    return dataclasses.replace(config, **updates)


@dataclasses.dataclass
class AppConfig:
    """The options every application shares (training length, XLA, seed, outputs, scale)."""

    APP = None  # the application's stem, set by each subclass

    epochs: int = option(2, "training", "passes over the training data", type=positive_int)
    batch_size: int = option(64, "training", "global batch size", type=positive_int)
    learning_rate: float = option(1e-3, "training", "peak learning rate", type=positive_float)
    jit_compile: str = option(
        "auto", "training", "XLA for the train step; auto = keras_seq.runtime default (on "
        "for GPU/TPU, off for CPU training where it measured slower)",
        choices=("auto", "on", "off"), resumed=False)
    seed: int = option(1337, "training", "random seed (data split, initial weights, order)")
    time_budget_minutes: float = option(None, "training", "stop training once this much wall "
                                        "time is spent (the epoch's validation, logs and "
                                        "export still run)", type=positive_float,
                                        resumed=False)
    quick: bool = option(False, "training", "smoke run: small data and few epochs (options "
                         "given explicitly win)")
    runs_root: str = option("runs", "outputs", "parent of run folders", resumed=False)
    run_dir: str = option(None, "outputs", "use this run folder; an existing one is resumed "
                          "from its backup, with the options of its config.json",
                          resumed=False)
    logdir: str = option(None, "outputs", "TensorBoard logs (default RUN/logs)", resumed=False)
    export_dir: str = option(None, "outputs", "SavedModel (default RUN/export)",
                             resumed=False)
    verbose: str = option("auto", "outputs", "model.fit verbosity: 0 silent, 1 progress bar, "
                          "2 one line per epoch; auto: 1 on a terminal, 2 in a log file",
                          choices=("auto", "0", "1", "2"), resumed=False)
    strategy: str = option(
        "none", "distribution", "none; one-device; mirrored (the local GPUs, or "
        "--cpu-devices); multi-worker (the processes named by TF_CONFIG)",
        choices=("none", "one-device", "mirrored", "multi-worker"), resumed=False)
    cpu_devices: int = option(None, "distribution", "with --strategy mirrored: split the CPU "
                              "into this many logical devices", type=positive_int,
                              resumed=False)
    collective_timeout: float = option(
        None, "distribution", "multi-worker: fail a step that waits more than this many "
        "seconds for the other workers", type=positive_float, resumed=False)


@dataclasses.dataclass
class TextCorpusConfig(AppConfig):
    """The data options of the applications that learn from one text (The Time Machine)."""

    data_file: str = option(None, "data", "any UTF-8 text file to train on (instead of The "
                            "Time Machine)")
    data_dir: str = option(None, "data", "folder holding timemachine.txt (or timemachine/"
                           "timemachine.txt). Default: $KERAS_SEQ_DATA_DIR, "
                           "../shared/datasets, the cache, or a download")
    dataset: str = option("auto", "data", "auto: the book if found/downloadable, else the "
                          "generated corpus; timemachine: the book or an error; generated: "
                          "the generated corpus", choices=("auto", "timemachine", "generated"))
    no_download: bool = option(False, "data", "never try to download")

    def read_text(self, log=print):
        """`(text, info)` of the data options; `info["description"]` says what was read."""
        from keras_seq.data.timemachine import load_text

        text, info = load_text(self.dataset, data_file=self.data_file, data_dir=self.data_dir,
                               download=not self.no_download, log=log)
        info["description"] = (
            "the GENERATED corpus (not The Time Machine) - see --data-file/--data-dir"
            if info["dataset"] == "generated" else f"{info['dataset']} from {info.get('path')}")
        return text, info


def fit_verbosity(verbose):
    """`model.fit`'s verbosity for `--verbose`: auto = a progress bar on a terminal only."""
    if str(verbose) == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


class Application(abc.ABC):
    """The lifecycle of one application; subclasses fill in the steps.

    Subclasses set `config_class` and `description`, and implement `load_data`,
    `build_task`, `evaluate` and `examples`; `callbacks`, `check_export` and `summary`
    have defaults. An application with `--evaluate-only` (a config field `evaluate_only`)
    gives `rescore`, and `run` then calls `evaluate_finished_run` instead of training.
    """

    config_class = AppConfig
    description = ""
    export_input = "text"  # the name of serving_default's input (the captioner: image_bytes)

    @property
    def name(self):
        return self.config_class.APP

    # ---- the command line ---------------------------------------------------------------
    def add_arguments(self, parser):
        return add_config_arguments(parser, self.config_class)

    def build_parser(self):
        parser = argparse.ArgumentParser(prog=f"keras-seq train {self.name}",
                                         description=self.description)
        return self.add_arguments(parser)

    def config(self, args, log=print):
        """The resolved config of parsed `args` (quick values, a resumed run's options)."""
        if isinstance(args, self.config_class):
            return args
        return self.resolve(restore_from_run(config_from_args(self.config_class, args, log),
                                             log))

    def resolve(self, config):
        """Fills options whose defaults depend on others; checks combinations."""
        return config

    # ---- the steps ----------------------------------------------------------------------
    @abc.abstractmethod
    def load_data(self, config, log):
        """`(splits, info)`: a dict of splits (train, validation, test) and a JSON dict."""

    @abc.abstractmethod
    def build_task(self, config, splits, run_dir, log):
        """The task (built inside the strategy scope) and its train/validation datasets:
        `(task, train_ds, val_ds, steps_per_epoch)`."""

    def callbacks(self, task, config, splits, run_dir):
        """The application's own callbacks (sample outputs, heatmaps, checkpoints)."""
        return []

    @abc.abstractmethod
    def evaluate(self, task, config, splits, history, run_dir, log):
        """The metrics on the test split (scored here, once)."""

    @abc.abstractmethod
    def examples(self, config):
        """A few raw inputs that the summary shows through the export."""

    def example_inputs(self, examples):
        """What `serving_default` gets for `examples` (default: the texts themselves)."""
        return list(examples)

    def check_export(self, task, config, splits, serving):
        """Metrics comparing the reloaded export with the task (default: none)."""
        return {}

    def summary(self, config, metrics, run_dir):
        """The summary's lines about the results."""
        return []

    def finished_run_files(self, config):
        """The files `--evaluate-only` needs in a finished run's folder."""
        return ("config.json", "tokenizers.json", "model.weights.h5")

    def rescore(self, config, run_dir, log):
        """`--evaluate-only` (applications that have it): `(file name, metrics, line)`."""
        raise ValueError(f"{self.name} has no --evaluate-only")

    def evaluate_finished_run(self, config, log=print):
        """`--evaluate-only`: scores a finished run again (e.g. beam search); no training.

        Checks the run folder, sets the run's dtype policy and writes what `rescore` returns
        into the folder (the export is left as it is).
        """
        import keras

        from keras_seq.runs import RunDirectory

        if not config.run_dir:
            raise ValueError("--evaluate-only needs --run-dir (a finished run's folder)")
        run_dir = RunDirectory(self.name, run_dir=config.run_dir)
        needed = self.finished_run_files(config)
        if not all(run_dir.file(name).is_file() for name in needed):
            raise ValueError(f"{config.run_dir} holds no finished {self.name} run "
                             f"({', '.join(needed)} are needed)")
        keras.config.set_dtype_policy(
            "mixed_bfloat16" if getattr(config, "mixed_precision", False) else "float32")
        name, metrics, line = self.rescore(config, run_dir, log)
        log(f"{config.run_dir}, {config.sampler} decoding: {line} -> "
            f"{run_dir.write_json(name, metrics)}")
        return metrics

    # ---- the lifecycle ------------------------------------------------------------------
    def run(self, args, extra_callbacks=(), log=print):
        """Trains, evaluates, saves and exports; returns the metrics (also in metrics.json).

        Args:
            args: a parsed `argparse.Namespace` or a config object.
            extra_callbacks: more Keras callbacks for `fit` (tests use this to interrupt).
            log: called with each printed line.
        """
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        from keras_seq.distribution.training_cluster import model_scope
        from keras_seq.runtime import resolve_jit

        config = self.config(args, log)
        if getattr(config, "evaluate_only", False):
            return self.evaluate_finished_run(config, log)
        started = time.time()
        keras.utils.set_random_seed(config.seed)
        keras.config.set_dtype_policy(
            "mixed_bfloat16" if getattr(config, "mixed_precision", False) else "float32")
        jit = resolve_jit(config.jit_compile, "train")
        splits, data_info = self.load_data(config, log)
        # The run folder is made only once the data is there (a bad --data-dir leaves nothing).
        run_dir = self._open_run_folder(config, data_info, jit, log)
        with model_scope():  # the --strategy scope (a no-op without one)
            task, train_ds, val_ds, steps = self.build_task(config, splits, run_dir, log)
            task.compile(total_steps=max(1, (steps or int(train_ds.cardinality()))
                                         * config.epochs),
                         jit_compile=jit, **self.compile_options(config))
        log(f"Task {self.name}: {task.network.count_params():,} parameters; XLA train step: "
            f"{jit}; dtype policy {keras.config.dtype_policy().name}.")
        history, budget, fit_seconds = self._fit(task, config, splits, run_dir, train_ds,
                                                 val_ds, steps, extra_callbacks, log)
        metrics = {"dataset": data_info.get("dataset"),
                   **self.evaluate(task, config, splits, history, run_dir, log)}
        task.save(run_dir.file("task.kseq"))  # keras_seq.load(RUN_DIR) reopens it
        # The test figures are on disk before the export, so a failing export loses nothing.
        run_dir.write_json("metrics.json", metrics)
        try:
            examples, exported = self._export(task, config, splits, run_dir, metrics)
        except Exception:
            log(f"The export failed. The figures are in {run_dir.file('metrics.json')} and "
                f"the trained task in {run_dir.file('task.kseq')}; export it again with "
                f"keras_seq.load({str(run_dir.path)!r}).export({str(run_dir.export)!r}).")
            raise
        metrics.update(
            epochs=config.epochs, epochs_run_this_call=len(history.history.get("loss", [])),
            stopped_by_time_budget=budget.stopped_at if budget else None,
            fit_seconds=fit_seconds, total_seconds=time.time() - started,
            # "input": the example as given (an output may itself be named "text").
            examples=[{"input": text, **{k: _jsonable(v[i]) for k, v in exported.items()}}
                      for i, text in enumerate(examples)],
            history={k: [float(x) for x in v] for k, v in history.history.items()})
        run_dir.write_json("metrics.json", metrics)
        self._report(config, metrics, data_info, run_dir, list(exported), examples, log)
        return metrics

    def _open_run_folder(self, config, data_info, jit, log):
        """The run folder (new or resumed), with config.json written."""
        import keras
        import tensorflow as tf

        from keras_seq.runs import RunDirectory

        run_dir = RunDirectory(self.name, root=config.runs_root, run_dir=config.run_dir,
                               logdir=config.logdir, export_dir=config.export_dir)
        for line in run_dir.describe():
            log(line)
        if run_dir.resumed:
            log(f"Resuming run {run_dir.path} (config.json and backup found).")
        run_dir.write_json("config.json", {
            **dataclasses.asdict(config), "app": self.name, "data": data_info,
            "jit_compile_resolved": jit, "run_dir": str(run_dir.path),
            "keras": keras.__version__, "tensorflow": tf.__version__})
        return run_dir

    def _fit(self, task, config, splits, run_dir, train_ds, val_ds, steps, extra_callbacks,
             log):
        """`fit` with the backup, TensorBoard, CSV and time-budget callbacks."""
        import keras

        from keras_seq.callbacks import (LearningRateLogger, ResumableBackupAndRestore,
                                         TrainingTimeBudget)

        budget_minutes = config.time_budget_minutes
        budget = TrainingTimeBudget(budget_minutes, log=log) if budget_minutes else None
        callbacks = [
            *([budget] if budget else []),
            ResumableBackupAndRestore(str(run_dir.backup),
                                      save_freq=getattr(config, "backup_every", 200)),
            *self.callbacks(task, config, splits, run_dir),
            LearningRateLogger(run_dir.logs / "train"),
            keras.callbacks.CSVLogger(str(run_dir.file("history.csv")), append=True),
            keras.callbacks.TensorBoard(str(run_dir.logs), write_graph=False, profile_batch=0),
            *extra_callbacks,
        ]
        fit_started = time.time()
        history = task.trainer.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                                   steps_per_epoch=steps, callbacks=callbacks,
                                   verbose=fit_verbosity(config.verbose),
                                   shuffle=False)  # tf.data shuffles (seeded, every epoch)
        return history, budget, time.time() - fit_started

    def _export(self, task, config, splits, run_dir, metrics):
        """Exports, reloads the SavedModel and runs the examples and the app's check on it."""
        import tensorflow as tf

        task.export(run_dir.export)
        serving = tf.saved_model.load(str(run_dir.export)).signatures["serving_default"]
        examples = list(self.examples(config))
        exported = serving(**{self.export_input: tf.constant(self.example_inputs(examples),
                                                             tf.string)})
        metrics.update(self.check_export(task, config, splits, serving))
        return examples, exported

    def _report(self, config, metrics, data_info, run_dir, output_names, examples, log):
        """The summary printed at the end of a run."""
        banner = "=" * 78
        log(banner)
        log(f"DATA: {data_info.get('description', data_info.get('dataset'))}")
        for line in self.summary(config, metrics, run_dir):
            log(line)
        log(f"Training: epochs {config.epochs} ({metrics['epochs_run_this_call']} run now), fit "
            f"{metrics['fit_seconds']:.0f} s.")
        log(f"Run folder: {run_dir.path}  (Python: keras_seq.load({str(run_dir.path)!r}))")
        log(f"Export (SavedModel, serving_default: {self.export_input} -> "
            f"{', '.join(output_names)}): {run_dir.export}")
        for row in metrics["examples"]:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k != "input")
            log(f"  {row['input']!r:36} -> {shown}")
        if examples:
            log(f"Predict: keras-seq predict {run_dir.export} \"{examples[0]}\"")
        log(f"TensorBoard: {run_dir.tensorboard_command()}")
        log(banner)

    def compile_options(self, config):
        """Keyword arguments of `task.compile` taken from the config."""
        return {"learning_rate": config.learning_rate}


def _jsonable(value):
    value = value.numpy() if hasattr(value, "numpy") else value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.tolist() if hasattr(value, "tolist") else value  # a row of H values too


def _short(value):
    return f"{value:.3f}" if isinstance(value, float) else repr(value)


def entry_points(application):
    """The module-level names of an application file: `run, add_arguments, build_parser, main`.

    `main(argv)` is `python applications/<stem>.py`: `keras_seq.app_args.run_main` over the
    application's parser (one-line errors, exit codes). `build_parser(parser=None)` adds the
    options to `parser`, or makes the application's own parser.
    """
    def build_parser(parser=None):
        return application.add_arguments(parser) if parser else application.build_parser()

    def main(argv=None):
        from keras_seq.app_args import run_main

        return run_main(build_parser(), application.run, argv)

    return application.run, application.add_arguments, build_parser, main
