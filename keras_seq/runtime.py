"""Per-platform defaults chosen from measurement (see benchmarks/RESULTS.md).

Measured on the 2-core CPU machine (TF 2.21): XLA slows *training* steps of RNNs and
transformers (LSTM 0.82x, GRU 0.95x, BiLSTM 0.88x, transformer 0.80x vs no XLA) but
speeds up *inference loops* a lot (a decode loop 2.2 s -> 0.17 s per sentence). On a GPU
XLA is on for both, except for the train step of a job running under a multi-replica
`tf.distribute` strategy (`keras_seq.distribution`): XLA failed to compile its collective ops
here. `KERAS_SEQ_JIT=0|1` overrides everything.
"""

import functools
import os

import keras


@functools.lru_cache(maxsize=None)
def has_accelerator():
    """True when the active Keras backend sees a GPU or TPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(
            tf.config.list_physical_devices("GPU")
            or tf.config.list_physical_devices("TPU")
        )
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def default_jit_compile(purpose="train"):
    """Whether to XLA-compile, for `purpose` in {"train", "inference"}.

    Args:
        purpose: "train" (the `model.fit` step) or "inference" (decode/generate loops).

    Returns:
        bool: True on GPU/TPU; on CPU False for training and True for inference loops;
        False for training under a strategy with more than one replica.
    """
    if purpose not in ("train", "inference"):
        raise ValueError(
            f"`purpose` must be 'train' or 'inference', got purpose={purpose!r}."
        )
    override = os.environ.get("KERAS_SEQ_JIT")
    if override is not None:
        return override.strip().lower() in ("1", "true", "yes", "on")
    if purpose == "train" and _distributed_replicas() > 1:
        # XLA cannot compile tf.distribute's collective ops here: MirroredStrategy over
        # logical CPU devices fails ("tf.Variable on a different device") and
        # MultiWorkerMirroredStrategy has no XLA kernel for CollectiveGatherV2 on CPU.
        # Not measured on GPUs, so the distributed train step stays a plain tf.function.
        return False
    if has_accelerator():
        return True
    return purpose == "inference"


def _distributed_replicas():
    from keras_seq.distribution.training_cluster import current_cluster

    return current_cluster().num_replicas


def resolve_jit(choice, purpose="train"):
    """'on'/'off' → bool; 'auto' → `keras_seq.runtime.default_jit_compile(purpose)`."""
    if choice == "on":
        return True
    if choice == "off":
        return False
    return default_jit_compile(purpose)
