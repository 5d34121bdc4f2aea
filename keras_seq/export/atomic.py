"""Writing a directory atomically: build it under a temporary name, then rename.

Only a folder that is ours may be replaced: every directory written here gets a marker
file, `EXPORT_MARKER`, and an existing target is replaced only when it holds that marker,
is empty, or is an export of a run folder written before the marker existed
(`RUN/export/saved_model.pb` next to the run's `config.json`). Anything else is refused, so
a mistyped `--export-dir` never deletes a user's files.
"""

import json
import os
import pathlib
import shutil
import tempfile

EXPORT_MARKER = "keras_seq_export.json"


def _is_old_run_export(target):
    """An export from before the marker: `RUN/export` with saved_model.pb, RUN with config.json."""
    return (target / "saved_model.pb").is_file() and \
        (target.parent / "config.json").is_file() and \
        all(entry.name in ("saved_model.pb", "variables", "assets", "fingerprint.pb")
            for entry in target.iterdir())


def check_replaceable(target, option="--export-dir"):
    """Raises unless `target` may be (re)written by `replace_dir_atomically`.

    Args:
        target: the directory an export goes to.
        option: the command-line option that named it (for the message).

    Raises:
        ValueError: `target` is a file, or a non-empty folder that holds no export of ours
            (no `EXPORT_MARKER`); the message names the path and what it holds.
    """
    target = pathlib.Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(f"{option} must be a folder for the SavedModel, got {str(target)!r} "
                         "(an existing file).")
    entries = sorted(entry.name for entry in target.iterdir())
    if not entries or EXPORT_MARKER in entries or _is_old_run_export(target):
        return
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise ValueError(
        f"{option} {str(target)!r} is a folder that holds no keras-seq export (no "
        f"{EXPORT_MARKER}; it holds {shown}): refusing to replace it. Give a new or empty "
        "folder, or remove this one yourself.")


def replace_dir_atomically(build, target):
    """Calls `build(tmp_dir)` and moves the result to `target`.

    The temporary directory sits next to `target` (same file system, so the rename is
    atomic). An existing `target` is replaced only after `build` succeeded, and only when
    `check_replaceable` allows it (an earlier export of ours, or an empty folder); on failure
    nothing is left behind. The new directory gets the marker file `EXPORT_MARKER`.

    Args:
        build: function that writes into the (not yet existing) path it receives.
        target: final directory path.

    Returns:
        `target` as a `pathlib.Path`.

    Raises:
        ValueError: `target` exists and is no export of ours (see `check_replaceable`).

    Example:

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "export"
    >>> def build(path):
    ...     os.makedirs(path)
    ...     pathlib.Path(path, "model.txt").write_text("v1")
    >>> sorted(p.name for p in replace_dir_atomically(build, out).iterdir())
    ['keras_seq_export.json', 'model.txt']
    """
    target = pathlib.Path(target)
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-tmp-"))
    new = work / "new"
    try:
        build(str(new))
        from keras_seq import __version__

        (new / EXPORT_MARKER).write_text(
            json.dumps({"written_by": "keras-seq", "version": __version__}) + "\n",
            encoding="utf-8")
        check_replaceable(target)  # again: the folder may have changed while building
        old = work / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(new, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
