"""Additive (Bahdanau) attention."""

import keras
from keras import ops

from keras_seq.layers.argument_checks import check_rank, check_same_size, static_shape
from keras_seq.layers.attention_masks import keras_mask_of, masked_softmax


@keras.saving.register_keras_serializable(package="keras_seq")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau et al. (2015), in the lecture's notation.

        a(q, k_i) = w_v^T tanh(W_q q + W_k k_i)
        α_i       = softmax_i(a(q, k_i))          (over the keys; padded keys get α_i = 0)
        output    = Σ_i α_i v_i

    Args:
        units: int, size of the hidden layer of the score MLP (rows of W_q and W_k).
        kernel_initializer: initializer of W_q, W_k and w_v.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        query: `(batch, query_dim)` for one decoder step, or `(batch, Tq, query_dim)` for all.
        value: `(batch, Tv, value_dim)`.
        key: `(batch, Tv, key_dim)`; defaults to `value`.
        query_mask: Keras mask of the query `(batch, Tq)`; only propagated.
        value_mask: bool `(batch, Tv)`, True = real key. Defaults to the Keras mask of
            `value` (or of `key`).
        key_mask: Keras mask of the key, used when `value_mask` is absent.
        projected_key: optional precomputed `W_k key` (from `project_key(key)`),
            `(batch, Tv, units)`, so a decoder loop projects the keys once, not every step.
        return_attention_scores: if True, also return the weights α.

    Returns:
        The context `(batch, value_dim)` or `(batch, Tq, value_dim)`, and, when
        `return_attention_scores=True`, the weights `(batch, Tv)` or `(batch, Tq, Tv)`.

    Raises:
        ValueError: naming the argument, when the static shapes cannot work: a query not of
            rank 2 or 3, a value or key not of rank 3, key and value of different lengths,
            different batch sizes, a `projected_key` or `value_mask` of the wrong shape, or
            feature sizes other than the layer was built for.

    Example:

    >>> import numpy as np
    >>> att = BahdanauAttention(16)
    >>> ctx, w = att(np.ones((2, 8), "float32"), np.ones((2, 5, 6), "float32"),
    ...              return_attention_scores=True)
    >>> tuple(ctx.shape), tuple(w.shape)
    ((2, 6), (2, 5))
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive int, got units={units!r}.")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            raise ValueError("BahdanauAttention needs both `query` and `value`.")
        key_shape = value_shape if key_shape is None else key_shape
        self._check_shapes(tuple(query_shape), tuple(value_shape), tuple(key_shape))
        dense = dict(
            units=self.units,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        self.query_dense = keras.layers.Dense(name="W_q", **dense)
        self.key_dense = keras.layers.Dense(name="W_k", **dense)
        self.score_dense = keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="w_v",
        )
        self.query_dense.build(query_shape)
        self.key_dense.build(key_shape)
        self.score_dense.build((None, self.units))
        self.built = True

    def _check_shapes(self, query, value, key, projected_key=None, value_mask=None):
        """Ranks and matching sizes of the static shapes (nothing runs in the graph)."""
        check_rank(self, "query", query, (2, 3), "(batch, query_dim) or (batch, Tq, query_dim)")
        check_rank(self, "value", value, 3, "(batch, Tv, value_dim)")
        check_rank(self, "key", key, 3, "(batch, Tv, key_dim)")
        named = [("query", query), ("value", value), ("key", key)]
        lengths = [("`value`", value[1]), ("`key`", key[1])]
        if projected_key is not None:
            check_rank(self, "projected_key", projected_key, 3, "(batch, Tv, units)")
            check_same_size(self, "the last size of `projected_key` and `units`",
                            [("`projected_key`", projected_key[2]), ("units", self.units)])
            named.append(("projected_key", projected_key))
            lengths.append(("`projected_key`", projected_key[1]))
        if value_mask is not None:
            check_rank(self, "value_mask", value_mask, 2, "(batch, Tv)")
            named.append(("value_mask", value_mask))
            lengths.append(("`value_mask`", value_mask[1]))
        check_same_size(self, "the lengths Tv of " + ", ".join(n for n, _ in lengths), lengths)
        check_same_size(self, "the batch sizes of " + ", ".join(f"`{n}`" for n, _ in named),
                        [(f"`{name}`", shape[0]) for name, shape in named])
        if self.built:
            for name, shape, dense in (("query", query, self.query_dense),
                                       ("key", key, self.key_dense)):
                expected = dense.kernel.shape[0]
                if shape[-1] is not None and shape[-1] != expected:
                    raise ValueError(
                        f"BahdanauAttention: `{name}` has {shape[-1]} features, but this "
                        f"layer was built for {expected} (shape {shape})."
                    )

    def project_key(self, key):
        """Returns `W_k key`, `(batch, Tv, units)`, to pass as `projected_key`."""
        return self.key_dense(key)

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        projected_key=None,
        return_attention_scores=False,
        training=None,
    ):
        if key is None:
            key = value
        self._check_shapes(
            static_shape(query), static_shape(value), static_shape(key),
            None if projected_key is None else static_shape(projected_key),
            None if value_mask is None else static_shape(value_mask),
        )
        if value_mask is None:
            value_mask = key_mask if key_mask is not None else keras_mask_of(value)
        if value_mask is None and key is not value:
            value_mask = keras_mask_of(key)
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (B, 1, Dq)
        if projected_key is None:
            projected_key = self.key_dense(key)  # (B, Tv, U)
        q = self.query_dense(query)  # (B, Tq, U)
        hidden = ops.tanh(
            ops.expand_dims(q, 2) + ops.expand_dims(projected_key, 1)
        )  # (B, Tq, Tv, U)
        scores = ops.squeeze(self.score_dense(hidden), -1)  # (B, Tq, Tv)
        mask = None
        if value_mask is not None:
            mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)  # (B, 1, Tv)
        weights = masked_softmax(scores, mask)  # (B, Tq, Tv)
        context = ops.matmul(weights, ops.cast(value, weights.dtype))  # (B, Tq, Dv)
        if single_step:
            context = ops.squeeze(context, 1)  # (B, Dv)
            weights = ops.squeeze(weights, 1)  # (B, Tv)
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, query, mask=None):
        # One decoder step has no time axis left to mask.
        return None if len(query.shape) == 2 else mask

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
