"""Argument checks shared by the layers (keras + numpy only).

Static checks read shapes known when the layer is traced (ranks, matching sizes) and cost
nothing at run time. Checks of data-dependent values (token ids, a cache index held in a
tensor) run only when the values are concrete, i.e. in eager calls (`concrete_value`):
inside `tf.function`, XLA or `jax.jit` they add nothing to the compiled step.
"""

import keras
import numpy as np
from keras import ops


def static_shape(x):
    """The static shape of `x` as a tuple (None for unknown sizes).

    An unknown size is None in TensorFlow and a symbolic dimension in JAX (Keras traces a
    layer with one for the batch size); both come back as None.
    """
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return tuple(_static_size(d) for d in shape)


def _static_size(d):
    if d is None:
        return None
    try:
        return int(d)
    except Exception:  # noqa: BLE001 (JAX's InconclusiveDimensionOperation: symbolic)
        return None


def check_rank(layer, argument, shape, ranks, layout):
    """Raises a `ValueError` unless `len(shape)` is one of `ranks`.

    Args:
        layer: the layer (its class name goes into the message).
        argument: the name of the argument checked.
        shape: its static shape.
        ranks: int or tuple of the ranks accepted.
        layout: the expected layout, e.g. "(batch, T, features)".
    """
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if len(shape) not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{type(layer).__name__}: `{argument}` must have rank {expected} {layout}, got "
            f"shape {shape} (rank {len(shape)})."
        )


def check_same_size(layer, what, sizes):
    """Raises a `ValueError` unless the known sizes in `sizes` are equal.

    Args:
        layer: the layer (its class name goes into the message).
        what: what is compared, e.g. "the batch sizes of `query` and `value`".
        sizes: list of `(name, size)`; a None size (unknown) is skipped.
    """
    known = [(name, size) for name, size in sizes if size is not None]
    if len({size for _, size in known}) > 1:
        listed = ", ".join(f"{name} {size}" for name, size in known)
        raise ValueError(f"{type(layer).__name__}: {what} must be equal, got {listed}.")


def concrete_value(x):
    """`x` as a numpy array when its values are known now, else None.

    Known: Python numbers, numpy arrays, eager tensors. Unknown: tensors being traced by
    `tf.function`, XLA or `jax.jit`, and the symbolic tensors of a functional model.
    """
    if x is None or keras.utils.is_keras_tensor(x):
        return None
    if isinstance(x, (int, float, np.number, np.ndarray, list, tuple)):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except (NotImplementedError, TypeError):  # tf.function/XLA and jax.jit tracers
        return None


def check_cache_index(layer, argument, index, cache_length, new_length):
    """Raises a `ValueError` unless `new_length` steps written at `index` fit in the cache.

    Checked when `index` is a Python int or otherwise concrete (eager); a traced index is
    not checked (`ops.slice_update` would clamp it silently under XLA).

    Args:
        layer: the layer (its class name goes into the message).
        argument: the name of the index argument.
        index: int or scalar tensor.
        cache_length: the number of slots S of the cache (None: unknown, not checked).
        new_length: the number of steps written (None: unknown, taken as 1).
    """
    value = concrete_value(index)
    if value is None:
        return
    if value.ndim != 0 or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(
            f"{type(layer).__name__}: `{argument}` must be an int or an int scalar tensor, "
            f"got {argument}={index!r}."
        )
    if cache_length is None:
        return
    new_length = 1 if new_length is None else new_length
    last = cache_length - new_length
    if not 0 <= int(value) <= last:
        raise ValueError(
            f"{type(layer).__name__}: `{argument}` must be in [0, {last}] so that "
            f"{new_length} new step(s) fit in a cache of {cache_length} slots, got "
            f"{argument}={int(value)}."
        )


def check_token_ids(layer, argument, token_ids, vocabulary_size):
    """Raises a `ValueError` if concrete (eager) `token_ids` leave `[0, vocabulary_size)`.

    Traced ids (`tf.function`, XLA, `jax.jit`) are not checked: a data-dependent check
    would cost every compiled step a device-to-host round trip.
    """
    values = concrete_value(token_ids)
    if values is None or values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= vocabulary_size:
        raise ValueError(
            f"{type(layer).__name__}: `{argument}` must hold ids in [0, {vocabulary_size}) "
            f"(vocabulary size {vocabulary_size}), got ids from {low} to {high}."
        )
