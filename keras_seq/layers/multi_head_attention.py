"""Multi-head scaled dot-product attention with a preallocated KV cache."""

import contextlib
import math

import keras
from keras import ops

from keras_seq import compat
from keras_seq.layers.argument_checks import (
    check_cache_index,
    check_rank,
    check_same_size,
    static_shape,
)
from keras_seq.layers.attention_masks import (
    keras_mask_of,
    masked_softmax,
    merge_attention_masks,
)

_SEQUENCE = "(batch, length, features)"


@keras.saving.register_keras_serializable(package="keras_seq")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention as in the lecture (Vaswani et al., 2017), with a KV cache.

    For each head i = 1..h:

        head_i = softmax(Q W_i^(q) (K W_i^(k))^T / sqrt(d_k)) V W_i^(v)
        MultiHead(Q, K, V) = [head_1; ...; head_h] W_o

    (plus biases). The weights have the same shapes and order as
    `keras.layers.MultiHeadAttention`, so `set_weights(keras_mha.get_weights())` gives
    the same function: `W_q (Dq, h, d_k)`, `b_q (h, d_k)`, `W_k (Dk, h, d_k)`, `b_k`,
    `W_v (Dv, h, d_v)`, `b_v`, `W_o (h, d_v, D_out)`, `b_o (D_out,)`.

    Two code paths compute the same function: the fused `keras.ops.dot_product_attention`
    (flash/cuDNN kernels where the backend has them) when no attention weights are needed
    (no dropout in training, no `return_attention_scores`, `value_dim == key_dim`), and
    the explicit maths (einsum → masked softmax → dropout → einsum) otherwise.
    `attention_impl` picks one.

    Incremental decoding: pass `cache` `(B, 2, S, h, d_k)` (keys and values of S slots,
    preallocated, e.g. by `init_cache`) and `cache_update_index` (int or scalar tensor):
    the new keys/values are written at that index with `ops.slice_update` and the query
    attends over the whole cache (with `use_causal_mask`, slots after the query's
    position are hidden). With `cache_update_index=None` the cache is read only (e.g.
    precomputed encoder keys/values for cross-attention, see `compute_cache`).

    Args:
        num_heads: int, number of heads h.
        key_dim: int, size d_k of each query/key head.
        value_dim: int, size d_v of each value head (default `key_dim`).
        output_dim: int, size of the output (default: the query's last dimension).
        dropout: float, dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        attention_impl: "auto" (fused where it applies and measured faster, see
            `default_attention_impl`), "fused" or "explicit".
        kernel_initializer, bias_initializer: initializers of the projections.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        query: `(B, T, Dq)`.
        value: `(B, S, Dv)`; None = self-attention (`value = query`).
        key: `(B, S, Dk)`, defaults to `value`.
        query_mask, value_mask, key_mask: bool `(B, T)` / `(B, S)` padding masks, filled
            from Keras masks automatically; `value_mask` falls back to `key_mask`.
        attention_mask: bool/int `(B, T, S)`, 1 = may attend.
        use_causal_mask: bool, hide keys after each query's (absolute) position.
        return_attention_scores: bool, also return the weights `(B, h, T, S)`.
        training: bool, enables dropout.
        cache: optional `(B, 2, S, h, d_k)` key/value cache.
        cache_update_index: optional int/scalar tensor, where the new keys/values go.

    Returns:
        `output (B, T, D_out)`, then `scores (B, h, T, S)` if requested, then the updated
        `cache` if one was passed.

    Raises:
        ValueError: naming the argument, for shapes that cannot work (checked on the static
            shapes, free at run time): a query, key or value not of rank 3, key and value of
            different lengths, different batch sizes, feature sizes other than the layer was
            built for, an `attention_mask` not broadcastable to `(B, T, S)`, a cache not
            `(B, 2, S, h, d_k)`; and for a `cache_update_index` outside `[0, S - t]` when it
            is a Python int or an eager tensor (a traced index is not checked).

    Example:

    >>> import numpy as np
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.rand(3, 5, 8).astype("float32")
    >>> tuple(mha(x, x, use_causal_mask=True).shape)
    (3, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        output_dim=None,
        dropout=0.0,
        use_bias=True,
        attention_impl="auto",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {name}={v!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        if attention_impl not in ("auto", "fused", "explicit"):
            raise ValueError(
                "`attention_impl` must be 'auto', 'fused' or 'explicit', got "
                f"attention_impl={attention_impl!r}."
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.output_dim = output_dim
        self.dropout = float(dropout)
        self.use_bias = use_bias
        self.attention_impl = attention_impl
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self._scale = 1.0 / math.sqrt(float(key_dim))
        self._hoisted_kernels = None  # 2-D kernels, set by `hoisted_projection_kernels`

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._check_sequences(
            tuple(query_shape), tuple(value_shape), tuple(key_shape), cache_shape=None
        )
        h, dk, dv = self.num_heads, self.key_dim, self.value_dim
        out = self.output_dim or query_shape[-1]

        def kernel(name, shape):
            return self.add_weight(
                name=name, shape=shape, initializer=self.kernel_initializer
            )

        def bias(name, shape):
            if not self.use_bias:
                return None
            return self.add_weight(
                name=name, shape=shape, initializer=self.bias_initializer
            )

        # Same creation order as keras.layers.MultiHeadAttention (get/set_weights).
        self.W_q, self.b_q = kernel("W_q", (query_shape[-1], h, dk)), bias("b_q", (h, dk))
        self.W_k, self.b_k = kernel("W_k", (key_shape[-1], h, dk)), bias("b_k", (h, dk))
        self.W_v, self.b_v = kernel("W_v", (value_shape[-1], h, dv)), bias("b_v", (h, dv))
        self.W_o, self.b_o = kernel("W_o", (h, dv, out)), bias("b_o", (out,))
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self.built = True

    # ---- projections -------------------------------------------------------------
    def _project(self, x, name):
        """`x W_name + b_name` for name in "q", "k", "v": (B, T, D) -> (B, T, h, d)."""
        kernel, bias = getattr(self, "W_" + name), getattr(self, "b_" + name)
        hoisted = self._hoisted_kernels
        if hoisted is None:
            y = ops.einsum("btd,dhk->bthk", x, self._read(kernel))  # (B, T, h, dk)
        else:  # the same product as one 2-D matmul, kernel reshaped before the loop
            batch, length = ops.shape(x)[0], ops.shape(x)[1]
            y = ops.matmul(ops.reshape(x, (-1, kernel.shape[0])), hoisted[name])  # (B*T, h*dk)
            y = ops.reshape(y, (batch, length, kernel.shape[1], kernel.shape[2]))  # (B, T, h, dk)
        return y if bias is None else y + self._read(bias)

    def _read(self, variable):
        """`variable` in the compute dtype.

        `__call__` already reads variables in the compute dtype (autocast), but
        `compute_output_spec` runs `call` outside `__call__`: without this cast, a
        mixed-precision layer would promise float32 outputs and return float16/bfloat16.
        """
        return ops.cast(variable, self.compute_dtype)

    def _output(self, out):
        """`[head_1; ...; head_h] W_o + b_o` for `out` (B, T, h, dv) -> (B, T, D_out)."""
        hoisted = self._hoisted_kernels
        if hoisted is None:
            output = ops.einsum("bthk,hko->bto", out, self._read(self.W_o))  # (B, T, D_out)
        else:
            h, dv, d_out = self.W_o.shape
            output = ops.matmul(ops.reshape(out, (-1, h * dv)), hoisted["o"])  # (B*T, D_out)
            output = ops.reshape(output, (ops.shape(out)[0], ops.shape(out)[1], d_out))
        return output if self.b_o is None else output + self._read(self.b_o)

    def hoist_kernels(self):
        """The projection kernels as 2-D tensors: q, k, v `(D, h*d_k)`, o `(h*d_v, D_out)`.

        Decoding loops make these once, before the loop (`hoisted_projection_kernels`).
        XLA on CPU lowers a product with a reshaped 3-D variable inside a while loop to a
        slow loop (87 us instead of 13 us for a 256x256 query projection at batch 1,
        `benchmarks/bench_decode_step.py`); a 2-D tensor made outside the loop gets the fast
        kernel.
        """
        def flat(kernel, shape):
            return ops.cast(ops.reshape(kernel, shape), self.compute_dtype)

        kernels = {"o": flat(self.W_o, (-1, self.W_o.shape[-1]))}  # (h*d_v, D_out)
        for name in ("q", "k", "v"):
            kernel = getattr(self, "W_" + name)
            kernels[name] = flat(kernel, (kernel.shape[0], -1))  # (D, h*d)
        return kernels

    def compute_cache(self, value, key=None):
        """Keys/values of a fixed sequence, stacked as a read-only cache `(B, 2, S, h, d_k)`."""
        key = value if key is None else key
        k = self._project(key, "k")
        v = self._project(value, "v")
        return ops.stack([k, v], axis=1)

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty (zero) cache of `max_length` slots, `(B, 2, max_length, h, d_k)`."""
        if self.key_dim != self.value_dim:
            raise ValueError(
                "A KV cache needs key_dim == value_dim, got key_dim="
                f"{self.key_dim}, value_dim={self.value_dim}."
            )
        return ops.zeros(
            (batch_size, 2, max_length, self.num_heads, self.key_dim),
            dtype=dtype or self.compute_dtype,
        )

    # ---- argument checks (static shapes only) ------------------------------------
    def _check_sequences(self, query, value, key, cache_shape):
        """Ranks, batch sizes and key/value lengths of the query, key and value shapes."""
        check_rank(self, "query", query, 3, _SEQUENCE)
        named = [("query", query)]
        if cache_shape is None or value is not None:
            value = query if value is None else value
            key = value if key is None else key
            check_rank(self, "value", value, 3, _SEQUENCE)
            check_rank(self, "key", key, 3, _SEQUENCE)
            check_same_size(self, "the lengths of `key` and `value`",
                            [("`key`", key[1]), ("`value`", value[1])])
            named += [("value", value), ("key", key)]
        if cache_shape is not None:
            named.append(("cache", cache_shape))
        check_same_size(self, "the batch sizes of " + ", ".join(f"`{n}`" for n, _ in named),
                        [(f"`{name}`", shape[0]) for name, shape in named])
        return named

    def _check_call(self, query, value, key, masks, attention_mask, cache,
                    cache_update_index):
        query, cache_shape = static_shape(query), None
        value = None if value is None else static_shape(value)
        key = None if key is None else static_shape(key)
        if cache is not None:
            cache_shape = static_shape(cache)
            check_rank(self, "cache", cache_shape, 5, "(batch, 2, S, num_heads, key_dim)")
            expected = (2, self.num_heads, self.key_dim)
            got = (cache_shape[1], cache_shape[3], cache_shape[4])
            if any(g is not None and g != e for g, e in zip(got, expected)):
                raise ValueError(
                    "MultiHeadAttention: `cache` must have shape (batch, 2, S, "
                    f"num_heads={self.num_heads}, key_dim={self.key_dim}), got shape "
                    f"{cache_shape}."
                )
            if cache_update_index is None:  # read-only: value/key are ignored
                value = key = None
        named = self._check_sequences(query, value, key, cache_shape)
        for name, shape in named:
            if name == "cache":
                continue
            kernel = {"query": self.W_q, "value": self.W_v, "key": self.W_k}[name]
            if shape[-1] is not None and shape[-1] != kernel.shape[0]:
                raise ValueError(
                    f"MultiHeadAttention: `{name}` has {shape[-1]} features, but this layer "
                    f"was built for {kernel.shape[0]} (shape {shape})."
                )
        shapes = dict(named)
        batch, length = query[0], query[1]
        if cache_shape is not None:
            source = cache_shape[2]
        else:
            source = (shapes.get("key") or query)[1]
        for name, mask in masks.items():
            if mask is None or (name != "query_mask" and cache_update_index is not None):
                continue  # with a cache update, value/key masks are ignored (see `call`)
            mask_shape = static_shape(mask)
            check_rank(self, name, mask_shape, 2, "(batch, length)")
            if name == "query_mask":
                sizes = [("`query_mask`", mask_shape[1]), ("the query length T", length)]
            else:
                sizes = [(f"`{name}`", mask_shape[1]), ("the key/value length S", source)]
            check_same_size(self, f"the length of `{name}` and its sequence", sizes)
            check_same_size(self, f"the batch sizes of `{name}` and `query`",
                            [(f"`{name}`", mask_shape[0]), ("`query`", batch)])
        if attention_mask is not None:
            mask_shape = static_shape(attention_mask)
            check_rank(self, "attention_mask", mask_shape, 3, "(batch, T, S)")
            expected = (batch, length, source)
            if any(m not in (None, 1, e) and e is not None
                   for m, e in zip(mask_shape, expected)):
                raise ValueError(
                    "MultiHeadAttention: `attention_mask` must have shape (batch, T, S) = "
                    f"{expected} (or 1 where it broadcasts), got shape {mask_shape}."
                )
        if cache is not None and cache_update_index is not None:
            new = (shapes.get("key") or query)[1]
            check_cache_index(self, "cache_update_index", cache_update_index, cache_shape[2],
                              new)

    # ---- attention ---------------------------------------------------------------
    def _use_fused(self, return_attention_scores, training):
        if return_attention_scores:
            return False
        if self.value_dim != self.key_dim:
            # The JAX backend's fused attention assumes d_v == d_k (it reshapes the output
            # with the query's head size); the explicit path handles any d_v everywhere.
            return False
        if self.dropout > 0.0 and training:
            return False
        impl = self.attention_impl
        if impl == "auto":
            impl = default_attention_impl()
        return impl == "fused"

    def _attend(self, q, k, v, mask, return_attention_scores, training):
        """q (B, T, h, dk), k (B, S, h, dk), v (B, S, h, dv), mask bool (B|1, T, S)."""
        if mask is not None:
            mask = ops.expand_dims(mask, 1)  # (B, 1, T, S), broadcast over heads
        if self._use_fused(return_attention_scores, training):
            out = ops.dot_product_attention(
                q, k, v, mask=mask, scale=self._scale
            )  # (B, T, h, dv)
            return out, None
        q = q * ops.cast(self._scale, q.dtype)
        scores = ops.einsum("bthk,bshk->bhts", q, k)  # (B, h, T, S)
        weights = masked_softmax(scores, mask)  # (B, h, T, S)
        dropped = self.dropout_layer(weights, training=training)
        out = ops.einsum("bhts,bshk->bthk", dropped, v)  # (B, T, h, dv)
        return out, weights

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_update_index=None,
    ):
        self._check_call(
            query, value, key,
            dict(query_mask=query_mask, value_mask=value_mask, key_mask=key_mask),
            attention_mask, cache, cache_update_index,
        )
        if query_mask is None:
            query_mask = keras_mask_of(query)
        q = self._project(query, "q")  # (B, T, h, dk)
        causal_offset = 0
        if cache is None:
            value = query if value is None else value  # None: self-attention
            key = value if key is None else key
            if value_mask is None:
                value_mask = key_mask if key_mask is not None else keras_mask_of(value)
            if value_mask is None and key is not value:
                value_mask = keras_mask_of(key)
            k = self._project(key, "k")  # (B, S, h, dk)
            v = self._project(value, "v")  # (B, S, h, dv)
        elif cache_update_index is None:
            # Read-only cache (e.g. encoder keys/values): only an explicit value_mask
            # (over the S cached slots) applies.
            k, v = cache[:, 0], cache[:, 1]  # (B, S, h, dk)
        else:
            value = query if value is None else value
            key = value if key is None else key
            k_new = self._project(key, "k")  # (B, t, h, dk)
            v_new = self._project(value, "v")
            start = [0, cache_update_index, 0, 0]
            k = ops.slice_update(cache[:, 0], start, ops.cast(k_new, cache.dtype))
            v = ops.slice_update(cache[:, 1], start, ops.cast(v_new, cache.dtype))
            cache = ops.stack([k, v], axis=1)  # (B, 2, S, h, dk)
            causal_offset = cache_update_index
            # Masks of the new tokens do not describe the cache slots: use
            # `attention_mask` (B, t, S) and/or `use_causal_mask` instead.
            value_mask = None
        mask = merge_attention_masks(
            query_mask=query_mask,
            value_mask=value_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            query_length=ops.shape(q)[1],
            key_length=ops.shape(k)[1],
            causal_offset=causal_offset,
        )
        out, scores = self._attend(
            q, ops.cast(k, q.dtype), ops.cast(v, q.dtype), mask,
            return_attention_scores, training,
        )
        output = self._output(out)  # (B, T, D_out)
        results = [output]
        if return_attention_scores:
            results.append(scores)
        if cache is not None:
            results.append(cache)
        return results[0] if len(results) == 1 else tuple(results)

    def compute_mask(self, query, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            output_dim=self.output_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            attention_impl=self.attention_impl,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


def default_attention_impl():
    """The attention path that measured faster on this backend (see benchmarks/RESULTS.md).

    JAX (and torch) get the fused `ops.dot_product_attention`, which dispatches to
    cuDNN/flash kernels on GPU; TensorFlow has no fused kernel and measured faster with
    the explicit einsum path on CPU.
    """
    return "explicit" if keras.backend.backend() == "tensorflow" else "fused"


@contextlib.contextmanager
def hoisted_projection_kernels(model):
    """Inside this block, every `MultiHeadAttention` of `model` uses 2-D kernels made here.

    For decoding loops: the kernels are reshaped once, before the loop, instead of at every
    step (see `MultiHeadAttention.hoist_kernels`); the numbers are the same. The layers go
    back to their variables when the block ends.

    Args:
        model: a Keras layer or model (its nested layers are searched).

    Example:

    >>> import numpy as np
    >>> mha = MultiHeadAttention(2, 4)
    >>> x = np.ones((1, 3, 8), "float32")
    >>> plain = np.asarray(mha(x))
    >>> with hoisted_projection_kernels(mha):
    ...     hoisted = np.asarray(mha(x))
    >>> bool(np.allclose(plain, hoisted, atol=1e-6)), mha._hoisted_kernels is None
    (True, True)
    """
    layers = [layer for layer in compat.flatten_layers(model, include_self=True)
              if isinstance(layer, MultiHeadAttention) and layer.built]
    previous = [layer._hoisted_kernels for layer in layers]
    try:
        for layer in layers:
            layer._hoisted_kernels = layer.hoist_kernels()
        yield
    finally:
        for layer, old in zip(layers, previous):
            layer._hoisted_kernels = old
