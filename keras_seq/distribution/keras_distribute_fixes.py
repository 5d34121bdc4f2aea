"""Four fixes that make Keras 3.15's TensorFlow trainer right under `tf.distribute` strategies.

Keras 3 does not run `model.fit` under `tf.distribute.MultiWorkerMirroredStrategy` out of the
box (keras-team/keras#20585, open): two functions of Keras's private TensorFlow trainer module
fail, and one of them also changes the data order under every strategy; its TensorFlow
optimizer clips each replica's share of the gradient instead of the whole gradient; and its
losses weigh the examples of an unevenly split batch unequally. Measured here with Keras
3.15.1 / TF 2.21:

1. The trainer's symbolic-build step (`compat.MAYBE_SYMBOLIC_BUILD`) takes one batch from
   the *distributed* dataset to build the metrics symbolically. Under
   MultiWorkerMirroredStrategy that batch is a `PerReplica` value that `strategy.reduce`
   cannot convert ("Attempt to convert a value (PerReplica...)"). Under every strategy the
   extra iterator also advances the dataset's shuffle seed, so the first epoch sees a
   different order than the same run without a strategy. Only shapes and dtypes are needed,
   so the fix builds from the dataset's `element_spec` and never touches the data.
2. `reduce_per_replica(..., reduction="auto")` reduces the per-replica logs of a multi-worker
   step with `strategy.reduce("MEAN", v, axis=0)`, which also averages over the first axis
   and fails on the scalar losses ("Invalid reduction dimension 0 for input with 0
   dimensions"). The fix averages over replicas only (`axis=None`), as the single-worker
   branch of the same function does.

3. `BaseOptimizer._backend_apply_gradients` applies `clipnorm` / `global_clipnorm` /
   `clipvalue` inside each replica, before the gradients are summed across replicas (the
   sum happens later, in `TFOptimizer._backend_update_step`). With R replicas each one clips
   its 1/R share, so the clipped update differs from the one-process update whenever
   clipping bites (with 2 replicas the threshold is effectively up to twice as large). The
   fix sums the gradients first (`ReplicaContext.all_reduce`), clips the whole gradient, and
   hands it to Keras on replica 0 and zeros on the others, which Keras' own summation turns
   back into the clipped whole (and its second clipping leaves alone: the norm is already
   below the threshold). This costs one more all-reduce per step, only when clipping is
   configured.

4. The losses' private `reduce_values` averages each replica's loss over that replica's
   own examples and divides by R. That is the global mean only when every replica gets the
   same number of examples; the last batch of a length bucket is split unevenly (7 examples:
   4 + 3), and those examples then weigh 1/8 and 1/6 instead of 1/7. The fix divides each
   replica's sum by the all-reduced global divisor (examples, or sample weights for
   "mean_with_sample_weight"), so the summed gradient is the one-process gradient, and keeps
   Keras' value for its loss tracker (the difference goes through `stop_gradient`). One
   scalar all-reduce per loss per step.

With these fixes a 2-replica MirroredStrategy run and a 2-worker MultiWorkerMirroredStrategy
run give the same per-epoch losses as the single-process run (tests/distribution).
"""

import functools

from keras_seq import compat

_APPLIED = False


def apply_keras_distribute_fixes():
    """Patches the four Keras TensorFlow trainer/optimizer/loss functions (idempotent).

    Every Keras internal the fixes patch or call (`compat.DISTRIBUTE_FIX_TARGETS`) is looked
    up first; when one is missing nothing is patched and a `keras_seq.compat.KerasCompatError`
    names it (a run under a strategy would otherwise train differently without a word).

    Returns:
        True: the fixes are (now) in place.

    Raises:
        keras_seq.compat.KerasCompatError: the installed Keras lacks a target of the fixes.
    """
    global _APPLIED
    if _APPLIED:
        return True
    import keras
    import tensorflow as tf

    compat.require_all(compat.DISTRIBUTE_FIX_TARGETS)

    def zeros_like_spec(spec):
        shape = [1 if d is None else d for d in spec.shape.as_list()]
        return tf.zeros(shape, spec.dtype)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if compat.model_distribute_strategy(self) is None:  # built when the step is traced
            return
        if data_batch is None and iterator is not None:
            dataset = compat.epoch_iterator_dataset(iterator)
            data_batch = keras.tree.map_structure(zeros_like_spec, dataset.element_spec)
        with self.distribute_strategy.scope():
            compat.symbolic_build(self, data_batch)

    original_reduce = compat.original(compat.REDUCE_PER_REPLICA)

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and compat.is_multi_worker(strategy):
            return keras.tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    compat.patch(compat.MAYBE_SYMBOLIC_BUILD, maybe_symbolic_build)
    compat.patch(compat.REDUCE_PER_REPLICA, reduce_per_replica)
    _fix_gradient_clipping(tf)
    _fix_uneven_loss_scaling(tf)
    _APPLIED = True
    return True


def _fix_uneven_loss_scaling(tf):
    from keras import ops

    original = compat.original(compat.REDUCE_VALUES)
    averaged = ("sum_over_batch_size", "mean", "mean_with_sample_weight")

    @functools.wraps(original)
    def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
        logged = original(values, sample_weight, reduction)  # Keras: sum_r / d_r / R
        context = tf.distribute.get_replica_context()
        if reduction not in averaged or context is None or \
                context.num_replicas_in_sync <= 1 or tuple(values.shape) in ((), (0,)):
            return logged
        total = ops.sum(values)
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = ops.cast(ops.sum(sample_weight), total.dtype)
        else:
            divisor = ops.cast(ops.size(values), total.dtype)
        exact = ops.divide_no_nan(total, context.all_reduce("SUM", divisor))  # sum_r / D
        # The value stays Keras' (its loss tracker weighs it by the local batch size); the
        # gradient is the exact one: summed over replicas, it is the global mean's.
        return exact + tf.stop_gradient(logged - exact)

    compat.patch(compat.REDUCE_VALUES, reduce_values)


def _fix_gradient_clipping(tf):
    original = compat.original(compat.BACKEND_APPLY_GRADIENTS)

    def clips(optimizer):
        return any(getattr(optimizer, name, None) for name in
                   ("clipnorm", "global_clipnorm", "clipvalue"))

    def scaled(grad, factor):
        if grad is None:
            return None
        if isinstance(grad, tf.IndexedSlices):
            return tf.IndexedSlices(grad.values * factor, grad.indices, grad.dense_shape)
        return grad * factor

    @functools.wraps(original)
    def backend_apply_gradients(self, grads, trainable_variables):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas > 1 and clips(self):
            present = [i for i, g in enumerate(grads) if g is not None]
            summed = context.all_reduce("SUM", [grads[i] for i in present])
            grads = list(grads)
            for i, g in zip(present, summed):
                grads[i] = g
            # Replica 0 passes the clipped whole, the others zeros: Keras' own summation then
            # yields it unchanged. (Not 1/R on every replica: a sparse gradient would come
            # back as R copies of each row, and Adam squares rows before adding them up.)
            first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), "float32")
            grads = [scaled(g, tf.cast(first, g.dtype) if g is not None else None)
                     for g in compat.clip_gradients(self, grads)]
        return original(self, grads, trainable_variables)

    compat.patch(compat.BACKEND_APPLY_GRADIENTS, backend_apply_gradients)
