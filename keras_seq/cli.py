"""`keras-seq`: train the ready applications and query any exported SavedModel.

    keras-seq train APP [options]        # e.g. keras-seq train imdb --quick
    keras-seq train APP --help           # the application's options
    keras-seq predict EXPORT_DIR TEXT... [--json]   # options may come anywhere
    keras-seq predict CAPTIONER_EXPORT IMAGE_FILE...   # signatures taking `*_bytes`
    keras-seq predict EXPORT_DIR                 # says what the export takes and returns
    keras-seq workers N train APP [options]   # N local multi-worker processes (tf.distribute)
    keras-seq --verbose COMMAND ...           # with TensorFlow's own log lines

TensorFlow's start-up lines (CUDA probing, oneDNN notices) are kept out of the output unless
`keras-seq --verbose` (or `$KERAS_SEQ_TF_LOGS=1`) asks for them. Expected failures print one
line and exit non-zero: 2 for bad input, 1 for files that cannot be read or written, 130 for
Ctrl-C (with the command that resumes the run).

Applications are rows of `APPLICATIONS`: a short name, the module under
`keras_seq.applications` and a one-line description. An application module defines
`add_arguments(parser)` (fills an argparse parser) and `run(args)` (trains, evaluates,
exports; raises `ValueError` on bad input), and imports heavy libraries inside `run` so that
the CLI stays fast. A new application adds one row.
"""

import argparse
import importlib
import json
import math
import os
import sys

from keras_seq.app_args import (
    INTERRUPTED_EXIT_STATUS, OS_ERROR_EXIT_STATUS, TF_LOGS_ENV, describe_os_error,
    quiet_tensorflow_at_exit, run_main)
from keras_seq.export.client import describe_export, predict

APPLICATIONS = {
    "imdb": ("keras_seq.applications.imdb",
             "IMDB movie-review sentiment: BiRNN classifier, raw strings in the export"),
    "char-lm": ("keras_seq.applications.char_lm",
                "char-level language model (The Time Machine): Elman/RNN/GRU/LSTM, "
                "text generation"),
    "translator": ("keras_seq.applications.translator",
                   "translation: RNN encoder-decoder, RNN + Bahdanau attention, transformer "
                   "(generated dates by default; --dataset fra-eng)"),
    "captioner": ("keras_seq.applications.captioner",
                  "image captioning: CNN encoder + GRU/LSTM decoder with attention over image "
                  "regions (generated shape scenes by default; --dataset flickr8k)"),
    "gpt-lm": ("keras_seq.applications.gpt_lm",
               "GPT-style causal transformer LM (The Time Machine or any text file): "
               "char or word-piece tokens, KV-cached generation"),
    "bert-mlm": ("keras_seq.applications.bert_mlm",
                 "BERT-style masked LM (The Time Machine or any text file): word pieces, "
                 "[CLS]/[SEP] sentence pairs, fill_mask"),
    "elmo-lm": ("keras_seq.applications.elmo_lm",
                "ELMo-style bidirectional LSTM LM: forward + backward LMs, contextual "
                "embeddings (embed) for the IMDB classifier"),
    "tagger": ("keras_seq.applications.tagger",
               "aligned seq2seq: stacked (bi)RNN tags every character of generated text "
               "(numbers and dates, B/I/O)"),
    "forecaster": ("keras_seq.applications.forecaster",
                   "time-series forecasting with an RNN (daily temperatures, sunspots, airline "
                   "passengers) against persistence and seasonal-naive baselines"),
}


def _apps_epilog():
    width = max(len(name) for name in APPLICATIONS)
    lines = ["applications:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in APPLICATIONS.items()]
    return "\n".join(lines)


def build_parser():
    """The top-level parser (`train` takes the application's options after APP)."""
    return _build_parsers()[0]


def _build_parsers():
    """The top-level parser and its `predict` subparser."""
    parser = argparse.ArgumentParser(
        prog="keras-seq", description="Sequence models for Keras 3: train applications, "
        "query exported SavedModels.", epilog=_apps_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", "--tf-logs", dest="tf_logs", action="store_true",
                        help="show TensorFlow's own log lines (CUDA probing, oneDNN notices, "
                             "warnings); sets $KERAS_SEQ_TF_LOGS=1 for the command. Not the "
                             "applications' --verbose {auto,0,1,2}, which comes after APP")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    train = sub.add_parser(
        "train", help="train, evaluate and export an application",
        description="Train, evaluate and export an application. "
        "`keras-seq train APP --help` lists its options.",
        epilog=_apps_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("app", choices=sorted(APPLICATIONS), metavar="APP",
                       help="one of: " + ", ".join(sorted(APPLICATIONS)))
    train.add_argument("app_args", nargs=argparse.REMAINDER,
                       help="the application's options (see keras-seq train APP --help)")
    workers = sub.add_parser(
        "workers", help="run `train APP ...` as N local multi-worker processes",
        description="Start N processes of `keras-seq train APP ... --strategy multi-worker` "
        "on 127.0.0.1 (free ports, TF_CONFIG set for each), print their output prefixed by "
        "worker, and stop the others when one fails. Give --run-dir so a restarted job "
        "resumes from the chief's backup.")
    workers.add_argument("num_workers", type=int, metavar="N", help="number of workers")
    workers.add_argument("--timeout", type=float, default=None,
                         help="stop every worker after this many seconds")
    workers.add_argument("train_argv", nargs=argparse.REMAINDER, metavar="train APP ...",
                         help="the training command (after `keras-seq`)")
    return parser, add_predict_parser(sub)


PREDICT_EPILOG = """\
what the exports of the applications take (serving_default, one input each) and return:
  imdb        review text -> label, probability
  translator  source sentence -> translation
  char-lm     prompt text -> continuation, text
  gpt-lm      prompt text -> generated, text
  bert-mlm    text with [MASK] -> filled, candidates, probabilities, num_masks
  elmo-lm     sentence -> next_word, previous_word (+ probabilities), sentence_embedding
  tagger      text -> tags, spans, num_spans
  forecaster  past values "v1, v2, ..." (finite numbers) -> forecast, forecast_text
  captioner   image file path (JPEG/PNG) -> caption
`keras-seq predict EXPORT_DIR` (no inputs) or `keras-seq predict EXPORT_DIR --help` reads
the export's signatures and says what it takes."""


def add_predict_parser(sub):
    """The `predict` subcommand (parsed with `parse_intermixed_args`: options go anywhere)."""
    predict = sub.add_parser(
        "predict", help="run an exported SavedModel on inputs", add_help=False,
        description="Load EXPORT_DIR with tf.saved_model.load, call a signature (default "
        "serving_default) on the inputs and print one line per input.",
        epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("-h", "--help", action="store_true",
                         help="show this help (and, with EXPORT_DIR, what that export takes)")
    predict.add_argument("export_dir", metavar="EXPORT_DIR", nargs="?",
                         help="SavedModel directory")
    predict.add_argument("inputs", nargs="*", metavar="INPUT",
                         help="input strings (use --file to read one per line); image files "
                              "for a signature that takes encoded bytes (e.g. image_bytes)")
    predict.add_argument("--file", default=None, help="read inputs from this UTF-8 file, one "
                         "per line ('-' = stdin)")
    predict.add_argument("--json", action="store_true", help="print JSON (one list)")
    predict.add_argument("--signature", default="serving_default",
                         help="signature to call (default serving_default)")
    return predict


def import_application(module_name):
    """Imports `keras_seq.applications.X`: the repository's `applications/` folder, which
    setup.py installs as `keras_seq.applications` (`package_dir`).

    Raises:
        ModuleNotFoundError: keras-seq is not installed (one line saying how to install it).
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != "keras_seq.applications":
            raise
        raise ModuleNotFoundError(
            "keras_seq.applications is missing: install keras-seq (`pip install -e .` in the "
            "repository maps applications/ to keras_seq.applications).",
            name=error.name) from None


def app_parser(app):
    """The parser of `keras-seq train APP`, filled by the application's `add_arguments`."""
    module = import_application(APPLICATIONS[app][0])
    parser = argparse.ArgumentParser(prog=f"keras-seq train {app}",
                                     description=APPLICATIONS[app][1])
    module.add_arguments(parser)
    return module, parser


def _train(args):
    module, parser = app_parser(args.app)
    return run_main(parser, module.run, args.app_args)


def _format_value(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def read_input_lines(path):
    """The lines of `--file PATH` ('-' = stdin), decoded as UTF-8.

    Raises:
        ValueError: the file cannot be read, or it is not UTF-8 (the message names the file,
            the byte offset and the line).
    """
    name = "stdin" if path == "-" else repr(path)
    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as error:
        raise ValueError(f"--file {name}: {error.strerror or error}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ValueError(
            f"--file {name} is not UTF-8 text: {error.reason} "
            f"0x{data[error.start:error.end][:4].hex(' ')} at byte offset {error.start} "
            f"(line {line}).") from None
    return text.splitlines()


def _predict(args, parser):
    if args.help:
        parser.print_help()
        if args.export_dir:
            try:
                lines = describe_export(args.export_dir)
            except ValueError as error:
                parser.exit(2, f"keras-seq predict: error: {error}\n")
            print(f"\n{args.export_dir} takes:")
            print("\n".join(f"  {line}" for line in lines))
        return 0
    if not args.export_dir:
        parser.exit(2, "keras-seq predict: error: EXPORT_DIR: give a SavedModel directory "
                       "(see keras-seq predict --help).\n")
    try:
        inputs = list(args.inputs) + (read_input_lines(args.file) if args.file else [])
        if not inputs:
            lines = describe_export(args.export_dir)
            parser.exit(2, "keras-seq predict: error: INPUT: give at least one input (or "
                           f"--file); {args.export_dir} takes:\n"
                           + "".join(f"  {line}\n" for line in lines))
        rows = predict(args.export_dir, inputs, args.signature)
    except ValueError as error:
        parser.exit(2, f"keras-seq predict: error: {error}\n")
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        strings = [_format_value(v) for k, v in row.items() if k != "input" and isinstance(v, str)]
        others = [f"{k}={_format_value(v)}" for k, v in row.items()
                  if k != "input" and not isinstance(v, str)]
        text = row["input"]
        if len(text) > 60 and not os.path.isfile(text):  # file paths are shown whole
            text = text[:57] + "..."
        print("\t".join(strings + others + [json.dumps(text, ensure_ascii=False)]))
    return 0


def _command_index(argv):
    """Index of the command (the first token that is no top-level option), or None."""
    for i, token in enumerate(argv):
        if not token.startswith("-"):
            return i
    return None


def main(argv=None):
    """Entry point of the `keras-seq` console script; returns the exit code.

    `predict` is parsed with `parse_intermixed_args`, so its options may come before, between
    or after the inputs (`keras-seq predict EXPORT --json "a joy"`).
    """
    parser, predict_parser = _build_parsers()
    argv = list(sys.argv[1:] if argv is None else argv)
    at = _command_index(argv)
    if at is not None and argv[at] == "predict":
        args = parser.parse_args(argv[:at + 1])  # the top-level options
        args = argparse.Namespace(**vars(predict_parser.parse_intermixed_args(argv[at + 1:])),
                                  command="predict", tf_logs=args.tf_logs)
    else:
        args = parser.parse_args(argv)
    if args.tf_logs:
        os.environ[TF_LOGS_ENV] = "1"
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "workers":
            from keras_seq.distribution.local_worker_launcher import launch_command

            if args.num_workers < 1:
                parser.exit(2, f"keras-seq workers: error: N must be a positive integer, got "
                               f"{args.num_workers}\n")
            try:
                return launch_command(args.train_argv, args.num_workers, timeout=args.timeout)
            except ValueError as error:
                parser.exit(2, f"keras-seq workers: error: {error}\n")
        return _predict(args, predict_parser)
    except KeyboardInterrupt:
        quiet_tensorflow_at_exit()
        parser.exit(INTERRUPTED_EXIT_STATUS, f"keras-seq {args.command}: interrupted\n")
    except OSError as error:
        parser.exit(OS_ERROR_EXIT_STATUS,
                    f"keras-seq {args.command}: error: {describe_os_error(error)}\n")


if __name__ == "__main__":
    sys.exit(main())
