"""Two fixes that make Keras 3.15's TensorFlow trainer work under `tf.distribute` strategies.

Keras 3 does not run `model.fit` under `tf.distribute.MultiWorkerMirroredStrategy` out of the
box (keras-team/keras#20585, open): two functions of `keras.src.backend.tensorflow.trainer`
fail, and one of them also changes the data order under every strategy. Measured here with
Keras 3.15.1 / TF 2.21:

1. `TensorFlowTrainer._maybe_symbolic_build` takes one batch from the *distributed* dataset to
   build the metrics symbolically. Under MultiWorkerMirroredStrategy that batch is a
   `PerReplica` value that `strategy.reduce` cannot convert ("Attempt to convert a value
   (PerReplica...)"). Under every strategy the extra iterator also advances the dataset's
   shuffle seed, so the first epoch sees a different order than the same run without a
   strategy. Only shapes and dtypes are needed, so the fix builds from the dataset's
   `element_spec` and never touches the data.
2. `reduce_per_replica(..., reduction="auto")` reduces the per-replica logs of a multi-worker
   step with `strategy.reduce("MEAN", v, axis=0)`, which also averages over the first axis
   and fails on the scalar losses ("Invalid reduction dimension 0 for input with 0
   dimensions"). The fix averages over replicas only (`axis=None`), as the single-worker
   branch of the same function does.

With both fixes a 2-replica MirroredStrategy run and a 2-worker MultiWorkerMirroredStrategy run
give the same per-epoch losses as the single-process run (tests/distribution).
"""

import functools

_APPLIED = False


def apply_keras_multi_worker_fixes():
    """Patches the two Keras TensorFlow-trainer functions (idempotent).

    Returns:
        True when the fixes are (now) in place; False on a Keras without these functions
        (nothing is patched then).
    """
    global _APPLIED
    if _APPLIED:
        return True
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    trainer_cls = getattr(tf_trainer, "TensorFlowTrainer", None)
    original_reduce = getattr(tf_trainer, "reduce_per_replica", None)
    is_multi_worker = getattr(tf_trainer, "_collective_all_reduce_multi_worker", None)
    if trainer_cls is None or original_reduce is None or is_multi_worker is None or \
            not hasattr(trainer_cls, "_maybe_symbolic_build"):
        return False

    def zeros_like_spec(spec):
        shape = [1 if d is None else d for d in spec.shape.as_list()]
        return tf.zeros(shape, spec.dtype)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:  # built when the step function is traced
            return
        if data_batch is None and iterator is not None:
            dataset = iterator.data_adapter.get_tf_dataset()
            data_batch = tree.map_structure(zeros_like_spec, dataset.element_spec)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer_cls._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _APPLIED = True
    return True
