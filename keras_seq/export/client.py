"""Query any exported SavedModel from Python: what it takes, and its outputs on inputs.

    from keras_seq.export.client import describe_export, predict

    describe_export("runs/imdb/RUN/export")
    # ['serving_default: text (one text per input) -> label, probability']
    predict("runs/imdb/RUN/export", ["a joy to watch"])
    # [{'input': 'a joy to watch', 'label': 'positive', 'probability': 0.97...}]

`keras-seq predict` is these functions plus argument parsing and printing. The export is
loaded with plain `tf.saved_model.load` (tensorflow-text registered for word-piece exports);
keras_seq's models are not imported.
"""

import os

from keras_seq._startup import import_tensorflow_quietly

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _to_python(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        return _to_python(value.tolist())
    if isinstance(value, list):
        return [_to_python(v) for v in value]
    return value


def _load_export(export_dir):
    """`tf.saved_model.load(export_dir)`, with the ops of tensorflow-text registered."""
    tf = import_tensorflow_quietly()
    try:  # registers the ops of exports with tensorflow-text tokenizers (word pieces)
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    return tf, tf.saved_model.load(export_dir)


def read_signatures(export_dir):
    """The signatures of a SavedModel, read from its saved_model.pb (nothing is loaded).

    Args:
        export_dir: SavedModel directory.

    Returns:
        `{signature: (inputs, outputs)}`: `inputs` maps each input name to `(dtype name,
        shape)` (shape a list with -1 for unknown sizes, or None for an unknown rank);
        `outputs` is the sorted list of output names.

    Raises:
        ValueError: `export_dir` holds no readable saved_model.pb.
    """
    tf = import_tensorflow_quietly()
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    if not os.path.isfile(path):
        raise ValueError(f"EXPORT_DIR must be a SavedModel directory (with saved_model.pb), "
                         f"got {export_dir!r}.")
    proto = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
    except Exception as error:  # a damaged file: protobuf's DecodeError, OSError
        raise ValueError(f"EXPORT_DIR {export_dir!r}: saved_model.pb cannot be read "
                         f"({type(error).__name__}: {error}).") from None
    signatures = {}
    for graph in proto.meta_graphs:
        for name, sig in graph.signature_def.items():
            if name.startswith("__"):  # __saved_model_init_op
                continue
            inputs = {key: (tf.dtypes.as_dtype(info.dtype).name,
                            None if info.tensor_shape.unknown_rank
                            else [d.size for d in info.tensor_shape.dim])
                      for key, info in sig.inputs.items()}
            signatures[name] = (inputs, sorted(sig.outputs))
    return signatures


def _describe_input(name, dtype, shape):
    if dtype == "string" and name.endswith("bytes"):
        return f"{name} (one image/binary file path per input)"
    if dtype == "string" and shape == [-1]:
        return f"{name} (one text per input)"
    return f"{name} ({dtype}, shape {shape if shape is not None else 'any'})"


def _callable_input(inputs):
    """The input name of a signature `keras-seq predict` can call (one string), or None."""
    if len(inputs) == 1 and next(iter(inputs.values()))[0] == "string":
        return next(iter(inputs))
    return None


def describe_export(export_dir):
    """What an export takes and returns, one line per signature.

    Args:
        export_dir: SavedModel directory.

    Returns:
        A list of lines like `serving_default: text (one text per input) -> label,
        probability`; signatures `keras-seq predict` cannot call (not one string input) say so.

    Raises:
        ValueError: `export_dir` is no SavedModel directory.
    """
    lines = []
    for signature, (inputs, outputs) in sorted(read_signatures(export_dir).items()):
        described = ", ".join(_describe_input(name, *spec) for name, spec in sorted(inputs.items()))
        note = "" if _callable_input(inputs) else \
            "  [keras-seq predict cannot call it: it needs one string input]"
        lines.append(f"{signature}: {described} -> {', '.join(outputs)}{note}")
    return lines


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
            take exactly one string tensor; an input file is unreadable; an image file is
            given to a signature that takes text; or the model rejected an input (e.g. bytes
            that are no image, a forecaster history with NaN).
    """
    signatures = read_signatures(export_dir)
    if signature not in signatures:
        raise ValueError(f"--signature must be one of {sorted(signatures)}, got {signature!r}.")
    name = _callable_input(signatures[signature][0])
    if name is None:
        raise ValueError(
            f"signature {signature!r} of {export_dir} takes "
            f"{', '.join(_describe_input(k, *v) for k, v in signatures[signature][0].items())}"
            "; `keras-seq predict` needs one string input.")
    values = list(inputs)
    if name.endswith("bytes"):  # e.g. a captioner's image_bytes: the inputs are file paths
        values = [_read_input_file(path, name) for path in inputs]
    else:
        for text in inputs:
            if text.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(text):
                raise ValueError(
                    f"INPUT {text!r} is an image file, but signature {signature!r} of "
                    f"{export_dir} takes text ({name}); give text (an image needs an export "
                    "whose input is image_bytes, e.g. the captioner's).")
    tf, loaded = _load_export(export_dir)
    fn = loaded.signatures[signature]
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
