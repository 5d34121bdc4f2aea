"""`BackupAndRestore` that resumes right after any number of kills and never trusts a bad file."""

import datetime
import hashlib
import json
import os
import pathlib
import re
import sys
import tempfile

import keras

from keras_seq import compat

_GENERATION = re.compile(r"^backup-(\d{6,})\.json$")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _print_error(message):
    print(message, file=sys.stderr, flush=True)


class ResumableBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with verified, atomic, chief-only backups.

    Each backup is a generation `backup-NNNNNN.weights.h5` (model + optimizer state) with a
    `backup-NNNNNN.json` beside it (epoch, batch, byte size, SHA-256 of the weights). The
    weights are written to a temporary file and renamed, then the JSON, so a kill during a
    save leaves the previous generation whole; the last `keep` generations are kept.
    `training_metadata.json` points at the newest one (as in Keras).

    On restore the newest generation whose size and SHA-256 match and that loads is used. A
    damaged or half-written one is reported on stderr, naming the file and what is wrong,
    and the one before it is used; when every generation is damaged training stops with a
    `ValueError` that says so (delete the backup folder to start over).

    It also fixes two things of Keras 3.15's callback: the epoch counter of a resumed
    process starts at 0 (so a backup taken during a resumed run said "epoch 0"), and no
    backup was written at the end of an epoch with an integer `save_freq` (so a finished
    run given again repeated its last epoch). It keeps its own epoch and batch counters and
    never relies on the base class's private methods; the restored epoch reaches `fit`
    through `keras_seq.compat.set_initial_epoch`, which fails loudly (`KerasCompatError`)
    where Keras no longer reads it, instead of silently restarting at epoch 0.

    In a multi-worker job (`keras_seq.distribution`) only the chief writes; every worker
    reads the same backup folder, so all of them resume from the same state.

    Args:
        backup_dir: where the backups live.
        save_freq: "epoch" or a number of batches between backups (always also at epoch
            ends).
        delete_checkpoint: delete the backups when training ends (default False, so a
            finished run given again does not train any more).
        keep: how many generations to keep (at least 2: the newest and a fallback).
        write: whether this process writes backups (None: only the chief of the current
            `keras_seq.distribution` cluster does).
        log: prints the restore messages (default: stderr).

    Example:

    >>> import keras, numpy as np, tempfile
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> backup = ResumableBackupAndRestore(tempfile.mkdtemp(), save_freq=2)
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2, verbose=0,
    ...               callbacks=[backup])
    >>> backup.generations()[-1]["epoch"]
    2
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=False, keep=2,
                 write=None, log=_print_error):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=delete_checkpoint)
        if not isinstance(keep, int) or keep < 2:
            raise ValueError(f"`keep` must be an integer >= 2, got keep={keep!r}.")
        self.keep = keep
        self._write = write
        self.log = log
        self.restored_from = None
        self._epoch_to_save = 0  # what the next backup records: the epoch to resume at
        self._batch_seen = 0  # the last batch index seen in this epoch
        self._batches_since_backup = 0

    # ---- who writes ------------------------------------------------------------------------
    @property
    def writes(self):
        """Whether this process writes backups."""
        if self._write is not None:
            return bool(self._write)
        from keras_seq.distribution.training_cluster import current_cluster

        return current_cluster().is_chief

    # ---- the files -------------------------------------------------------------------------
    def generations(self):
        """The backups on disk, oldest first: dicts from their JSON plus "number" and "path".

        Returns:
            A list of dicts (unreadable JSON files are listed with an "error" entry).
        """
        folder = pathlib.Path(self.backup_dir)
        found = []
        if not folder.is_dir():
            return found
        for path in folder.iterdir():
            match = _GENERATION.match(path.name)
            if not match:
                continue
            entry = {"number": int(match.group(1)), "json": path,
                     "path": path.with_name(f"backup-{match.group(1)}.weights.h5")}
            try:
                entry.update(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as error:
                entry["error"] = f"its description {path.name} is unreadable ({error})"
            found.append(entry)
        return sorted(found, key=lambda e: e["number"])

    def _problem(self, entry):
        if "error" in entry:
            return entry["error"]
        path = entry["path"]
        if not path.is_file():
            return f"{path.name} is missing"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return (f"{path.name} has {size} bytes, {entry.get('bytes')} were written "
                    "(half-written or truncated)")
        if _sha256(path) != entry.get("sha256"):
            return f"{path.name} does not match its SHA-256 (damaged after it was written)"
        return None

    # ---- restore ---------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._restore()

    def _prepare_model(self):
        if not self.model.built:
            raise ValueError("To resume from a backup the model must be built before fit().")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)

    def _restore_keras_backup(self, weights, metadata):
        """Resumes from the files of Keras's own `BackupAndRestore` (no checksums there)."""
        self._prepare_model()
        self.model.load_weights(weights)
        if os.path.isfile(metadata):
            epoch = json.loads(pathlib.Path(metadata).read_text(encoding="utf-8"))["epoch"]
            compat.set_initial_epoch(self.model, epoch)

    def _restore(self):
        generations = self.generations()
        if not generations:
            weights, metadata = compat.backup_file_paths(self)
            if os.path.isfile(weights):  # a backup written by Keras' own callback
                self._restore_keras_backup(weights, metadata)
            return None
        self._prepare_model()
        problems = []
        for entry in reversed(generations):
            problem = self._problem(entry)
            if problem is None:
                try:
                    self.model.load_weights(str(entry["path"]))
                except Exception as error:  # h5py raises OSError, Keras ValueError
                    problem = f"{entry['path'].name} does not load ({type(error).__name__}: " \
                              f"{str(error)[:200]})"
            if problem is not None:
                problems.append(problem)
                self.log(f"ERROR: backup {entry['number']} in {self.backup_dir} is unusable: "
                         f"{problem}. Falling back to the previous backup.")
                continue
            compat.set_initial_epoch(self.model, int(entry["epoch"]))
            self.restored_from = entry
            if problems:
                self.log(f"Resumed from the previous good backup {entry['number']} "
                         f"(epoch {entry['epoch']}, batch {entry.get('batch', 0)}).")
            return entry
        raise ValueError(
            f"every backup in {self.backup_dir} is unusable: " + "; ".join(problems) +
            ". Delete that folder to train from the start.")

    # ---- save ------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_to_save = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # `batch` is the last batch of a step (several with steps_per_execution); a batch
        # index not above the last one seen starts a new epoch.
        seen = batch + 1 if batch <= self._batch_seen else batch - self._batch_seen
        self._batches_since_backup += seen
        self._batch_seen = batch
        if self._batches_since_backup >= self.save_freq:
            self._batches_since_backup = 0
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_to_save = epoch + 1
        self._batch_seen = 0
        self._save()  # every epoch end, whatever `save_freq`

    def _save(self):
        if not self.writes:
            return
        folder = pathlib.Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        existing = self.generations()
        number = existing[-1]["number"] + 1 if existing else 1
        name = f"backup-{number:06d}"
        weights = folder / f"{name}.weights.h5"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".weights.h5")
        os.close(fd)
        try:
            self.model.save_weights(tmp, overwrite=True)
            info = {"epoch": int(self._epoch_to_save), "batch": int(self._batch_seen),
                    "bytes": os.path.getsize(tmp), "sha256": _sha256(tmp),
                    "weights": weights.name,
                    "saved_at": datetime.datetime.now().isoformat(timespec="seconds")}
            os.replace(tmp, weights)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        from keras_seq.runs import write_json_atomic

        write_json_atomic(folder / f"{name}.json", info)
        write_json_atomic(compat.backup_file_paths(self)[1], info)
        for old in existing[: max(0, len(existing) + 1 - self.keep)]:
            for path in (old["path"], old["json"]):
                if path.exists():
                    path.unlink()

    def on_train_end(self, logs=None):
        if self.writes:
            super().on_train_end(logs)
