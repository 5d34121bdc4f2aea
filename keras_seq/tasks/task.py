"""`Task`: a network plus the preprocessing of its raw inputs, trained and used on raw data.

A task is what an application is made of, seen from Python:

    task = ImdbClassifier.from_texts(texts, labels)      # learns the vocabulary
    task.fit(texts, labels, validation_data=(val_texts, val_labels), epochs=2)
    task.predict(["a joy to watch"])                     # {"label": [...], "probability": ...}
    task.save("imdb.kseq"); keras_seq.load("imdb.kseq")  # one file, no pickle
    task.export("export/")                               # SavedModel: raw strings in

The preprocessor (standardisation, tokenizer) is one piece of TensorFlow code used three
times: in `tf.data` for training, in `predict`, and inside the exported SavedModel.
"""

import abc
import json
import os
import pathlib
import tempfile
import zipfile

import keras
import numpy as np
import tensorflow as tf

FORMAT = "keras-seq-task/1"
TASK_FILE = "task.json"
WEIGHTS_FILE = "network.weights.h5"
TASK_CLASSES = {}  # stem -> Task subclass, filled by `Task.__init_subclass__`


class Task(abc.ABC):
    """Base class of the tasks: a Keras `network` plus the `preprocessor` of its raw inputs.

    Subclasses set `stem` (the one name of the task: CLI name, module, export, tests) and
    implement:
      - `dataset(x, y=None, batch_size, shuffle=False, seed=None)` → `(tf.data.Dataset,
        steps_per_epoch or None)` of preprocessed batches from raw inputs;
      - `compile(...)` with the task's defaults (optimizer, loss, metrics), which sets
        `self.trainer`: the compiled Keras model that `fit` trains (the network itself, or a
        trainer around it such as `AdversarialEmbeddingTrainer`; same weights);
      - `predict(x)` → the human-facing outputs;
      - `export(path)` → a SavedModel built from the same preprocessor;
      - `get_config()` (JSON: the preprocessor and the task options) and
        `from_config(config, network)`.

    Args:
        network: a built Keras model from `keras_seq.models`.
        preprocessor: the object that turns raw inputs into the network's inputs.
    """

    stem = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.stem:
            TASK_CLASSES[cls.stem] = cls

    def __init__(self, network, preprocessor):
        if not isinstance(network, keras.Model):
            raise ValueError(
                f"`network` must be a keras.Model, got {type(network).__name__}.")
        self.network = network
        self.preprocessor = preprocessor
        self.trainer = None

    # ---- training ---------------------------------------------------------------------
    def fit(self, x=None, y=None, *, validation_data=None, epochs=1, batch_size=32,
            callbacks=None, verbose="auto", seed=None, **compile_kwargs):
        """Trains on raw inputs; compiles with the task's defaults first if needed.

        Args:
            x: raw inputs (a list or array of strings, ...), or a `tf.data.Dataset` of
                `(raw input, target)` pairs.
            y: the targets of `x` (None when `x` is a dataset).
            validation_data: `(x_val, y_val)` or a dataset like `x`.
            epochs: number of epochs.
            batch_size: batch size.
            callbacks: Keras callbacks.
            verbose: `model.fit` verbosity.
            seed: the shuffling seed.
            **compile_kwargs: passed to `compile` when the task is not compiled yet.

        Returns:
            The Keras `History`.
        """
        train, steps = self.dataset(x, y, batch_size=batch_size, shuffle=True, seed=seed)
        val = None
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)):
                if len(validation_data) != 2:
                    raise ValueError("`validation_data` must be (x, y) or a dataset, got a "
                                     f"sequence of {len(validation_data)} items.")
                val, _ = self.dataset(*validation_data, batch_size=batch_size)
            else:
                val, _ = self.dataset(validation_data, batch_size=batch_size)
        if self.trainer is None:
            self.compile(total_steps=max(1, (steps or _cardinality(train)) * epochs),
                         **compile_kwargs)
        return self.trainer.fit(train, validation_data=val, epochs=epochs,
                                steps_per_epoch=steps, callbacks=callbacks, verbose=verbose,
                                shuffle=False)  # tf.data shuffles (seeded, every epoch)

    def evaluate(self, x=None, y=None, batch_size=32):
        """The trainer's loss and metrics on raw inputs, as a dict."""
        if self.trainer is None:
            self.compile(total_steps=1)
        data, steps = self.dataset(x, y, batch_size=batch_size)
        return self.trainer.evaluate(data, steps=steps, verbose=0, return_dict=True)

    # ---- one artifact -----------------------------------------------------------------
    def save(self, path):
        """Writes the task (network config and weights, preprocessor, options) to one file.

        The file is a zip archive holding `task.json` and `network.weights.h5`; it is
        written to a temporary name and renamed, so a failed save leaves nothing behind.
        `keras_seq.load(path)` reopens it.

        Returns:
            `path` as a `pathlib.Path`.
        """
        path = pathlib.Path(path)
        if path.is_dir():
            raise ValueError(f"`path` must be a file name, got the folder {str(path)!r}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        network_config = keras.saving.serialize_keras_object(self.network)
        network_config.pop("compile_config", None)
        spec = {"format": FORMAT, "task": self.stem, "config": self.get_config(),
                "network": network_config}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
        os.close(fd)
        with tempfile.TemporaryDirectory() as work:
            weights = os.path.join(work, WEIGHTS_FILE)
            self.network.save_weights(weights)
            try:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                    archive.writestr(TASK_FILE, json.dumps(spec))
                    archive.write(weights, WEIGHTS_FILE)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        return path

    @classmethod
    def load(cls, path):
        """Reopens a file written by `save` (see `keras_seq.load`)."""
        path = pathlib.Path(path)
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise ValueError(f"`path` must be a task file written by Task.save, got "
                             f"{str(path)!r} ({error}).") from None
        with archive, tempfile.TemporaryDirectory() as work:
            names = set(archive.namelist())
            if not {TASK_FILE, WEIGHTS_FILE} <= names:
                raise ValueError(f"{str(path)!r} is no keras-seq task file (it lacks "
                                 f"{TASK_FILE} or {WEIGHTS_FILE}).")
            spec = json.loads(archive.read(TASK_FILE).decode("utf-8"))
            if spec.get("format") != FORMAT:
                raise ValueError(f"{str(path)!r} has format {spec.get('format')!r}; this "
                                 f"keras-seq reads {FORMAT!r}.")
            task_class = TASK_CLASSES.get(spec["task"])
            if task_class is None:
                raise ValueError(f"{str(path)!r} holds a {spec['task']!r} task; known tasks: "
                                 f"{sorted(TASK_CLASSES)}.")
            if cls is not Task and not issubclass(task_class, cls):
                raise ValueError(f"{str(path)!r} holds a {spec['task']!r} task, not a "
                                 f"{cls.__name__}.")
            network = keras.saving.deserialize_keras_object(spec["network"])
            task = task_class.from_config(spec["config"], network)
            task.build_network()
            network.load_weights(archive.extract(WEIGHTS_FILE, work))
        return task

    def build_network(self):
        """Creates the network's variables (a subclassed network builds lazily)."""
        if not self.network.built:
            self.network.build()

    # ---- for subclasses ---------------------------------------------------------------
    @abc.abstractmethod
    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """`(tf.data.Dataset of preprocessed batches, steps_per_epoch or None)`."""

    @abc.abstractmethod
    def compile(self, total_steps=1, **kwargs):
        """Compiles with the task's defaults and sets `self.trainer`."""

    @abc.abstractmethod
    def predict(self, x):
        """The human-facing outputs for raw inputs `x`."""

    @abc.abstractmethod
    def export(self, path):
        """Writes the SavedModel (raw inputs in) built from the task's preprocessor."""

    @abc.abstractmethod
    def get_config(self):
        """JSON-serializable options and preprocessor state; see `from_config`."""

    @classmethod
    def from_config(cls, config, network):
        """Rebuilds the task from `get_config()` and its network."""
        return cls(network, **config)


def text_tensor(x, name="x"):
    """The raw texts `x` of a task as a `tf.string` vector `[B]`; one-line errors otherwise.

    Accepts a list or array of str/bytes, or a rank-1 `tf.string` tensor (also symbolic,
    inside `tf.data` and the SavedModel).
    """
    return string_tensor(x, name)


def string_tensor(x, name="x", what="strings", types=(str, bytes, np.str_, np.bytes_),
                  hint=None):
    """`x` (a list or array of `types`, or a rank-1 `tf.string` tensor) as `tf.string [B]`.

    Args:
        x: the values.
        name: the argument's name in the errors.
        what: what `x` must hold, in the errors ("strings", "encoded image bytes").
        types: the accepted Python types of the values (str values are UTF-8 encoded).
        hint: optional `hint(value)` -> text added to the error about a refused value.

    Raises:
        ValueError: one string in place of a list, a tensor of another dtype or rank, or a
            value of another type (its index named).
    """
    if isinstance(x, (str, bytes)):
        raise ValueError(f"`{name}` must be a list of {what}, got one {type(x).__name__} "
                         f"{x[:40]!r}: wrap it in a list.")
    if isinstance(x, tf.Tensor):
        if x.dtype != tf.string or x.shape.rank != 1:
            raise ValueError(f"`{name}` must be a rank-1 tf.string tensor, got {x.dtype.name} "
                             f"of shape {x.shape}.")
        return x
    values = list(x)
    for i, value in enumerate(values):
        if not isinstance(value, types):
            raise ValueError(f"`{name}` must hold {what}, got {type(value).__name__} at "
                             f"index {i}{hint(value) if hint else ''}.")
    return tf.constant([v if isinstance(v, (bytes, np.bytes_)) else str(v) for v in values],
                       tf.string, shape=[len(values)])


def _cardinality(dataset):
    n = int(dataset.cardinality())
    if n == tf.data.INFINITE_CARDINALITY or n < 0:
        raise ValueError("an endless or unsized dataset needs `steps_per_epoch`: pass a "
                         "sized dataset to Task.fit.")
    return n


def load(path):
    """Opens a saved task file, or the task of a finished run folder.

    Args:
        path: a file written by `Task.save`, or a run folder (`runs/APP/<time>/`) whose
            application saved its task as `task.kseq`.

    Returns:
        The `Task`.

    Raises:
        ValueError: `path` is neither.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        if not (path / "task.kseq").is_file():
            raise ValueError(f"{str(path)!r} is a folder without task.kseq: not a finished "
                             "run of an application that saves its task.")
        path = path / "task.kseq"
    if not path.is_file():
        raise ValueError(f"`path` must be a task file or a run folder, got {str(path)!r} "
                         "(not found).")
    return Task.load(path)
