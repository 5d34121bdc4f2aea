"""Writing a directory atomically: build it under a temporary name, then rename."""

import os
import pathlib
import shutil
import tempfile


def replace_dir_atomically(build, target):
    """Calls `build(tmp_dir)` and moves the result to `target`.

    The temporary directory sits next to `target` (same file system, so the rename is
    atomic). An existing `target` is replaced only after `build` succeeded; on failure
    nothing is left behind.

    Args:
        build: function that writes into the (not yet existing) path it receives.
        target: final directory path.

    Returns:
        `target` as a `pathlib.Path`.
    """
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-tmp-"))
    new = work / "new"
    try:
        build(str(new))
        old = work / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(new, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
