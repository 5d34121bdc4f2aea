"""Run folders shared by the applications: `runs/APP/<time>/{logs,backup,export}` + JSON files."""

import datetime
import json
import os
import pathlib
import tempfile

_current_run = None  # the RunDirectory opened last in this process (see `current_run`)


def current_run():
    """The run folder the running application opened last (None before one is opened).

    `keras_seq.app_args.run_main` reads it to tell an interrupted user the command that
    resumes the run.
    """
    return _current_run


def clear_current_run():
    """Forgets the current run (called when the application's `run` returns or fails)."""
    global _current_run
    _current_run = None


def check_run_owner(run_dir, app):
    """Raises when `run_dir` holds a run of another application.

    Args:
        run_dir: a `--run-dir` (may not exist yet).
        app: the application that wants to use it.

    Raises:
        ValueError: its config.json records another "app" (or cannot be read).
    """
    config_file = pathlib.Path(run_dir) / "config.json"
    if not config_file.is_file():
        return
    try:
        owner = json.loads(config_file.read_text(encoding="utf-8")).get("app")
    except (ValueError, AttributeError) as error:
        raise ValueError(f"--run-dir {str(run_dir)!r}: its config.json is not a run's "
                         f"configuration ({type(error).__name__}: {error}).") from None
    if owner is not None and owner != app:
        raise ValueError(
            f"--run-dir {str(run_dir)!r} holds a {owner} run, not a {app} run: resume it "
            f"with `keras-seq train {owner} --run-dir {run_dir}`, or give {app} another "
            "folder.")


def _check_writable(path, option):
    """Creates `path` (and parents) and checks that a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        where = error.filename or path
        raise ValueError(f"{option}: cannot write the run folder {str(path)!r} "
                         f"({error.strerror or error} at {str(where)!r}); give a writable "
                         "folder with --run-dir or --runs-root.") from None


def write_json_atomic(path, obj):
    """Writes `obj` as JSON to `path` through a temporary file and a rename.

    Args:
        path: destination file.
        obj: JSON-serializable object (non-JSON values are written with `str`).

    Returns:
        `path` as a `pathlib.Path`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class RunDirectory:
    """One training run's folder: TensorBoard logs, backups, export, config and metrics.

    Layout (defaults): `ROOT/APP/<YYYYmmdd-HHMMSS>/` with `logs/` (TensorBoard), `backup/`
    (`keras.callbacks.BackupAndRestore`), `export/` (SavedModel), `config.json` (every
    option) and `metrics.json` (final figures). Passing an existing `run_dir` resumes it:
    the backup there lets `fit` continue where the killed run stopped. The folder opened
    last is the process's `current_run()`.

    Args:
        app: application name (a folder name).
        root: folder holding all runs (default "runs").
        run_dir: use (or resume) this folder instead of a new time-stamped one.
        logdir: put the TensorBoard logs here instead of `RUN/logs`.
        export_dir: write the SavedModel here instead of `RUN/export`.

    Raises:
        ValueError: `run_dir` is a file or holds another application's run, the folder
            cannot be written, or `export_dir` is a folder that holds no export of ours.

    Example:

    >>> run = RunDirectory("imdb", root="/tmp/runs")  # doctest: +SKIP
    >>> run.write_json("config.json", {"epochs": 3})  # doctest: +SKIP
    """

    def __init__(self, app, root="runs", run_dir=None, logdir=None, export_dir=None):
        if not app or not str(app).replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"`app` must be a simple folder name, got app={app!r}.")
        if run_dir is not None:
            self.path = pathlib.Path(run_dir)
            if self.path.exists() and not self.path.is_dir():
                raise ValueError(
                    f"`--run-dir` must be a directory, got run_dir={str(run_dir)!r} (a file).")
        else:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = pathlib.Path(root) / app
            self.path = base / stamp
            suffix = 1
            while self.path.exists():
                suffix += 1
                self.path = base / f"{stamp}-{suffix}"
        self.app = app
        self.shared_path = None
        from keras_seq.distribution.training_cluster import current_cluster

        cluster = current_cluster()
        if not cluster.is_chief:
            # A non-chief worker of a multi-worker job runs the same code but writes into a
            # private copy of the run folder; only the backups are read from the real one.
            self.shared_path = self.path if run_dir is not None else None
            self.path = cluster.worker_run_dir(run_dir)
            logdir = export_dir = None
        check_run_owner(self.shared_path or self.path, app)
        self.resumed = (self.path / "config.json").is_file()
        _check_writable(self.path, "--run-dir" if run_dir is not None else "--runs-root")
        self.logs = pathlib.Path(logdir) if logdir else self.path / "logs"
        self.backup = (self.shared_path or self.path) / "backup"
        self.export = pathlib.Path(export_dir) if export_dir else self.path / "export"
        from keras_seq.export.atomic import check_replaceable

        check_replaceable(self.export, "--export-dir" if export_dir else "RUN/export")
        _check_writable(self.logs, "--logdir" if logdir else "--run-dir")
        global _current_run
        _current_run = self

    @property
    def is_worker_copy(self):
        """True in a non-chief worker, whose folder is a private copy removed at the end."""
        from keras_seq.distribution.training_cluster import current_cluster

        return not current_cluster().is_chief

    def file(self, name):
        """Path of a file in the run folder."""
        return self.path / name

    def write_json(self, name, obj):
        """Atomically writes `obj` to `RUN/name`; returns the path."""
        return write_json_atomic(self.file(name), obj)

    def read_json(self, name, default=None):
        """Reads `RUN/name`, or returns `default` when it does not exist."""
        path = self.file(name)
        if not path.is_file():
            return default
        return json.loads(path.read_text(encoding="utf-8"))

    def tensorboard_command(self):
        """The shell command that serves this run's logs."""
        return f"tensorboard --logdir {self.logs} --host 127.0.0.1"

    def describe(self):
        """Human-readable lines saying where everything is."""
        state = "resuming" if self.resumed else "new"
        if self.is_worker_copy:
            return [f"Run folder: not the chief, so nothing is written to the run folder; "
                    f"private copy {self.path} (removed at the end); backups read from "
                    f"{self.backup}"]
        return [
            f"Run folder ({state}): {self.path}",
            f"  TensorBoard logs: {self.logs}",
            f"  backups (BackupAndRestore): {self.backup}",
            f"  export (SavedModel): {self.export}",
            f"  view: {self.tensorboard_command()}",
            f"  resume a killed run: --run-dir {self.path}",
        ]
