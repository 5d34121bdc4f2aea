"""`keras-seq`: train the ready applications and query any exported SavedModel.

    keras-seq train APP [options]        # e.g. keras-seq train imdb --quick
    keras-seq train APP --help           # the application's options
    keras-seq predict EXPORT_DIR TEXT... [--json]
    keras-seq predict CAPTIONER_EXPORT IMAGE_FILE...   # signatures taking `*_bytes`
    keras-seq workers N train APP [options]   # N local multi-worker processes (tf.distribute)

Applications are rows of `APPLICATIONS`: a short name, the module under
`keras_seq.applications` and a one-line description. An application module defines
`add_arguments(parser)` (fills an argparse parser) and `run(args)` (trains, evaluates,
exports; raises `ValueError` on bad input), and imports heavy libraries inside `run` so that
the CLI stays fast. A new application adds one row.
"""

import argparse
import importlib
import pathlib
from importlib import util as importlib_util
import json
import math
import os
import sys

from keras_seq.app_args import run_main

APPLICATIONS = {
    "imdb": ("keras_seq.applications.imdb_sentiment",
             "IMDB movie-review sentiment: BiRNN classifier, raw strings in the export"),
    "char-lm": ("keras_seq.applications.char_lm",
                "char-level language model (The Time Machine): Elman/RNN/GRU/LSTM, text generation"),
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
    parser = argparse.ArgumentParser(
        prog="keras-seq", description="Sequence models for Keras 3: train applications, "
        "query exported SavedModels.", epilog=_apps_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
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
    predict = sub.add_parser(
        "predict", help="run an exported SavedModel on inputs",
        description="Load EXPORT_DIR with tf.saved_model.load, call a signature (default "
        "serving_default) on the inputs and print one line per input.")
    predict.add_argument("export_dir", metavar="EXPORT_DIR", help="SavedModel directory")
    predict.add_argument("inputs", nargs="*", metavar="INPUT",
                         help="input strings (use --file to read one per line); image files "
                              "for a signature that takes encoded bytes (e.g. image_bytes)")
    predict.add_argument("--file", default=None, help="read inputs from this file, one per line "
                         "('-' = stdin)")
    predict.add_argument("--json", action="store_true", help="print JSON (one list)")
    predict.add_argument("--signature", default="serving_default",
                         help="signature to call (default serving_default)")
    return parser


def import_application(module_name):
    """Imports `keras_seq.applications.X`.

    An installed package maps `keras_seq.applications` to the repository's `applications/`
    folder (setup.py `package_dir`). A legacy editable install (`setup.py develop`, an
    egg-link) ignores that mapping; then the folder next to the package is registered as
    `keras_seq.applications` here.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != "keras_seq.applications":
            raise
    folder = pathlib.Path(__file__).resolve().parents[1] / "applications"
    spec = importlib_util.spec_from_file_location(
        "keras_seq.applications", folder / "__init__.py",
        submodule_search_locations=[str(folder)])
    if spec is None or not (folder / "__init__.py").is_file():
        raise ModuleNotFoundError(f"No module named {module_name!r} (and no {folder}).")
    package = importlib_util.module_from_spec(spec)
    sys.modules["keras_seq.applications"] = package
    spec.loader.exec_module(package)
    return importlib.import_module(module_name)


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


def _to_python(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        return _to_python(value.tolist())
    if isinstance(value, list):
        return [_to_python(v) for v in value]
    return value


def predict(export_dir, inputs, signature="serving_default"):
    """Calls `signature` of the SavedModel at `export_dir` on a list of strings.

    Args:
        export_dir: SavedModel directory.
        inputs: list of str (file paths when the signature's input name ends in "bytes",
            e.g. a captioner's `image_bytes`: the files' bytes are sent).
        signature: signature name.

    Returns:
        A list with one dict per input: `{"input": str, <output name>: value, ...}`.

    Raises:
        ValueError: `export_dir` is no SavedModel, the signature is missing, or it does not
            take exactly one string tensor; an input file is unreadable, or the model
            rejected an input (e.g. bytes that are no image).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:  # registers the ops of exports with tensorflow-text tokenizers (word pieces)
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ValueError(f"EXPORT_DIR must be a SavedModel directory (with saved_model.pb), "
                         f"got {export_dir!r}.")
    loaded = tf.saved_model.load(export_dir)
    if signature not in loaded.signatures:
        raise ValueError(f"--signature must be one of {sorted(loaded.signatures)}, "
                         f"got {signature!r}.")
    fn = loaded.signatures[signature]
    specs = fn.structured_input_signature[1]
    if len(specs) != 1 or next(iter(specs.values())).dtype != tf.string:
        raise ValueError(
            f"signature {signature!r} of {export_dir} takes {specs}; `keras-seq predict` needs "
            "one tf.string input.")
    name = next(iter(specs))
    values = list(inputs)
    if name.endswith("bytes"):  # e.g. a captioner's image_bytes: the inputs are file paths
        values = [_read_input_file(path, name) for path in inputs]
    try:
        outputs = fn(**{name: tf.constant(values, tf.string)})
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"{export_dir} rejected the input: {_reason(error.message)}") from None
    rows = []
    for i, text in enumerate(inputs):
        row = {"input": text}
        for key in sorted(outputs):
            value = outputs[key].numpy()
            row[key] = _to_python(value[i]) if value.ndim and value.shape[0] == len(inputs) \
                else _to_python(value)
        rows.append(row)
    return rows


def _reason(message):
    """The informative line of a TensorFlow error (not "Graph execution error:" or a trace)."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[", "\t")
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.lstrip().startswith(skip)]
    return lines[0] if lines else message.strip()


def _read_input_file(path, name):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise ValueError(f"INPUT {path!r}: the signature takes {name}, so each input must be "
                         f"a readable file ({error.strerror}).") from None


def _predict(args, parser):
    inputs = list(args.inputs)
    if args.file:
        try:
            stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
        except OSError as error:
            parser.exit(2, f"keras-seq predict: error: --file {args.file!r}: {error}\n")
        with stream:
            inputs += [line.rstrip("\n") for line in stream]
    if not inputs:
        parser.exit(2, "keras-seq predict: error: INPUT: give at least one input string "
                       "(or --file).\n")
    try:
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


def main(argv=None):
    """Entry point of the `keras-seq` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
    return _predict(args, parser)


if __name__ == "__main__":
    sys.exit(main())
