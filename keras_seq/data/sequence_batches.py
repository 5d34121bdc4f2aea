"""Batches of subsequences of one long token stream, for language models (tf.data).

Three ways to cut a corpus `c_0 c_1 ... c_{N-1}` into `(x, y)` pairs with `y_t = x_{t+1}`:

* `window_dataset` - every window of `num_steps + 1` tokens with stride 1 (d2l 1.0's
  `TimeMachine` data: window i is `c_i .. c_{i+num_steps}`), shuffled or not;
* `random_sampling_dataset` - d2l's "random sampling": each epoch picks a random offset
  `o in [0, num_steps)`, cuts `c_o ...` into non-overlapping subsequences and shuffles them:
  consecutive batches are unrelated, so the state starts from zero in every batch;
* `sequential_dataset` - d2l's "sequential partitioning": the stream (after a random offset per
  epoch) is cut into `batch_size` contiguous rows, and batch k holds columns
  `[k*num_steps, (k+1)*num_steps)` of every row, so row b of batch k+1 continues row b of
  batch k. With a stateful RNN (`CharLanguageModel(stateful=True)` + `ResetRNNStates`) the
  state is carried across consecutive batches (truncated BPTT: gradients stop at batch
  boundaries) and reset at each epoch start.

All batches have the same shape `[batch_size, num_steps]` (int32) and each epoch has the same
number of batches (the dataset's cardinality is known).
"""

import numpy as np
import tensorflow as tf


def _check(ids, batch_size, num_steps, need):
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"`ids` must be 1-D token ids, got shape {ids.shape}.")
    for name, value in (("batch_size", batch_size), ("num_steps", num_steps)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
    if len(ids) < need:
        raise ValueError(
            f"`ids` is too short: got {len(ids)} tokens, expected at least {need} for "
            f"batch_size={batch_size}, num_steps={num_steps}.")
    return ids.astype("int32")


def split_by_position(ids, validation_fraction=0.1):
    """The first `1 - validation_fraction` of the stream for training, the rest for validation."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("`validation_fraction` must be in (0, 1), got "
                         f"validation_fraction={validation_fraction!r}.")
    cut = int(round(len(ids) * (1.0 - validation_fraction)))
    return ids[:cut], ids[cut:]


def windows(ids, num_steps, start=0, count=None):
    """All stride-1 windows as numpy `(x, y)`, each `[count, num_steps]` (d2l 1.0's data).

    Args:
        ids: 1-D token ids.
        num_steps: window length (the targets are the next `num_steps` tokens).
        start: first window start.
        count: number of windows (default: all that fit).
    """
    ids = _check(ids, 1, num_steps, num_steps + 1)
    total = len(ids) - num_steps
    count = total - start if count is None else count
    if start < 0 or count <= 0 or start + count > total:
        raise ValueError(f"`start`/`count` must select windows in [0, {total}), got "
                         f"start={start!r}, count={count!r}.")
    index = np.arange(start, start + count)[:, None] + np.arange(num_steps + 1)[None, :]
    block = ids[index]
    return block[:, :-1], block[:, 1:]


def window_dataset(ids, num_steps, batch_size, start=0, count=None, shuffle=True, seed=None,
                   drop_remainder=False):
    """`tf.data.Dataset` of the windows of `windows()`, shuffled each epoch when `shuffle`."""
    x, y = windows(ids, num_steps, start, count)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _random_offset(seed, num_steps, random_offset):
    if not random_offset:
        return tf.data.Dataset.from_tensors(tf.constant(0, tf.int64))
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1).map(
        lambda r: tf.math.floormod(r, num_steps))


def random_sampling_dataset(ids, batch_size, num_steps, seed=None, random_offset=True,
                            drop_remainder=True):
    """d2l's random sampling (see the module docstring) as a `tf.data.Dataset`.

    Args:
        ids: 1-D token ids.
        batch_size: subsequences per batch.
        num_steps: subsequence length.
        seed: seed of the offsets and the shuffling.
        random_offset: draw a new offset in [0, num_steps) each epoch (else 0).
        drop_remainder: drop the last incomplete batch.

    Returns:
        A dataset of `(x, y)` int32 `[batch_size, num_steps]`.
    """
    ids = _check(ids, batch_size, num_steps, batch_size * num_steps + num_steps + 1)
    n = (len(ids) - num_steps - 1) // num_steps  # the same count for every offset
    stream = tf.constant(ids)

    def cut(offset):
        offset = tf.cast(offset, tf.int32)
        x = tf.reshape(stream[offset: offset + n * num_steps], [n, num_steps])
        y = tf.reshape(stream[offset + 1: offset + 1 + n * num_steps], [n, num_steps])
        return tf.data.Dataset.from_tensor_slices((x, y))

    ds = _random_offset(seed, num_steps, random_offset).flat_map(cut)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n))
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def sequential_batches(ids, batch_size, num_steps, offset=0):
    """d2l's sequential partitioning as numpy `(x, y)`, each `[num_batches, batch_size, num_steps]`.

    Row b of batch k+1 continues row b of batch k: `x[k + 1, b, 0]` is the token after
    `x[k, b, -1]` in the stream.
    """
    ids = _check(ids, batch_size, num_steps, batch_size * num_steps + num_steps + 1)
    per_row = (len(ids) - num_steps) // batch_size  # the same for every offset < num_steps
    num_batches = (per_row - 1) // num_steps
    length = num_batches * num_steps
    xs = ids[offset: offset + batch_size * per_row].reshape(batch_size, per_row)
    ys = ids[offset + 1: offset + 1 + batch_size * per_row].reshape(batch_size, per_row)
    x = xs[:, :length].reshape(batch_size, num_batches, num_steps).transpose(1, 0, 2)
    y = ys[:, :length].reshape(batch_size, num_batches, num_steps).transpose(1, 0, 2)
    return x, y


def sequential_dataset(ids, batch_size, num_steps, seed=None, random_offset=True):
    """d2l's sequential partitioning (see `sequential_batches`) with a new offset each epoch.

    Use it with a stateful model for truncated BPTT; the batches must not be shuffled.

    Returns:
        A dataset of `(x, y)` int32 `[batch_size, num_steps]`, in stream order.
    """
    ids = _check(ids, batch_size, num_steps, batch_size * num_steps + num_steps + 1)
    per_row = (len(ids) - num_steps) // batch_size
    num_batches = (per_row - 1) // num_steps
    length = num_batches * num_steps
    stream = tf.constant(ids)

    def cut(offset):
        offset = tf.cast(offset, tf.int32)
        xs = tf.reshape(stream[offset: offset + batch_size * per_row], [batch_size, per_row])
        ys = tf.reshape(stream[offset + 1: offset + 1 + batch_size * per_row],
                        [batch_size, per_row])
        x = tf.transpose(tf.reshape(xs[:, :length], [batch_size, num_batches, num_steps]),
                         [1, 0, 2])
        y = tf.transpose(tf.reshape(ys[:, :length], [batch_size, num_batches, num_steps]),
                         [1, 0, 2])
        return tf.data.Dataset.from_tensor_slices((x, y))

    ds = _random_offset(seed, num_steps, random_offset).flat_map(cut)
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    return ds.prefetch(tf.data.AUTOTUNE)
