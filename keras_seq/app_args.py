"""The entry point every application shares, and its one-line failures.

`run_main` is the one entry point of every application (`keras-seq train APP` and
`python applications/APP.py`): it parses the options, imports TensorFlow without its
start-up log lines (unless `$KERAS_SEQ_TF_LOGS=1`, set by `keras-seq --verbose`), and turns
the expected failures into one-line messages: bad input (exit 2), files that cannot be read
or written (exit 1), Ctrl-C (exit 130, with the command that resumes the run). Anything
else is a bug and keeps its traceback.
"""

import contextlib
import logging
import sys

from keras_seq._startup import (  # noqa: F401 (TF_LOGS_ENV re-exported)
    TF_LOGS_ENV, import_tensorflow_quietly, quiet_tensorflow_at_exit)

INTERRUPTED_EXIT_STATUS = 130  # 128 + SIGINT, as a shell reports Ctrl-C
OS_ERROR_EXIT_STATUS = 1


def run_main(parser, run, argv=None, app=None):
    """Parses `argv` and calls `run(args)` inside the strategy of `--strategy`.

    Before `run`: refuses a `--run-dir` that holds another application's run,
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
    from keras_seq.distribution.training_cluster import (WORKER_LOST_EXIT_STATUS,
                                                         WorkerLostError, run_in_cluster)
    from keras_seq.runs import check_run_owner, clear_current_run, current_run

    args = parser.parse_args(argv)
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
        quiet_tensorflow_at_exit()
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
