"""Start-up of the `keras-seq` command: TensorFlow's own log lines stay out unless asked.

This module imports nothing heavy, so `keras_seq/__init__.py` can call it before it imports
Keras (and with it TensorFlow): `import keras_seq` registers every layer with Keras, which
imports TensorFlow, whose C++ start-up notices ("oneDNN custom operations are on", "failed
call to cuInit") would otherwise open every `keras-seq` command.
"""

import logging
import os
import sys

TF_LOGS_ENV = "KERAS_SEQ_TF_LOGS"  # "1": show TensorFlow's own log lines (keras-seq --verbose)
_VERBOSE_FLAGS = ("--verbose", "--tf-logs")


def is_cli_process(argv=None):
    """True when this process is a keras-seq command started without `--verbose`/`--tf-logs`
    (top-level options of `keras-seq`): the `keras-seq` console script, `-m keras_seq.cli`,
    or an application run as a script (`python applications/<stem>.py`, or `-m` of
    `keras_seq.applications.<stem>`; these show TensorFlow's lines with
    `$KERAS_SEQ_TF_LOGS=1`)."""
    if argv is None:  # while `-m MODULE` imports the package, sys.argv[0] is "-m"
        argv = sys.argv
        original = list(getattr(sys, "orig_argv", []))
        # Only the interpreter's own -m (a script's argument "-m" is not the module to run).
        if argv[:1] == ["-m"] and "-m" in original and original.index("-m") + 1 < len(original):
            module = original[original.index("-m") + 1]
            argv = [module.replace(".", "/") + ".py", *original[original.index("-m") + 2:]]
    if not argv:
        return False
    program = os.path.normpath(argv[0])
    application = (program.endswith(".py") and not program.endswith("__init__.py")
                   and os.path.basename(os.path.dirname(program)) == "applications")
    cli = os.path.basename(program) == "keras-seq" or program.endswith(
        os.path.join("keras_seq", "cli.py"))
    return application or (cli and not (len(argv) > 1 and argv[1] in _VERBOSE_FLAGS))


def import_tensorflow_quietly():
    """Imports TensorFlow without its start-up log lines; returns the module.

    TensorFlow writes its C++ notices straight to the process's stderr while it is
    imported ("oneDNN custom operations are on", "Could not find cuda drivers", "All log
    messages before absl::InitializeLog()") and later "failed call to cuInit" errors on a
    machine without a GPU. Unless `$KERAS_SEQ_TF_LOGS` is "1" (`keras-seq --verbose`), this
    sets `TF_CPP_MIN_LOG_LEVEL=3` (if unset), holds stderr's file descriptor in a temporary
    file during the import (written back if the import fails) and sets the Python loggers
    of absl and TensorFlow to errors only. Nothing happens if TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if os.environ.get(TF_LOGS_ENV) == "1":
        import tensorflow

        return tensorflow
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", errors="replace"))
            sys.stderr.flush()
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    tensorflow.get_logger().setLevel(logging.ERROR)
    return tensorflow


def quiet_tensorflow_at_exit():
    """After an interrupted run: TensorFlow's Python logger says nothing more (unless
    `$KERAS_SEQ_TF_LOGS` is "1"), so the one-line message stays the last line. Objects of a
    trace that Ctrl-C cut short are collected at exit and TensorFlow logs an "Object was
    never used" error for each."""
    if os.environ.get(TF_LOGS_ENV) != "1":
        logging.getLogger("tensorflow").setLevel(logging.CRITICAL)
