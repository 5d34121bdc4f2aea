"""MaskedLanguageModel: serialization, loss only at masked positions, padding, tied weights."""


import keras
import numpy as np
import pytest

from tests.docstring_checks import assert_sections

from keras_seq.models.masked_language_model import MaskedLanguageModel

V, T = 60, 12


def _model(**kw):
    return MaskedLanguageModel(V, sequence_length=T, num_layers=2, num_heads=2, embedding_dim=16,
                               intermediate_dim=32, dropout=0.0, **kw)


def _inputs(rng, batch=3, p=3):
    ids = rng.integers(7, V, size=(batch, T)).astype("int32")
    ids[:, 0] = 2
    ids[:, 8] = 3
    ids[:, 9:] = 0
    seg = np.zeros_like(ids)
    seg[:, 5:9] = 1
    pos = np.stack([rng.choice(np.arange(1, 8), size=p, replace=False) for _ in range(batch)])
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": ids != 0,
            "mask_positions": pos.astype("int32")}


def test_output_shape_and_head_only_at_mask_positions():
    rng = np.random.default_rng(0)
    model, x = _model(), _inputs(rng)
    logits = np.asarray(model(x))
    assert logits.shape == (3, 3, V) and logits.dtype == np.float32
    hidden = model.encode(x)
    everywhere = np.asarray(model.token_logits(hidden))  # (B, T, V)
    np.testing.assert_allclose(
        logits, np.take_along_axis(everywhere, x["mask_positions"][..., None], 1), atol=1e-5)


def test_output_projection_is_tied_to_the_token_embedding():
    rng = np.random.default_rng(1)
    model, x = _model(), _inputs(rng)
    model(x)
    table = model.embeddings.token_embedding.embeddings
    hidden = model.encode(x)
    g = model.head_norm(model.head_dense(hidden))
    expected = np.einsum("btd,vd->btv", np.asarray(g), np.asarray(table)) + \
        np.asarray(model.output_bias)
    np.testing.assert_allclose(np.asarray(model.token_logits(hidden)), expected, atol=1e-4)
    assert sum(1 for w in model.weights if tuple(w.shape) == (V, 16)) == 1  # one V x d table


def test_loss_only_at_masked_positions():
    """Unused selection slots (weight 0) and unmasked tokens do not enter the loss."""
    rng = np.random.default_rng(2)
    model, x = _model(), _inputs(rng)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"))
    labels = rng.integers(7, V, size=(3, 3)).astype("int32")
    weights = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]], "float32")
    loss = float(model.compute_loss(x, labels, model(x), weights))
    logits = np.asarray(model(x), "float64")
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, (nll * weights).sum() / weights.sum(), rtol=1e-5)
    # other labels / logits at the unused slots: same loss
    labels2 = labels.copy()
    labels2[weights == 0] = 7
    y2 = np.asarray(model(x)).copy()
    y2[weights == 0] += rng.normal(size=(int((weights == 0).sum()), V)) * 5
    assert float(model.compute_loss(x, labels2, y2, weights)) == pytest.approx(loss, rel=1e-6)
    # the logits are computed only at mask_positions: a position not in mask_positions has
    # no output at all (the head's gather), so its label cannot enter the loss.


def test_padding_does_not_change_real_outputs():
    rng = np.random.default_rng(3)
    model, x = _model(), _inputs(rng)
    y = np.asarray(model(x))
    x2 = dict(x)
    seg = x["segment_ids"].copy()
    seg[:, 9:] = 1
    x2["segment_ids"] = seg
    np.testing.assert_allclose(np.asarray(model(x2)), y, atol=1e-5)
    # a shorter padded batch gives the same logits at the real positions
    x3 = {k: (v[:, :10] if k != "mask_positions" else v) for k, v in x.items()}
    np.testing.assert_allclose(np.asarray(model(x3)), y, atol=1e-5)


def test_serialization_and_keras_save_load(tmp_path):
    rng = np.random.default_rng(4)
    model, x = _model(), _inputs(rng)
    y = np.asarray(model(x))
    config = model.get_config()
    clone = MaskedLanguageModel.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), y, atol=1e-6)
    path = tmp_path / "mlm.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), y, atol=1e-6)


def test_fit_step_reduces_the_loss_and_attention_maps():
    rng = np.random.default_rng(5)
    model, x = _model(), _inputs(rng, batch=8)
    labels = np.take_along_axis(x["token_ids"], x["mask_positions"], 1)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"))
    hist = model.fit(x, labels, sample_weight=np.ones(labels.shape, "float32"), epochs=15,
                     batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0] * 0.8
    hidden, maps = model.encode(x, return_attention_scores=True)
    assert len(maps) == 2 and tuple(maps[0].shape) == (8, 2, T, T)
    np.testing.assert_allclose(np.asarray(maps[0]).sum(-1)[:, :, :9], 1.0, atol=1e-5)
    assert np.abs(np.asarray(maps[0])[:, :, :9, 9:]).max() < 1e-6  # never attends to padding


@pytest.mark.parametrize("kwargs, match", [
    (dict(vocabulary_size=0), "vocabulary_size"),
    (dict(vocabulary_size=10, embedding_dim=10, num_heads=4), "multiple"),
    (dict(vocabulary_size=10, dropout=1.0), "dropout"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskedLanguageModel(**kwargs)


def test_call_without_mask_positions_is_a_clear_error():
    with pytest.raises(ValueError, match="mask_positions"):
        _model()({"token_ids": np.ones((1, 4), "int32")})


def test_docstring_sections_and_example():
    assert_sections(MaskedLanguageModel)
