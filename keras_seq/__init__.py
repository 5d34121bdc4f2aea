"""keras-seq: neural networks on sequences for Keras 3.

`import keras_seq` registers every serializable layer and model with Keras (so a `.keras`
file holding them loads with `keras.saving.load_model` after this import alone) and exposes
the public modules:

- `keras_seq.layers`: the lecture's building blocks (keras + keras.ops only);
- `keras_seq.models`: networks built from them;
- `keras_seq.generation`: greedy, beam and sampling decoders over one cache contract;
- `keras_seq.losses`;
- `keras_seq.tasks`: a network plus the preprocessing of its raw inputs (TensorFlow);
- `keras_seq.load(path)`: reopens a saved task or a finished run folder.

`tasks` and `load` need TensorFlow and are imported on first use. Under another backend
(JAX), `import keras_seq` imports and registers the layers only, without TensorFlow; the
models and `generation` are imported (and registered) on first use, e.g.
`keras_seq.models`, because keras_hub, which they use, imports TensorFlow when it is installed.
"""

import importlib

from keras_seq import _startup

if _startup.is_cli_process():  # the `keras-seq` command: TensorFlow's start-up lines stay out
    _startup.import_tensorflow_quietly()

import keras  # noqa: E402

from keras_seq import layers, losses  # noqa: E402 (registers the layers and losses)

if keras.backend.backend() == "tensorflow":  # registers the models (keras_hub brings in TF)
    from keras_seq import generation, models  # noqa: E402

__version__ = "0.1.0"
_LAZY = ("models", "generation", "tasks", "data", "export", "callbacks", "metrics", "training",
         "distribution")


def load(path):
    """Opens a task file written by `Task.save`, or the task of a finished run folder.

    See `keras_seq.tasks.load`.
    """
    from keras_seq.tasks import load as load_task

    return load_task(path)


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"keras_seq.{name}")
    raise AttributeError(f"module 'keras_seq' has no attribute {name!r}")


__all__ = ["generation", "layers", "load", "losses", "models", "tasks", "__version__"]
