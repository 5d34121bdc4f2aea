"""The layer test harness: every keras_seq layer goes through `run_layer_test`.

For one layer class and example inputs it checks
  1. `get_config` / `from_config` round trip (the config survives unchanged);
  2. eager call: output shapes (and the expected shape when given);
  3. symbolic call on `keras.Input`s (batch None) agrees with eager on shapes and dtypes;
  4. a functional model saved as `.keras` and loaded back gives identical outputs;
  5. one `fit` step with `jit_compile=True` (XLA): finite loss, trainable weights change;
  6. `dtype="mixed_bfloat16"`: finite outputs in the compute dtype bfloat16.
and offers the property checks: padding invariance, causality, cache equivalence.

It is keras + numpy only, so the layer tests also run on the JAX backend
(`KERAS_BACKEND=jax python -m pytest tests/layers`); `xla_compile` and `input_gradient`
are the two places where a test needs the backend's own function transformations.
"""

import copy
import os
import tempfile

import keras
import numpy as np
from keras import ops


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _to_numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")))


def xla_compile(fn):
    """Compiles `fn` with XLA on the current backend.

    TensorFlow: `tf.function(fn, jit_compile=True)`; JAX: `jax.jit(fn)`. The layers that
    `fn` calls must already be built (their weights are read as constants of the trace).

    Args:
        fn: a function of tensors (numpy arrays are accepted as arguments).

    Returns:
        The compiled function.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    raise ValueError(f"xla_compile supports the tensorflow and jax backends, not {backend!r}")


def input_gradient(fn, x):
    """The gradient of `sum(fn(x))` with respect to the input `x`, as numpy.

    Uses `tf.GradientTape` on TensorFlow and `jax.grad` on JAX (inside a
    `keras.StatelessScope`, so random layers such as dropout may run in training mode).

    Args:
        fn: a function of one float tensor returning a tensor.
        x: a float numpy array.

    Returns:
        A numpy array shaped like `x`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x))
        return tape.gradient(loss, x).numpy()
    if backend == "jax":
        import jax

        with keras.StatelessScope():
            return np.asarray(jax.grad(lambda v: ops.sum(fn(v)))(np.asarray(x)))
    raise ValueError(f"input_gradient supports the tensorflow and jax backends, not {backend!r}")


def _symbolic_inputs(inputs):
    return {
        name: keras.Input(shape=np.shape(v)[1:], dtype=str(np.asarray(v).dtype), name=name)
        for name, v in inputs.items()
    }


def run_layer_test(
    layer_cls,
    init_kwargs,
    inputs,
    call_kwargs=None,
    expected_output_shape=None,
    run_training=True,
    run_mixed_precision=True,
    run_save=True,
    expect_trainable_change=True,
):
    """Runs the standard checks on `layer_cls(**init_kwargs)`.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        inputs: dict {call argument name: numpy array} of tensor arguments (batch first).
        call_kwargs: non-tensor call arguments (e.g. `use_causal_mask=True`).
        expected_output_shape: shape (or list of shapes) of the eager outputs.
        run_training: run a jit-compiled `fit` step.
        run_mixed_precision: run the mixed_bfloat16 check.
        run_save: run the `.keras` save/load check.
        expect_trainable_change: assert the fit step changed the trainable weights.

    Returns:
        The eager outputs of a fresh layer (a list of numpy arrays).
    """
    call_kwargs = dict(call_kwargs or {})

    # 1. config round trip
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    revived = layer_cls.from_config(copy.deepcopy(config))
    assert revived.get_config() == config, "get_config/from_config round trip changed the config"

    # 2. eager call
    eager = _as_list(layer(**inputs, **call_kwargs))
    if expected_output_shape is not None:
        expected = (
            expected_output_shape
            if isinstance(expected_output_shape, list)
            else [expected_output_shape]
        )
        assert [tuple(e.shape) for e in eager] == [tuple(s) for s in expected]
    for e in eager:
        assert np.all(np.isfinite(_to_numpy(e))), "non-finite eager output"

    # 3. symbolic vs eager
    sym_inputs = _symbolic_inputs(inputs)
    sym_layer = layer_cls(**init_kwargs)
    symbolic = _as_list(sym_layer(**sym_inputs, **call_kwargs))
    assert len(symbolic) == len(eager)
    for s, e in zip(symbolic, eager):
        assert tuple(s.shape)[1:] == tuple(e.shape)[1:], (s.shape, e.shape)
        assert s.dtype == keras.backend.standardize_dtype(e.dtype), (s.dtype, e.dtype)

    model = keras.Model(sym_inputs, symbolic if len(symbolic) > 1 else symbolic[0])
    model_out = [_to_numpy(o) for o in _as_list(model(inputs))]

    # 4. .keras save / load
    if run_save:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        loaded_out = [_to_numpy(o) for o in _as_list(loaded(inputs))]
        for a, b in zip(model_out, loaded_out):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=".keras reload changed outputs")

    # 5. one fit step under XLA
    if run_training:
        train_model = keras.Model(sym_inputs, symbolic[0])
        train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
        before = [np.array(w) for w in train_model.trainable_weights]
        target = np.ones_like(model_out[0]) * 0.5
        history = train_model.fit(
            inputs, target, batch_size=len(target), epochs=1, verbose=0, shuffle=False
        )
        assert np.isfinite(history.history["loss"][0])
        if expect_trainable_change:
            after = [np.array(w) for w in train_model.trainable_weights]
            assert before, "layer has no trainable weights"
            assert any(not np.array_equal(a, b) for a, b in zip(before, after)), (
                "fit step changed no weight"
            )

    # 6. mixed precision
    if run_mixed_precision:
        mp_layer = layer_cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        mp_out = _as_list(mp_layer(**inputs, **call_kwargs))
        first = mp_out[0]
        assert keras.backend.standardize_dtype(first.dtype) == "bfloat16", first.dtype
        for o in mp_out:
            if o is not None:
                assert np.all(np.isfinite(_to_numpy(o))), "non-finite mixed precision output"
        for w in mp_layer.trainable_weights:
            assert w.dtype == "float32", f"variable {w.path} is {w.dtype}, expected float32"

    return [_to_numpy(e) for e in eager]


def assert_padding_invariant(fn, x, mask, extra=3, pad_value=0, time_axis=1, atol=1e-5):
    """Appending `extra` padded steps changes no output at real positions.

    Args:
        fn: callable (x, mask) -> output with the time axis at `time_axis`, or without one
            (a pooled vector).
        x: input array (B, T, ...), mask: bool (B, T).
    """
    base = _to_numpy(fn(x, mask))
    pad_width = [(0, 0)] * x.ndim
    pad_width[time_axis] = (0, extra)
    x_padded = np.pad(x, pad_width, constant_values=pad_value)
    mask_padded = np.pad(mask, [(0, 0), (0, extra)], constant_values=False)
    padded = _to_numpy(fn(x_padded, mask_padded))
    if padded.shape == base.shape:  # pooled output
        np.testing.assert_allclose(padded, base, atol=atol)
        return
    real = np.asarray(mask)[..., None] if base.ndim == 3 else np.asarray(mask)
    np.testing.assert_allclose(
        np.take(padded, np.arange(base.shape[time_axis]), axis=time_axis) * real,
        base * real,
        atol=atol,
    )


def assert_causal(fn, x, rng=None, atol=1e-5):
    """Changing inputs at positions > t changes no output at positions <= t, for every t."""
    rng = rng or np.random.default_rng(0)
    base = _to_numpy(fn(x))
    length = x.shape[1]
    for t in range(length - 1):
        changed = np.array(x, copy=True)
        if np.issubdtype(changed.dtype, np.integer):
            high = max(2, int(x.max()) + 1)
            changed[:, t + 1 :] = rng.integers(1, high, changed[:, t + 1 :].shape)
        else:
            changed[:, t + 1 :] = rng.normal(size=changed[:, t + 1 :].shape)
        out = _to_numpy(fn(changed))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], atol=atol)
