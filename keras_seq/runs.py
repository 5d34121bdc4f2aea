"""Run folders shared by the applications: `runs/APP/<time>/{logs,backup,export}` + JSON files."""

import datetime
import json
import os
import pathlib
import tempfile


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
    the backup there lets `fit` continue where the killed run stopped.

    Args:
        app: application name (a folder name).
        root: folder holding all runs (default "runs").
        run_dir: use (or resume) this folder instead of a new time-stamped one.
        logdir: put the TensorBoard logs here instead of `RUN/logs`.
        export_dir: write the SavedModel here instead of `RUN/export`.

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
        self.resumed = (self.path / "config.json").is_file()
        self.path.mkdir(parents=True, exist_ok=True)
        self.logs = pathlib.Path(logdir) if logdir else self.path / "logs"
        self.backup = (self.shared_path or self.path) / "backup"
        self.export = pathlib.Path(export_dir) if export_dir else self.path / "export"
        self.logs.mkdir(parents=True, exist_ok=True)

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
