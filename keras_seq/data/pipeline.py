"""tf.data pipelines of token ids: shuffle, bucket by length, batch, prefetch."""

import numpy as np
import tensorflow as tf


def bucket_lengths(max_length, step=64):
    """Padded lengths of the buckets: 32, 64, 128, 192, ... up to `max_length`.

    Args:
        max_length: the longest sequence (positive int).
        step: spacing of the buckets above 64.

    Returns:
        A sorted list of ints ending with `max_length`.
    """
    if not isinstance(max_length, int) or max_length <= 0:
        raise ValueError(f"`max_length` must be a positive int, got max_length={max_length!r}.")
    lengths = [n for n in [32, 64] + list(range(2 * step, max_length, step)) if n < max_length]
    return lengths + [max_length]


def count_bucketed_batches(row_lengths, lengths, batch_size):
    """Number of batches `bucket_by_sequence_length` makes (one partial batch per bucket).

    Args:
        row_lengths: `[N]` ints, the length of each sequence.
        lengths: the bucket lengths from `bucket_lengths`.
        batch_size: batch size.

    Returns:
        int.
    """
    buckets = np.searchsorted(np.asarray(lengths), np.asarray(row_lengths), side="left")
    counts = np.bincount(buckets, minlength=len(lengths) + 1)
    return int(sum(-(-int(c) // batch_size) for c in counts))


def token_id_dataset(token_ids, labels, batch_size, shuffle=False, seed=None, bucket=True,
                     max_length=None):
    """Builds a `tf.data.Dataset` of `(ids [B, T] int32, labels [B] float32)` batches.

    Sequences of similar length are batched together (`bucket_by_sequence_length`) and
    padded with 0 to their bucket's length, so batches carry little padding and the number
    of distinct shapes (one compilation each under XLA) stays small.

    Args:
        token_ids: a `tf.RaggedTensor` `[N, None]` of token ids (0 = padding), each row at
            most `max_length` long.
        labels: `[N]` array of 0/1 labels.
        batch_size: batch size (positive int).
        shuffle: whether to shuffle (all of the data, reshuffled each epoch).
        seed: shuffle seed.
        bucket: batch by length buckets (True) or pad every batch to `max_length` (False).
        max_length: the longest row; default: the longest row of `token_ids`.

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive int, got batch_size={batch_size!r}.")
    if not isinstance(token_ids, tf.RaggedTensor):
        raise ValueError(
            "`token_ids` must be a tf.RaggedTensor [N, None], got "
            f"{type(token_ids).__name__}.")
    n = int(token_ids.nrows())
    if max_length is None:
        max_length = max(1, int(tf.reduce_max(token_ids.row_lengths())) if n else 1)
    values = tf.cast(token_ids.flat_values, tf.int32)
    splits = token_ids.row_splits
    labels = tf.cast(labels, tf.float32)
    ds = tf.data.Dataset.range(n).map(
        lambda i: (values[splits[i]:splits[i + 1]], labels[i]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    if bucket:
        lengths = bucket_lengths(max_length)
        num_batches = count_bucketed_batches(token_ids.row_lengths().numpy(), lengths,
                                             batch_size)
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda ids, y: tf.shape(ids)[0],
            bucket_boundaries=[b + 1 for b in lengths],
            bucket_batch_sizes=[batch_size] * (len(lengths) + 1),
            pad_to_bucket_boundary=True,
        )
        # The batch count is fixed by the lengths; telling tf.data lets Keras size epochs.
        ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    else:
        ds = ds.padded_batch(batch_size, padded_shapes=([max_length], []))
    return ds.prefetch(tf.data.AUTOTUNE)
