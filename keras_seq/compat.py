"""The one module of keras-seq that touches private Keras APIs (`keras.src...`, `_private` names).

Keras has no public API for a few things keras-seq needs: the mask Keras attaches to a tensor,
the epoch a resumed `fit` starts at, the loss dispatch and loss tracker of a custom
`train_step`, the layer graph of a functional model, and the four functions patched by
`keras_seq.distribution.keras_distribute_fixes`. Every such use goes through a small named
function here, and every private name is a registered target (`TARGETS`). Before a target is
used or patched it is looked up (module attribute, method or class attribute, or attribute of
the instance at hand; the leading parameters of a patched or called function too), so a Keras
that moved or renamed one fails at once, with one line that names it:

    KerasCompatError: keras-seq needs keras.src.losses.loss.reduce_values (Keras 3.15 tested;
    installed 3.16.0): keras.src.losses.loss has no attribute 'reduce_values'; ...

(one line in practice), instead of silently skipping a fix, restarting a resumed run at epoch
0 or dropping a padding mask. Where a safe fallback exists (a public API doing the same) it
is used instead, with one `KerasCompatWarning` per target.

Tested with Keras `TESTED_KERAS_RANGE` (3.15.x, the range requirements.txt asks for). Another
version gets one `KerasCompatWarning` and is used as long as every target is found.
`check_targets()` lists what is missing on the installed Keras (tests/test_compat.py runs it).

Example:

>>> import keras, numpy as np
>>> ids = np.array([[3, 4, 0]])
>>> mask = get_keras_mask(keras.layers.Embedding(5, 2, mask_zero=True)(ids))
>>> np.asarray(mask).tolist()
[[True, True, False]]
>>> check_targets()
[]
"""

import dataclasses
import importlib
import inspect
import re
import sys
import warnings

import keras

TESTED_KERAS_RANGE = ((3, 15), (3, 16))  # (lowest tested, first untested): 3.15 <= v < 3.16
"""Keras versions keras-seq was tested with: `lowest <= (major, minor) < first untested`."""


class KerasCompatError(RuntimeError):
    """A private Keras API keras-seq relies on is missing or changed on the installed Keras."""


class KerasCompatWarning(UserWarning):
    """An untested Keras version, or a fallback used for a moved private Keras API."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One private Keras name keras-seq uses.

    Attributes:
        name: the dotted name used in messages (also the key in `TARGETS`).
        owner: where it lives: a module ("keras.src.losses.loss"), a class in a module
            ("keras.src.models.model:Model"), or "instance:KIND" for an attribute that Keras
            sets on an instance (checked on the instance at hand; `check_targets` builds a
            small one of KIND).
        attribute: the attribute looked up on the owner.
        use: what keras-seq uses it for (ends the error message).
        params: the leading parameter names a function must have (patched or called with
            keywords), or None.
        fallback: the public replacement used (warned once) when it is missing; None: an
            error.
        backend: the Keras backend it applies to, or None for all.
    """

    name: str
    owner: str
    attribute: str
    use: str
    params: tuple = None
    fallback: str = None
    backend: str = None


_TF_TRAINER = "keras.src.backend.tensorflow.trainer"
_TF_OPTIMIZER = "keras.src.backend.tensorflow.optimizer:TFOptimizer"

# Names of the targets (keys of TARGETS) that other modules pass to `require`/`patch`.
GET_KERAS_MASK = "keras.src.backend.get_keras_mask"
TEST_CASE = "keras.src.testing.TestCase"
FLATTEN_LAYERS = "keras.layers.Layer._flatten_layers"
INBOUND_NODES = "keras.layers.Layer._inbound_nodes"
NODE_PARENT_NODES = "keras.src.ops.node.Node.parent_nodes"
COMPUTE_LOSS = "keras.Model._compute_loss"
LOSS_TRACKER = "keras.Model._loss_tracker"
INITIAL_EPOCH = "keras.Model._initial_epoch"
UNSCALE_LOSS = "keras.src.losses.loss.unscale_loss_for_distribution"
BACKUP_WEIGHTS_PATH = "keras.callbacks.BackupAndRestore._weights_path"
BACKUP_METADATA_PATH = "keras.callbacks.BackupAndRestore._training_metadata_path"
REDUCE_VALUES = "keras.src.losses.loss.reduce_values"
MAYBE_SYMBOLIC_BUILD = f"{_TF_TRAINER}.TensorFlowTrainer._maybe_symbolic_build"
SYMBOLIC_BUILD = f"{_TF_TRAINER}.TensorFlowTrainer._symbolic_build"
DISTRIBUTE_STRATEGY = "keras.Model._distribute_strategy"
REDUCE_PER_REPLICA = f"{_TF_TRAINER}.reduce_per_replica"
IS_MULTI_WORKER = f"{_TF_TRAINER}._collective_all_reduce_multi_worker"
EPOCH_ITERATOR_ADAPTER = f"{_TF_TRAINER}.TFEpochIterator.data_adapter"
BACKEND_APPLY_GRADIENTS = "keras.src.backend.tensorflow.optimizer.TFOptimizer." \
                          "_backend_apply_gradients"
CLIP_GRADIENTS = "keras.src.backend.tensorflow.optimizer.TFOptimizer._clip_gradients"

_DISTRIBUTE = "by keras_seq.distribution.keras_distribute_fixes"

TARGETS = {t.name: t for t in [
    Target(GET_KERAS_MASK, "keras.src.backend", "get_keras_mask",
           "to read the padding mask Keras attaches to a tensor (keras_mask_of)",
           params=("x",)),
    Target(TEST_CASE, "keras.src.testing", "TestCase",
           "by the tests (Keras's run_layer_test)"),
    Target(FLATTEN_LAYERS, "keras.layers:Layer", "_flatten_layers",
           "to find nested layers (hoisted_projection_kernels, ResetRNNStates)",
           params=("self", "include_self", "recursive"),
           fallback="a walk over the layers held in the layer's attributes"),
    Target(INBOUND_NODES, "instance:called_layer", "_inbound_nodes",
           "to check that a model's layers form a chain (AdversarialEmbeddingTrainer)"),
    Target(NODE_PARENT_NODES, "keras.src.ops.node:Node", "parent_nodes",
           "to check that a model's layers form a chain (AdversarialEmbeddingTrainer)"),
    Target(COMPUTE_LOSS, "keras:Model", "_compute_loss",
           "by AdversarialEmbeddingTrainer.train_step",
           params=("self", "x", "y", "y_pred", "sample_weight", "training"),
           fallback="the public Model.compute_loss"),
    Target(LOSS_TRACKER, "instance:compiled_model", "_loss_tracker",
           "by AdversarialEmbeddingTrainer.train_step to report `loss`",
           fallback="the metric named 'loss' in Model.metrics"),
    Target(INITIAL_EPOCH, "instance:compiled_model", "_initial_epoch",
           "to resume fit() at the restored epoch (ResumableBackupAndRestore)"),
    Target(UNSCALE_LOSS, "keras.src.losses.loss", "unscale_loss_for_distribution",
           "to report the loss of a custom train_step under tf.distribute",
           params=("value",)),
    Target(BACKUP_WEIGHTS_PATH, "instance:backup_and_restore", "_weights_path",
           "to resume from a backup written by keras.callbacks.BackupAndRestore",
           fallback="BACKUP_DIR/latest.weights.h5 (Keras 3.15's file name)"),
    Target(BACKUP_METADATA_PATH, "instance:backup_and_restore", "_training_metadata_path",
           "to resume from a backup written by keras.callbacks.BackupAndRestore",
           fallback="BACKUP_DIR/training_metadata.json (Keras 3.15's file name)"),
    Target(REDUCE_VALUES, "keras.src.losses.loss", "reduce_values",
           f"(patched {_DISTRIBUTE}: exact loss of an unevenly split batch)",
           params=("values", "sample_weight", "reduction")),
    Target(MAYBE_SYMBOLIC_BUILD, f"{_TF_TRAINER}:TensorFlowTrainer", "_maybe_symbolic_build",
           f"(patched {_DISTRIBUTE}: build from the dataset's element_spec)",
           params=("self", "iterator", "data_batch"), backend="tensorflow"),
    Target(SYMBOLIC_BUILD, f"{_TF_TRAINER}:TensorFlowTrainer", "_symbolic_build",
           f"{_DISTRIBUTE} to build the metrics", params=("self", "iterator", "data_batch"),
           backend="tensorflow"),
    Target(DISTRIBUTE_STRATEGY, "instance:compiled_model", "_distribute_strategy",
           f"{_DISTRIBUTE} (is the step function traced yet)", backend="tensorflow"),
    Target(REDUCE_PER_REPLICA, _TF_TRAINER, "reduce_per_replica",
           f"(patched {_DISTRIBUTE}: multi-worker logs)",
           params=("values", "strategy", "reduction"), backend="tensorflow"),
    Target(IS_MULTI_WORKER, _TF_TRAINER, "_collective_all_reduce_multi_worker",
           f"{_DISTRIBUTE} to tell multi-worker strategies apart", params=("strategy",),
           backend="tensorflow"),
    Target(EPOCH_ITERATOR_ADAPTER, "instance:epoch_iterator", "data_adapter",
           f"{_DISTRIBUTE} to read the dataset's element_spec", backend="tensorflow"),
    Target(BACKEND_APPLY_GRADIENTS, _TF_OPTIMIZER, "_backend_apply_gradients",
           f"(patched {_DISTRIBUTE}: clip the whole gradient, not each replica's share)",
           params=("self", "grads", "trainable_variables"), backend="tensorflow"),
    Target(CLIP_GRADIENTS, _TF_OPTIMIZER, "_clip_gradients",
           f"{_DISTRIBUTE} to clip the summed gradient", params=("self", "grads"),
           backend="tensorflow"),
]}
"""Every private Keras name keras-seq uses, by name (see `Target`)."""

DISTRIBUTE_FIX_TARGETS = (REDUCE_VALUES, MAYBE_SYMBOLIC_BUILD, SYMBOLIC_BUILD,
                          REDUCE_PER_REPLICA, IS_MULTI_WORKER, BACKEND_APPLY_GRADIENTS,
                          CLIP_GRADIENTS)
"""The targets `apply_keras_distribute_fixes` checks before it patches anything. (Its two
instance attributes, `DISTRIBUTE_STRATEGY` and `EPOCH_ITERATOR_ADAPTER`, are checked on the
model and iterator at hand when the patched code runs: probing them here would start the
TensorFlow runtime before the cluster has created its strategy.)"""

_WARNED = set()
_ORIGINALS = {}
_SIGNATURE_OK = {}  # target name -> the function whose parameters were checked


# ---- versions ------------------------------------------------------------------------------
def keras_version():
    """The installed Keras version as a tuple of ints, e.g. `(3, 15, 1)`."""
    return tuple(int(part) for part in re.findall(r"\d+", keras.__version__)[:3])


def _tested():
    (lo_major, lo_minor), (hi_major, hi_minor) = TESTED_KERAS_RANGE
    if (hi_major, hi_minor) == (lo_major, lo_minor + 1):
        return f"{lo_major}.{lo_minor}"
    return f"{lo_major}.{lo_minor} to <{hi_major}.{hi_minor}"


def is_tested_version(version=None):
    """Whether `version` (default: the installed Keras) lies in `TESTED_KERAS_RANGE`."""
    version = tuple(version or keras_version())[:2]
    lo, hi = TESTED_KERAS_RANGE
    return tuple(lo) <= version < tuple(hi)


def check_keras_version():
    """Warns once (`KerasCompatWarning`) when the installed Keras is outside the tested range.

    Returns:
        True for a tested version, else False.
    """
    if is_tested_version():
        return True
    _warn_once("version", f"keras-seq was tested with Keras {_tested()}; installed "
                          f"{keras.__version__}. Its private-API checks will name anything that "
                          "moved (keras_seq/compat.py).")
    return False


def _warn_once(key, message):
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, KerasCompatWarning, stacklevel=4)


def _message(names, reasons, uses):
    text = "; ".join(reasons)
    use = "; ".join(dict.fromkeys(uses))
    return (f"keras-seq needs {', '.join(names)} (Keras {_tested()} tested; installed "
            f"{keras.__version__}): {text}. It is used {use}. Install a tested Keras "
            f"(requirements.txt) or update keras_seq/compat.py.")


# ---- looking targets up --------------------------------------------------------------------
def _owner(target, instance=None):
    """(owner object, None) or (None, why it is missing)."""
    if target.owner.startswith("instance:"):
        if instance is None:
            instance = _PROBES[target.owner[len("instance:"):]]()
        return instance, None
    module_name, _, class_name = target.owner.partition(":")
    try:
        owner = sys.modules.get(module_name) or importlib.import_module(module_name)
    except ImportError as error:
        return None, f"module {module_name} does not import ({error})"
    for part in filter(None, class_name.split(".")):
        if not hasattr(owner, part):
            return None, f"{module_name} has no attribute {part!r}"
        owner = getattr(owner, part)
    return owner, None


def _lookup(name, instance=None):
    """(value, None) or (None, why it is missing) for target `name`."""
    target = TARGETS[name]
    check_keras_version()
    owner, reason = _owner(target, instance)
    if reason is not None:
        return None, reason
    where = type(owner).__name__ if target.owner.startswith("instance:") else \
        target.owner.replace(":", ".")
    if isinstance(owner, type):  # a property or method is looked up on the class itself
        found = any(target.attribute in vars(k) for k in owner.__mro__)
        value = getattr(owner, target.attribute, None)
    else:
        found = hasattr(owner, target.attribute)
        value = getattr(owner, target.attribute, None)
    if not found:
        kind = "instance attribute" if target.owner.startswith("instance:") else "attribute"
        return None, f"{where} has no {kind} {target.attribute!r}"
    if target.params is not None and callable(value) and _SIGNATURE_OK.get(name) is not value:
        try:
            params = tuple(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            params = None
        if params is not None and params[:len(target.params)] != target.params:
            return None, (f"{where}.{target.attribute} takes {params}, keras-seq calls it "
                          f"with {target.params}")
        _SIGNATURE_OK[name] = value
    return value, None


def require(name, instance=None):
    """The value of target `name` (a key of `TARGETS`), or a `KerasCompatError` naming it.

    Args:
        name: the target, e.g. `compat.REDUCE_VALUES`.
        instance: for an "instance:" target, the object to read it from.

    Raises:
        KerasCompatError: the target is missing or its parameters changed.
    """
    value, reason = _lookup(name, instance)
    if reason is not None:
        raise KerasCompatError(_message([name], [reason], [TARGETS[name].use]))
    return value


def require_all(names):
    """Checks every target in `names` (before anything is patched); one error names them all.

    Raises:
        KerasCompatError: one line naming every missing target.
    """
    if any(TARGETS[n].owner.startswith("instance:") for n in names):
        raise ValueError(f"require_all checks module and class targets only, got {names!r}.")
    missing = [(n, r) for n, r in ((n, _lookup(n)[1]) for n in names) if r is not None]
    if missing:
        raise KerasCompatError(_message([n for n, _ in missing], [r for _, r in missing],
                                        [TARGETS[n].use for n, _ in missing]))


def _optional(name, instance=None):
    """The target's value, or None after one warning that its fallback is used."""
    value, reason = _lookup(name, instance)
    if reason is None:
        return value
    target = TARGETS[name]
    _warn_once(name, f"keras-seq: {name} is missing on Keras {keras.__version__} ({reason}); "
                     f"using {target.fallback} instead (tested with Keras {_tested()}).")
    return None


def check_targets(raise_error=False):
    """Looks up every target of `TARGETS` that applies to the current backend.

    Module and class targets first; the instance attributes are then read from small
    instances built here (a compiled model, a called layer, a `BackupAndRestore`, an epoch
    iterator), only when every module and class target was found: building them on a Keras
    with missing internals would fail inside Keras, for a reason already reported.

    Args:
        raise_error: raise a `KerasCompatError` (one line, naming every missing target)
            instead of returning the list.

    Returns:
        A list of "NAME: why" strings, one per missing target (empty when all are found).
    """
    backend = keras.backend.backend()
    applies = [n for n, t in TARGETS.items() if t.backend in (None, backend)]
    static = [n for n in applies if not TARGETS[n].owner.startswith("instance:")]
    missing = [f"{n}: {r}" for n, r in ((n, _lookup(n)[1]) for n in static) if r is not None]
    if not missing:
        for name in applies:
            if name in static:
                continue
            try:
                reason = _lookup(name)[1]
            except Exception as error:  # noqa: BLE001 - a probe that no longer builds
                reason = f"probing it failed ({type(error).__name__}: {error})"
            if reason is not None:
                missing.append(f"{name}: {reason}")
    if missing and raise_error:
        names = [m.split(": ", 1)[0] for m in missing]
        raise KerasCompatError(_message(names, [m.split(": ", 1)[1] for m in missing],
                                        [TARGETS[n].use for n in names]))
    return missing


# Small instances for check_targets (built only there; runtime checks use the real objects).
def _probe_compiled_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _probe_called_layer():
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(1)
    keras.Model(inputs, layer(inputs))
    return layer


def _probe_backup_and_restore():
    return keras.callbacks.BackupAndRestore("keras_seq_compat_probe")  # writes nothing


def _probe_epoch_iterator():
    import numpy as np
    import tensorflow as tf

    trainer = importlib.import_module(_TF_TRAINER)
    return trainer.TFEpochIterator(x=np.zeros((2, 1), "float32"), batch_size=1,
                                   distribute_strategy=tf.distribute.get_strategy())


_PROBES = {"compiled_model": _probe_compiled_model, "called_layer": _probe_called_layer,
           "backup_and_restore": _probe_backup_and_restore,
           "epoch_iterator": _probe_epoch_iterator}


# ---- patching ------------------------------------------------------------------------------
def owner(name):
    """The module or class that holds module/class target `name` (what `patch` changes).

    Raises:
        KerasCompatError: that module or class is missing.
    """
    target = TARGETS[name]
    if target.owner.startswith("instance:"):
        raise ValueError(f"{name} is an attribute of each instance; it has no single owner.")
    found, reason = _owner(target)
    if reason is not None:
        raise KerasCompatError(_message([name], [reason], [target.use]))
    return found


def patch(name, replacement):
    """Replaces target `name` (a function or method) by `replacement`; returns the original.

    The target is checked first (`require`); the original is kept for `original(name)`.
    Patching the same target again replaces the replacement and still returns the original.
    """
    current = require(name)
    _ORIGINALS.setdefault(name, current)
    setattr(owner(name), TARGETS[name].attribute, replacement)
    return _ORIGINALS[name]


def original(name):
    """The original of a patched target (the current value when it is not patched)."""
    return _ORIGINALS[name] if name in _ORIGINALS else require(name)


# ---- named accessors -----------------------------------------------------------------------
def get_keras_mask(x):
    """The mask Keras attached to tensor `x` (e.g. by `Embedding(mask_zero=True)`), or None.

    Uses Keras's own accessor, which finds masks whether Keras stored them on the tensor or,
    for tensors that take no attributes (JAX arrays), in its own table. Reading `_keras_mask`
    alone would miss the latter: no fallback, a moved accessor is a `KerasCompatError`.
    """
    return require(GET_KERAS_MASK)(x)


def keras_test_case():
    """`keras.src.testing.TestCase` (Keras's `run_layer_test`), for tests."""
    return require(TEST_CASE)


def flatten_layers(layer, include_self=True):
    """`layer` (when `include_self`) and every layer nested in it, each once.

    Fallback when Keras's `_flatten_layers` is missing: a walk over the layers (and lists,
    tuples, dicts of layers) held in each layer's attributes; it finds the same layers, plus
    container models Keras keeps internally (a `Sequential`'s functional twin).
    """
    method = _optional(FLATTEN_LAYERS)
    if method is not None:
        return list(method(layer, include_self=include_self))
    found, seen = [], {id(layer)}

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
                for child in vars(value).values():
                    visit(child)
        elif isinstance(value, (list, tuple)):
            for child in value:
                visit(child)
        elif isinstance(value, dict):
            for child in value.values():
                visit(child)

    for child in vars(layer).values():
        visit(child)
    return ([layer] if include_self else []) + found


def inbound_parent_layers(layer):
    """The operations (layers) whose outputs `layer` read at its first call in a graph.

    Raises:
        KerasCompatError: the layer graph is no longer reachable this way.
        ValueError: `layer` was never called on a symbolic input.
    """
    nodes = require(INBOUND_NODES, instance=layer)
    if not nodes:
        raise ValueError(f"layer {layer.name!r} was never called on a symbolic input "
                         "(it has no inbound node).")
    require(NODE_PARENT_NODES)
    return [node.operation for node in nodes[0].parent_nodes]


def compute_loss(model, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    """`model`'s loss for one batch, as Keras's own `train_step` computes it.

    Keras's `_compute_loss` passes `training` only to a `compute_loss` override that takes
    it. Fallback: the same dispatch on the public `compute_loss`.
    """
    method = _optional(COMPUTE_LOSS)
    if method is not None:
        return method(model, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                      training=training)
    if "training" in inspect.signature(model.compute_loss).parameters:
        return model.compute_loss(x, y, y_pred, sample_weight, training=training)
    return model.compute_loss(x, y, y_pred, sample_weight)


def loss_tracker(model):
    """The `keras.metrics.Mean` that reports a compiled `model`'s `loss`.

    Fallback: the one metric named "loss" in `model.metrics`.

    Raises:
        KerasCompatError: neither is found.
    """
    tracker = _optional(LOSS_TRACKER, instance=model)
    if tracker is not None:
        return tracker
    found = [m for m in model.metrics if m.name == "loss"]
    if len(found) != 1:
        raise KerasCompatError(_message(
            [LOSS_TRACKER], [f"and model.metrics has {len(found)} metrics named 'loss'"],
            [TARGETS[LOSS_TRACKER].use]))
    return found[0]


def unscale_loss_for_distribution(loss):
    """Undoes Keras's per-replica loss scaling (for reporting the loss of a custom step)."""
    return require(UNSCALE_LOSS)(loss)


def set_initial_epoch(model, epoch):
    """Makes `model`'s next `fit` start at `epoch` (what a restored backup says)."""
    require(INITIAL_EPOCH, instance=model)
    model._initial_epoch = int(epoch)


def backup_file_paths(callback):
    """(weights path, training-metadata path) of a `keras.callbacks.BackupAndRestore`.

    Fallback: Keras 3.15's file names inside `callback.backup_dir`.
    """
    import os

    weights = _optional(BACKUP_WEIGHTS_PATH, instance=callback)
    metadata = _optional(BACKUP_METADATA_PATH, instance=callback)
    folder = str(callback.backup_dir)
    return (str(weights) if weights is not None else os.path.join(folder, "latest.weights.h5"),
            str(metadata) if metadata is not None else
            os.path.join(folder, "training_metadata.json"))


# ---- what keras_distribute_fixes calls inside its replacements ------------------------------
def model_distribute_strategy(model):
    """The strategy a TensorFlow-backend model was compiled under (None before tracing)."""
    return require(DISTRIBUTE_STRATEGY, instance=model)


def symbolic_build(model, data_batch):
    """Keras's symbolic build of `model`'s metrics from one (zero) batch."""
    return require(SYMBOLIC_BUILD)(model, data_batch=data_batch)


def is_multi_worker(strategy):
    """Whether `strategy` is a multi-worker collective strategy (Keras's own test)."""
    return require(IS_MULTI_WORKER)(strategy)


def epoch_iterator_dataset(iterator):
    """The (undistributed) `tf.data.Dataset` behind a TensorFlow trainer's epoch iterator."""
    return require(EPOCH_ITERATOR_ADAPTER, instance=iterator).get_tf_dataset()


def clip_gradients(optimizer, grads):
    """The optimizer's `clipnorm` / `global_clipnorm` / `clipvalue` applied to `grads`."""
    return require(CLIP_GRADIENTS)(optimizer, grads)
