"""keras_seq.losses: values against Keras' one-hot label smoothing, masks, config, bad input."""

import keras
import numpy as np
import pytest

from keras_seq.losses import LabelSmoothedSparseCrossentropy
from tests.docstring_checks import assert_sections


def _data(seed=0, vocab=11):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(4, 6, vocab)).astype("float32")
    labels = rng.integers(0, vocab, size=(4, 6))
    weights = (rng.random((4, 6)) > 0.3).astype("float32")
    return labels, logits, weights


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.4])
def test_equals_one_hot_label_smoothing(epsilon):
    labels, logits, weights = _data()
    ours = LabelSmoothedSparseCrossentropy(epsilon)(labels, logits, sample_weight=weights)
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=epsilon)
    expected = keras_loss(keras.ops.one_hot(labels, logits.shape[-1]), logits,
                          sample_weight=weights)
    np.testing.assert_allclose(float(ours), float(expected), rtol=1e-5)


def test_epsilon_zero_is_sparse_crossentropy_and_smoothing_penalises_confidence():
    labels, logits, weights = _data(1)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        float(LabelSmoothedSparseCrossentropy(0.0)(labels, logits, sample_weight=weights)),
        float(plain(labels, logits, sample_weight=weights)), rtol=1e-6)
    # A (nearly) one-hot prediction of the right class: plain CE ~0, smoothed CE grows with it.
    sharp = np.full((1, 5), -30.0, "float32")
    sharp[0, 2] = 30.0
    assert float(plain(np.array([2]), sharp)) < 1e-6
    assert float(LabelSmoothedSparseCrossentropy(0.1)(np.array([2]), sharp)) > 1.0


def test_bf16_logits_and_per_position_reduction():
    labels, logits, _ = _data(2)
    loss = LabelSmoothedSparseCrossentropy(0.1, reduction=None)
    out = loss(labels, keras.ops.cast(logits, "bfloat16"))
    assert (tuple(out.shape) == labels.shape
            and keras.backend.standardize_dtype(out.dtype) == "float32")


def test_config_round_trip_and_bad_arguments():
    loss = LabelSmoothedSparseCrossentropy(0.2, name="ls")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, LabelSmoothedSparseCrossentropy)
    assert restored.epsilon == 0.2 and restored.name == "ls"
    with pytest.raises(ValueError, match="epsilon"):
        LabelSmoothedSparseCrossentropy(1.0)
    with pytest.raises(ValueError, match="logits"):
        LabelSmoothedSparseCrossentropy(0.1, from_logits=False)


def test_docstring():
    assert_sections(LabelSmoothedSparseCrossentropy)
