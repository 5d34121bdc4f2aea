"""keras_seq.compat: every private Keras target exists, and a moved one fails loudly, by name."""

import pathlib
import re
import types
import warnings

import keras
import numpy as np
import pytest

from keras_seq import compat
from keras_seq.compat import KerasCompatError, KerasCompatWarning

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Every private Keras name keras-seq touches. Adding one to compat.TARGETS means adding it here.
EXPECTED_TARGETS = {
    "keras.src.backend.get_keras_mask",
    "keras.src.testing.TestCase",
    "keras.layers.Layer._flatten_layers",
    "keras.layers.Layer._inbound_nodes",
    "keras.src.ops.node.Node.parent_nodes",
    "keras.Model._compute_loss",
    "keras.Model._loss_tracker",
    "keras.Model._initial_epoch",
    "keras.src.losses.loss.unscale_loss_for_distribution",
    "keras.callbacks.BackupAndRestore._weights_path",
    "keras.callbacks.BackupAndRestore._training_metadata_path",
    "keras.src.losses.loss.reduce_values",
    "keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build",
    "keras.src.backend.tensorflow.trainer.TensorFlowTrainer._symbolic_build",
    "keras.Model._distribute_strategy",
    "keras.src.backend.tensorflow.trainer.reduce_per_replica",
    "keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker",
    "keras.src.backend.tensorflow.trainer.TFEpochIterator.data_adapter",
    "keras.src.backend.tensorflow.optimizer.TFOptimizer._backend_apply_gradients",
    "keras.src.backend.tensorflow.optimizer.TFOptimizer._clip_gradients",
}
# The four functions keras_distribute_fixes replaces.
PATCHED = [compat.REDUCE_VALUES, compat.MAYBE_SYMBOLIC_BUILD, compat.REDUCE_PER_REPLICA,
           compat.BACKEND_APPLY_GRADIENTS]


def _tested():
    (major, minor), _ = compat.TESTED_KERAS_RANGE
    return f"{major}.{minor}"


@pytest.fixture
def fresh_warnings(monkeypatch):
    """compat warns once per process: start each test with nothing warned yet."""
    monkeypatch.setattr(compat, "_WARNED", set())


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


# ---- every target exists --------------------------------------------------------------------
def test_the_registry_lists_every_private_target():
    assert set(compat.TARGETS) == EXPECTED_TARGETS
    assert set(PATCHED) <= set(compat.DISTRIBUTE_FIX_TARGETS) <= EXPECTED_TARGETS


def test_every_target_exists_on_the_installed_keras():
    assert compat.check_targets() == []
    assert compat.check_targets(raise_error=True) == []
    compat.require_all(compat.DISTRIBUTE_FIX_TARGETS)


def test_installed_keras_is_in_the_tested_range_and_requirements_agree():
    assert compat.is_tested_version(), keras.__version__
    line = next(line for line in (ROOT / "requirements.txt").read_text().splitlines()
                if re.match(r"keras\s*[<>=]", line))
    low = re.search(r">=\s*(\d+)\.(\d+)", line)
    high = re.search(r"<\s*(\d+)\.(\d+)", line)
    assert low and high, line
    assert ((int(low[1]), int(low[2])), (int(high[1]), int(high[2]))) == \
        compat.TESTED_KERAS_RANGE


def test_is_tested_version_bounds():
    assert compat.is_tested_version((3, 15, 0)) and compat.is_tested_version((3, 15, 9))
    assert not compat.is_tested_version((3, 14, 2))
    assert not compat.is_tested_version((3, 16, 0))
    assert not compat.is_tested_version((4, 0, 0))


# ---- a moved target: one line that names it ---------------------------------------------------
def _defining_class(cls, attribute):
    return next(k for k in cls.__mro__ if attribute in vars(k))


@pytest.mark.parametrize("name", [
    compat.REDUCE_VALUES, compat.GET_KERAS_MASK, compat.UNSCALE_LOSS,
    compat.BACKEND_APPLY_GRADIENTS, compat.MAYBE_SYMBOLIC_BUILD, compat.REDUCE_PER_REPLICA,
    compat.IS_MULTI_WORKER])
def test_a_missing_target_is_one_line_naming_it(monkeypatch, name):
    target = compat.TARGETS[name]
    owner = compat.owner(name)
    if isinstance(owner, type):
        owner = _defining_class(owner, target.attribute)
    monkeypatch.delattr(owner, target.attribute)
    with pytest.raises(KerasCompatError) as error:
        compat.require(name)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"keras-seq needs {name} (Keras {_tested()} tested; installed "
                              f"{keras.__version__}): ")
    assert f"no attribute {target.attribute!r}" in message
    assert [m.split(": ")[0] for m in compat.check_targets()] == [name]
    with pytest.raises(KerasCompatError, match=re.escape(name)):
        compat.check_targets(raise_error=True)


def test_a_changed_signature_is_named(monkeypatch):
    module = compat.owner(compat.REDUCE_VALUES)
    monkeypatch.setattr(module, "reduce_values", lambda losses, weights=None: losses)
    with pytest.raises(KerasCompatError, match=r"reduce_values takes \('losses', 'weights'\), "
                                               r"keras-seq calls it with \('values', "):
        compat.require(compat.REDUCE_VALUES)


def test_a_missing_mask_accessor_is_an_error_not_a_lost_mask(monkeypatch):
    from keras_seq.layers import keras_mask_of

    ids = np.array([[3, 4, 0, 0], [1, 0, 0, 0]])
    h = keras.layers.Embedding(5, 2, mask_zero=True)(ids)
    np.testing.assert_array_equal(np.asarray(keras_mask_of(h)), ids != 0)
    symbolic = keras.layers.Embedding(5, 2, mask_zero=True)(keras.Input((4,), dtype="int32"))
    assert keras_mask_of(symbolic) is not None
    assert keras_mask_of(np.ones((2, 4), "float32")) is None  # no mask: None, as documented
    assert keras_mask_of(None) is None
    monkeypatch.delattr(compat.owner(compat.GET_KERAS_MASK), "get_keras_mask")
    with pytest.raises(KerasCompatError, match=r"needs keras\.src\.backend\.get_keras_mask"):
        keras_mask_of(h)


# ---- versions -------------------------------------------------------------------------------
def test_an_untested_version_warns_once_and_still_works(monkeypatch, fresh_warnings):
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.warns(KerasCompatWarning, match=rf"tested with Keras {_tested()}; installed "
                                                r"3\.99\.0"):
        assert compat.check_keras_version() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would fail here
        assert compat.check_keras_version() is False
        assert callable(compat.require(compat.REDUCE_VALUES))  # a found target still works
    monkeypatch.delattr(compat.owner(compat.REDUCE_VALUES), "reduce_values")
    with pytest.raises(KerasCompatError, match=r"installed 3\.99\.0"):
        compat.require(compat.REDUCE_VALUES)


def test_a_tested_version_does_not_warn(monkeypatch, fresh_warnings):
    monkeypatch.setattr(keras, "__version__", "3.15.7")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compat.check_keras_version() is True


# ---- fallbacks: warned once, same result ------------------------------------------------------
def test_flatten_layers_fallback_finds_the_same_layers(monkeypatch, fresh_warnings):
    inner = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), inner])
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(3)(inputs)))
    expected = [compat.flatten_layers(m) for m in (seq, functional)]
    assert {layer.name for layer in expected[0]} >= {inner.name, inner.layers[1].name}
    monkeypatch.delattr(_defining_class(keras.layers.Layer, "_flatten_layers"),
                        "_flatten_layers")
    with pytest.warns(KerasCompatWarning, match="_flatten_layers is missing"):
        walked = compat.flatten_layers(seq)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        walked_functional = compat.flatten_layers(functional)
    # The same layers; the walk also meets the functional twin Keras keeps for a Sequential.
    def plain(found):
        return {id(x) for x in found if not isinstance(x, keras.Model)}

    assert plain(walked) == plain(expected[0])
    assert {id(x) for x in expected[0]} <= {id(x) for x in walked}
    assert {id(x) for x in walked_functional} == {id(x) for x in expected[1]}
    assert compat.flatten_layers(seq, include_self=False)[0] is not seq


def test_compute_loss_and_loss_tracker_fallbacks(monkeypatch, fresh_warnings):
    model = _model()
    x = np.ones((4, 3), "float32")
    y, y_pred = np.zeros((4, 1), "float32"), np.full((4, 1), 2.0, "float32")
    keras_loss = float(compat.compute_loss(model, x=x, y=y, y_pred=y_pred, training=True))
    assert keras_loss == pytest.approx(4.0)
    tracker = compat.loss_tracker(model)
    assert tracker.name == "loss"
    monkeypatch.delattr(_defining_class(keras.Model, "_compute_loss"), "_compute_loss")
    with pytest.warns(KerasCompatWarning, match="_compute_loss is missing"):
        fallback = float(compat.compute_loss(model, x=x, y=y, y_pred=y_pred, training=True))
    assert fallback == keras_loss
    renamed = types.SimpleNamespace(metrics=[keras.metrics.Mean(name="accuracy"), tracker])
    with pytest.warns(KerasCompatWarning, match="_loss_tracker is missing"):
        assert compat.loss_tracker(renamed) is tracker
    with pytest.raises(KerasCompatError, match=r"keras\.Model\._loss_tracker .*0 metrics"):
        compat.loss_tracker(types.SimpleNamespace(metrics=[]))


def test_backup_file_paths_fallback_matches_keras(tmp_path, monkeypatch, fresh_warnings):
    callback = keras.callbacks.BackupAndRestore(str(tmp_path))
    paths = compat.backup_file_paths(callback)
    with pytest.warns(KerasCompatWarning) as record:
        fallback = compat.backup_file_paths(types.SimpleNamespace(backup_dir=str(tmp_path)))
    assert fallback == paths
    assert ["_weights_path is missing" in str(w.message) for w in record] == [True, False]
    assert "_training_metadata_path is missing" in str(record[1].message)


def test_inbound_parent_layers():
    inputs = keras.Input((3,))
    first, second = keras.layers.Dense(2), keras.layers.Dense(1)
    keras.Model(inputs, second(first(inputs)))
    assert compat.inbound_parent_layers(second) == [first]
    with pytest.raises(ValueError, match="never called on a symbolic input"):
        compat.inbound_parent_layers(keras.layers.Dense(1))
    with pytest.raises(KerasCompatError, match=r"keras\.layers\.Layer\._inbound_nodes .*"
                                               r"no instance attribute '_inbound_nodes'"):
        compat.inbound_parent_layers(types.SimpleNamespace(name="renamed"))


def test_keras_test_case_is_kerass():
    case = compat.keras_test_case()
    assert isinstance(case, type) and hasattr(case, "run_layer_test")


# ---- the distribution fixes ------------------------------------------------------------------
@pytest.fixture
def unpatched(monkeypatch):
    """Keras's own functions in place and the fixes not applied; all restored afterwards."""
    from keras_seq.distribution import keras_distribute_fixes

    originals = {name: compat.original(name) for name in PATCHED}
    for name in PATCHED:
        monkeypatch.setattr(compat.owner(name), compat.TARGETS[name].attribute, originals[name])
    monkeypatch.setattr(compat, "_ORIGINALS", {})
    monkeypatch.setattr(keras_distribute_fixes, "_APPLIED", False)
    return originals


def _current(name):
    return getattr(compat.owner(name), compat.TARGETS[name].attribute)


def test_the_fixes_patch_all_four_targets(unpatched):
    from keras_seq.distribution import apply_keras_distribute_fixes

    assert apply_keras_distribute_fixes() is True
    for name in PATCHED:
        assert _current(name) is not unpatched[name], name
        assert compat.original(name) is unpatched[name]
    patched = {name: _current(name) for name in PATCHED}
    assert apply_keras_distribute_fixes() is True  # idempotent
    assert {name: _current(name) for name in PATCHED} == patched


def test_training_cluster_fails_loudly_when_a_fix_target_is_missing(monkeypatch, unpatched):
    from keras_seq.distribution import TrainingCluster, current_cluster

    trainer = compat.owner(compat.REDUCE_PER_REPLICA)
    monkeypatch.delattr(trainer, "reduce_per_replica")
    cluster = TrainingCluster("mirrored")
    with pytest.raises(KerasCompatError, match=r"^keras-seq needs keras\.src\.backend\."
                                               r"tensorflow\.trainer\.reduce_per_replica \("):
        cluster.start()
    assert current_cluster() is not cluster
    for name in PATCHED:  # checked before patching: nothing half-applied
        if name != compat.REDUCE_PER_REPLICA:
            assert _current(name) is unpatched[name], name


def test_training_cluster_does_not_ignore_a_false_result(monkeypatch):
    from keras_seq.distribution import TrainingCluster, current_cluster, keras_distribute_fixes

    monkeypatch.setattr(keras_distribute_fixes, "apply_keras_distribute_fixes", lambda: False)
    cluster = TrainingCluster("mirrored")
    with pytest.raises(RuntimeError, match="Keras fixes for --strategy mirrored could not"):
        cluster.start()
    assert current_cluster() is not cluster


# ---- resuming ---------------------------------------------------------------------------------
def test_resume_starts_at_the_restored_epoch_or_fails_loudly(tmp_path, monkeypatch):
    from keras_seq.callbacks import ResumableBackupAndRestore

    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    _model().fit(x, y, batch_size=4, epochs=2, verbose=0,
                 callbacks=[ResumableBackupAndRestore(tmp_path, log=lambda line: None)])
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    _model().fit(x, y, batch_size=4, epochs=4, verbose=0,
                 callbacks=[ResumableBackupAndRestore(tmp_path), record])
    assert seen == [2, 3]
    # A Keras without Model._initial_epoch would restart at epoch 0 without a word.
    renamed = _model()
    monkeypatch.delattr(renamed, "_initial_epoch")
    with pytest.raises(KerasCompatError, match=r"needs keras\.Model\._initial_epoch"):
        renamed.fit(x, y, batch_size=4, epochs=6, verbose=0,
                    callbacks=[ResumableBackupAndRestore(tmp_path)])


def test_check_targets_reads_instance_attributes_from_probes(monkeypatch):
    monkeypatch.setitem(compat._PROBES, "backup_and_restore", types.SimpleNamespace)

    def broken():
        raise TypeError("Sequential() got an unexpected keyword")

    monkeypatch.setitem(compat._PROBES, "compiled_model", broken)
    missing = dict(m.split(": ", 1) for m in compat.check_targets())
    assert set(missing) == {compat.BACKUP_WEIGHTS_PATH, compat.BACKUP_METADATA_PATH,
                            compat.LOSS_TRACKER, compat.INITIAL_EPOCH,
                            compat.DISTRIBUTE_STRATEGY}
    assert missing[compat.INITIAL_EPOCH] == \
        "probing it failed (TypeError: Sequential() got an unexpected keyword)"
    assert "no instance attribute '_weights_path'" in missing[compat.BACKUP_WEIGHTS_PATH]


def test_the_examples_run():
    import doctest

    from keras_seq.layers import attention_masks

    for obj, module in ((compat, compat), (attention_masks.keras_mask_of, attention_masks)):
        finder = doctest.DocTestFinder(recurse=False)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        tests = finder.find(obj, module.__name__, globs=dict(vars(module)))
        assert sum(len(t.examples) for t in tests) >= 2
        for test in tests:
            runner.run(test)
        assert runner.failures == 0, f"{module.__name__}: {runner.failures} failed"
