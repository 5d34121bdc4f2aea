"""The sentiment classifier model: masking, serialization, compile defaults, argument checks."""

import pathlib
import re

import keras
import numpy as np
import pytest

from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier

MODELS_DIR = pathlib.Path(__file__).resolve().parents[2] / "keras_seq" / "models"


@pytest.mark.parametrize("rnn, stacked", [("lstm", 1), ("gru", 0)])
def test_padding_does_not_change_the_output(rnn, stacked):
    model = build_sentiment_classifier(50, embedding_dim=8, rnn=rnn, hidden_dim=4,
                                       num_stacked=stacked)
    ids = np.array([[5, 6, 7, 8], [9, 3, 0, 0]], "int32")
    padded = np.concatenate([ids, np.zeros((2, 5), "int32")], axis=1)
    np.testing.assert_allclose(model(ids), model(padded), atol=1e-6)
    assert model(ids).shape == (2, 1)


@pytest.mark.parametrize("pooling", ["mean", "mean_max", "last"])
def test_keras_file_round_trip(tmp_path, pooling):
    model = build_sentiment_classifier(40, embedding_dim=8, hidden_dim=4, num_stacked=1,
                                       pooling=pooling)
    assert model.get_layer("head").kernel.shape == ((16 if pooling == "mean_max" else 8), 1)
    ids = np.array([[1, 2, 3, 0]], "int32")
    padded = np.pad(ids, [(0, 0), (0, 3)])
    np.testing.assert_allclose(model(ids), model(padded), atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model(ids), loaded(ids), atol=1e-6)


def test_compile_defaults_and_a_fit_step_under_xla():
    model = compile_sentiment_classifier(
        build_sentiment_classifier(30, embedding_dim=8, hidden_dim=4), jit_compile=True)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    # The whole gradient is clipped to global norm 1, not each variable on its own.
    assert model.optimizer.global_clipnorm == 1.0 and model.optimizer.clipnorm is None
    ids = np.random.default_rng(0).integers(1, 30, size=(8, 6)).astype("int32")
    history = model.fit(ids, np.ones((8, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history


def test_global_clipnorm_is_passed_to_the_optimizer_and_checked():
    """`global_clipnorm` clips all variables' gradients together (Keras's global_clipnorm)."""
    def compiled(**kwargs):
        model = build_sentiment_classifier(30, embedding_dim=4, hidden_dim=2)
        return compile_sentiment_classifier(model, **kwargs).optimizer

    optimizer = compiled(global_clipnorm=0.5)
    assert optimizer.global_clipnorm == 0.5 and optimizer.clipnorm is None
    assert compiled(global_clipnorm=None).global_clipnorm is None
    for bad in (-1.0, 0, "1"):
        with pytest.raises(ValueError, match="global_clipnorm"):
            compiled(global_clipnorm=bad)


def test_word_dropout_drops_whole_word_vectors_in_training_only():
    model = build_sentiment_classifier(30, embedding_dim=16, hidden_dim=4, word_dropout=0.5,
                                       dropout=0.0)
    layer = model.get_layer("word_dropout")
    x = np.ones((4, 50, 16), "float32")
    dropped = keras.ops.convert_to_numpy(layer(x, training=True))
    per_word = dropped.reshape(-1, 16)
    # Each word vector is all zeros or all 1 / (1 - 0.5); about half are dropped.
    assert set(np.unique(per_word)) <= {0.0, 2.0}
    assert np.all(per_word.min(axis=1) == per_word.max(axis=1))
    assert 0.35 < np.mean(per_word[:, 0] == 0.0) < 0.65
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    ids = np.array([[5, 6, 0, 0]], "int32")
    np.testing.assert_allclose(model(ids), model(ids[:, :2]), atol=1e-6)  # mask passes


def test_logits_head():
    model = build_sentiment_classifier(30, embedding_dim=8, hidden_dim=4, logits=True)
    assert model.layers[-1].activation is keras.activations.linear


@pytest.mark.parametrize("kwargs, named", [
    ({"vocabulary_size": 2}, "vocabulary_size"), ({"rnn": "rnn"}, "rnn"),
    ({"hidden_dim": 0}, "hidden_dim"),
    ({"num_stacked": -1}, "num_stacked"), ({"dropout": 1.0}, "dropout"),
    ({"word_dropout": -0.1}, "word_dropout"), ({"pooling": "max"}, "pooling"),
])
def test_bad_arguments_name_themselves(kwargs, named):
    args = {"vocabulary_size": 30, **kwargs}
    with pytest.raises(ValueError, match=named):
        build_sentiment_classifier(**args)


def test_models_floor_does_not_import_tensorflow():
    for path in MODELS_DIR.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+tensorflow", source, re.M), path
        assert not re.search(r"^\s*from\s+keras_seq\.(data|export)", source, re.M), path
