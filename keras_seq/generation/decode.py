"""Autoregressive decoding as one `ops.while_loop` over a fixed-size token buffer."""

import contextlib

from keras import ops

from keras_seq.generation.samplers import get_sampler
from keras_seq.layers.multi_head_attention import hoisted_projection_kernels


def decode(
    next_fn,
    token_ids,
    cache=None,
    index=0,
    mask=None,
    sampler="greedy",
    stop_token_ids=None,
    model=None,
    pad_after_stop=True,
    hoist_kernels=True,
):
    """Fills `token_ids[:, index:]` one token at a time with `sampler`.

    The generation contract: `next_fn(token_ids, cache, index) -> (logits, hidden, cache)`
    returns the logits `(B, V)` of the token at position `index` (it reads the token at
    `index - 1` and updates the cache, e.g. a transformer's K/V at `index - 1` or an RNN's
    state). The whole loop is one `ops.while_loop`, so under `jit_compile` it compiles once
    for a given buffer shape.

    Args:
        next_fn: the step function above.
        token_ids: int `(B, L)` buffer holding the prompt (left-aligned), L = max length.
        cache: the model's cache after reading `token_ids[:, :index - 1]` (any nest of
            tensors with batch first), or None.
        index: int or scalar tensor, first position to generate.
        mask: bool `(B, L)`, True where `token_ids` is a given prompt token that must not
            be overwritten (prompts of different lengths in one batch).
        sampler: a name for `get_sampler` or a `keras_hub.samplers.Sampler`.
        stop_token_ids: tuple of ids (e.g. `(end_id,)`); the loop ends once every row has
            generated one.
        model: the Keras model, needed by some backends (JAX) to thread its variables.
            With it, the projection kernels of its `MultiHeadAttention` layers are
            reshaped once before the loop (`hoisted_projection_kernels`), which makes a
            batch-1 transformer step 1.9x faster under XLA on CPU
            (`benchmarks/bench_decode_step.py`).
        pad_after_stop: replace everything after a row's first generated stop token by 0.
        hoist_kernels: with `model`, reshape its attention kernels before the loop (False:
            the plain cached loop, e.g. to time the cache alone).

    Returns:
        The filled int `(B, L)` buffer.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> def next_fn(tokens, cache, index):  # "always predict previous token + 1"
    ...     prev = ops.take_along_axis(tokens, ops.full((2, 1), index - 1), axis=1)[:, 0]
    ...     return ops.one_hot(prev + 1, 10) * 10.0, None, cache
    >>> out = decode(next_fn, np.array([[1, 0, 0, 0], [5, 0, 0, 0]]), index=1,
    ...              stop_token_ids=(7,))
    >>> np.asarray(out).tolist()
    [[1, 2, 3, 4], [5, 6, 7, 0]]
    """
    sampler = get_sampler(sampler)
    hoisted = (hoisted_projection_kernels(model) if model is not None and hoist_kernels
               else contextlib.nullcontext())
    with hoisted:  # attention kernels reshaped once, outside the loop
        tokens = sampler(
            next=next_fn,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=mask,
            stop_token_ids=stop_token_ids,
            model=model,
        )
    if pad_after_stop and stop_token_ids is not None:
        tokens = pad_after_first_stop(tokens, stop_token_ids, index, mask)
    return tokens


def pad_after_first_stop(token_ids, stop_token_ids, index=0, mask=None):
    """Zeros every token after the first *generated* stop token of each row (keeps the stop)."""
    positions = ops.arange(ops.shape(token_ids)[1])[None, :]
    generated = positions >= ops.cast(index, "int32")
    if mask is not None:
        generated = ops.logical_and(generated, ops.logical_not(ops.cast(mask, "bool")))
    is_stop = ops.zeros_like(token_ids, dtype="bool")
    for stop in stop_token_ids:
        is_stop = ops.logical_or(is_stop, ops.equal(token_ids, stop))
    is_stop = ops.logical_and(is_stop, generated)
    # Positions strictly after the first stop: cumulative count of stops before them > 0.
    stops_before = ops.cumsum(ops.cast(is_stop, "int32"), axis=1) - ops.cast(is_stop, "int32")
    return ops.where(stops_before > 0, ops.zeros_like(token_ids), token_ids)
