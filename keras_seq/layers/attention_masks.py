"""Mask helpers shared by the attention layers (keras.ops only).

The mask contract every keras_seq layer follows: token id 0 is padding, and Keras masks start
at `Embedding(mask_zero=True)` / `PositionalEmbedding` and pass through every layer that keeps
the time axis; an explicit `padding_mask` is `[B, T]` bool, True = real token; an
`attention_mask` is `[B, T, S]`, 1/True = query position t may attend key position s;
`use_causal_mask=True` adds the causal mask (t sees s <= t).
"""

from keras import ops

from keras_seq import compat


def causal_attention_mask(query_length, key_length, query_offset=0):
    """Boolean `[T, S]` mask: query t (at absolute position `query_offset + t`) sees keys `s <= t`.

    Args:
        query_length: int, number of query positions T.
        key_length: int, number of key positions S.
        query_offset: int or scalar tensor, absolute position of the first query (the cache
            update index during incremental decoding).

    Returns:
        A bool tensor of shape `(T, S)`.
    """
    q_pos = ops.arange(query_length, dtype="int32") + ops.cast(query_offset, "int32")
    k_pos = ops.arange(key_length, dtype="int32")
    return ops.expand_dims(q_pos, 1) >= ops.expand_dims(k_pos, 0)  # (T, S)


def merge_attention_masks(
    query_mask=None,
    value_mask=None,
    attention_mask=None,
    use_causal_mask=False,
    query_length=None,
    key_length=None,
    causal_offset=0,
):
    """Combines every mask into one boolean `[B, T, S]` (or broadcastable) mask.

    `query[B, T, 1] & value[B, 1, S] & attention_mask[B, T, S] & causal[1, T, S]`,
    the same rule as `keras.layers.MultiHeadAttention`.

    Returns:
        A bool tensor broadcastable to `(B, T, S)`, or None when no mask applies.
    """
    mask = None
    if query_mask is not None:
        mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, T, 1)
    if value_mask is not None:
        v = ops.expand_dims(ops.cast(value_mask, "bool"), -2)  # (B, 1, S)
        mask = v if mask is None else ops.logical_and(mask, v)
    if attention_mask is not None:
        a = ops.cast(attention_mask, "bool")
        mask = a if mask is None else ops.logical_and(mask, a)
    if use_causal_mask:
        c = ops.expand_dims(
            causal_attention_mask(query_length, key_length, causal_offset), 0
        )  # (1, T, S)
        mask = c if mask is None else ops.logical_and(mask, c)
    return mask


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax that gives masked positions a weight of exactly zero.

    Computed in float32 (stable under mixed precision) and cast back to the scores' dtype.
    A row whose keys are all masked gets all-zero weights instead of NaN.

    Args:
        scores: float tensor of logits.
        mask: bool tensor broadcastable to `scores` (True = keep), or None.
        axis: the axis to normalise over.
    """
    dtype = scores.dtype
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.cast(ops.softmax(scores, axis=axis), dtype)
    mask = ops.cast(mask, "bool")
    scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
    weights = ops.softmax(scores, axis=axis)
    weights = ops.where(mask, weights, ops.zeros_like(weights))
    return ops.cast(weights, dtype)


def keras_mask_of(x):
    """The Keras mask attached to tensor `x` (e.g. by `Embedding(mask_zero=True)`), or None.

    Keras fills `*_mask` call arguments itself only in some call patterns; layers call this
    as a fallback so a mask is never silently dropped. None means `x` is None or carries no
    mask; a tensor with a mask always gets it back (`keras_seq.compat.get_keras_mask` uses
    Keras's own accessor and raises `KerasCompatError` where Keras moved it).

    Example:

    >>> import keras, numpy as np
    >>> h = keras.layers.Embedding(5, 2, mask_zero=True)(np.array([[3, 0]]))
    >>> np.asarray(keras_mask_of(h)).tolist(), keras_mask_of(np.ones((1, 2)))
    ([[True, False]], None)
    """
    if x is None:
        return None
    return compat.get_keras_mask(x)
