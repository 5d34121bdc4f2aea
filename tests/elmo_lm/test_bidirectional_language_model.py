"""BidirectionalLanguageModel: shapes and masks of embed, padding invariance, directions."""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
from keras_seq.models.elmo_embedding import ElmoEmbedding
from tests.layer_harness import assert_causal, assert_padding_invariant

ROOT = pathlib.Path(__file__).resolve().parents[2]
IDS = np.array([[5, 6, 7, 8, 0, 0], [9, 3, 4, 0, 0, 0], [2, 3, 4, 5, 6, 7]], "int32")
MASK = IDS != 0


def _model(**kw):
    args = dict(embedding_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)
    args.update(kw)
    model = BidirectionalLanguageModel(20, **args)
    model.build((None, None))
    return model


def _np(x):
    return ops.convert_to_numpy(x)


def test_shapes_and_masks_of_embed_and_the_layer_stack():
    model = _model()
    out = model(IDS)
    assert set(out) == {"forward", "backward"}
    assert tuple(out["forward"].shape) == tuple(out["backward"].shape) == (3, 6, 20)
    emb, mask = model.embed(IDS)
    assert tuple(emb.shape) == (3, 6, 16)
    assert np.array_equal(_np(mask), MASK)
    assert np.all(_np(emb)[~MASK] == 0.0)  # padding positions are zeros
    stack, mask2 = model.layer_stack(IDS)
    assert tuple(stack.shape) == (3, 3, 6, 16)  # (B, L+1, T, 2H)
    stack = _np(stack)
    # layer 0 is the token layer duplicated: [e; e], the same in both halves
    np.testing.assert_allclose(stack[:, 0, :, :8], stack[:, 0, :, 8:])
    # the model's own mix is the uniform mean of the L+1 layers (s = 0, γ = 1)
    np.testing.assert_allclose(_np(emb), stack.mean(axis=1), atol=1e-5)
    # a layer of a different width (projected token layer) works the same way
    assert tuple(_model(embedding_dim=8, hidden_dim=8).embed(IDS)[0].shape) == (3, 6, 16)


def test_padding_changes_no_real_position_outputs_or_embeddings():
    model = _model(share_softmax=False)
    assert_padding_invariant(lambda x, m: model.embed(x)[0], IDS, MASK, extra=4)
    assert_padding_invariant(lambda x, m: model(x)["backward"], IDS, MASK, extra=4)
    assert_padding_invariant(lambda x, m: model(x)["forward"], IDS, MASK, extra=4)
    # and a row alone equals the same row in a longer, padded batch
    alone, _ = model.embed(IDS[1:2, :3])
    np.testing.assert_allclose(_np(alone)[0], _np(model.embed(IDS)[0])[1, :3], atol=1e-5)


def test_forward_reads_the_past_and_backward_reads_the_future_only():
    model = _model()
    full = np.array([[3, 4, 5, 6, 7, 8]], "int32")
    assert_causal(lambda x: model(x)["forward"], full)
    # backward: reversing time makes it causal
    assert_causal(lambda x: ops.flip(model(ops.flip(x, axis=1))["backward"], axis=1), full)
    changed = full.copy()
    changed[0, 4] = 11  # changes the backward outputs at t <= 4 only
    diff = np.abs(_np(model(changed)["backward"]) - _np(model(full)["backward"])).max(axis=-1)[0]
    assert np.all(diff[:5] > 0) and diff[5] == 0


def test_targets_are_next_and_previous_tokens_masked_at_padding_and_ends():
    targets, weights = BidirectionalLanguageModel.targets(IDS[:1])
    assert _np(targets["forward"]).tolist() == [[6, 7, 8, 0, 0, 0]]
    assert _np(targets["backward"]).tolist() == [[0, 5, 6, 7, 8, 0]]  # weight 0 at padding
    assert _np(weights["forward"]).tolist() == [[1, 1, 1, 0, 0, 0]]
    assert _np(weights["backward"]).tolist() == [[0, 1, 1, 1, 0, 0]]


def test_a_tiny_model_learns_that_backward_predicts_the_previous_token():
    """Sequences x_t = 2 + (x_{t-1} + 1) mod 10 ... counting up: x_{t-1} = x_t - 1.

    Trained jointly, the backward head must put its mass on x_{t-1} (not on x_{t+1}).
    """
    from keras_seq.tasks.elmo_lm import compile_network

    rng = np.random.default_rng(0)
    starts = rng.integers(0, 10, 256)
    ids = (2 + (starts[:, None] + np.arange(8)[None, :]) % 10).astype("int32")
    keras.utils.set_random_seed(0)
    model = _model(hidden_dim=16, embedding_dim=16, num_layers=1)
    compile_network(model, 0.02)
    targets, weights = BidirectionalLanguageModel.targets(ids)
    model.fit(ids, targets, sample_weight=weights, batch_size=64, epochs=12, verbose=0)
    pred = _np(model(ids)["backward"]).argmax(-1)
    previous = 2 + (starts[:, None] + np.arange(8)[None, :] - 1) % 10
    assert (pred[:, 1:] == previous[:, 1:]).mean() > 0.95
    pred_f = _np(model(ids)["forward"]).argmax(-1)
    following = 2 + (starts[:, None] + np.arange(8)[None, :] + 1) % 10
    assert (pred_f[:, :-1] == following[:, :-1]).mean() > 0.95


def test_config_round_trip_and_elmo_embedding_frozen_or_fine_tuned(tmp_path):
    model = _model()
    clone = BidirectionalLanguageModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    frozen, tuned = ElmoEmbedding(model), ElmoEmbedding(_model(), fine_tune=True)
    out = frozen(IDS)
    assert tuple(out.shape) == (3, 6, 16)
    assert np.array_equal(_np(frozen.compute_mask(IDS)), MASK)
    assert len(frozen.trainable_weights) == 2  # only the task's s and γ
    assert len(tuned.trainable_weights) > 2
    # inside a functional model, saved and reloaded as .keras
    inp = keras.Input((None,), dtype="int32")
    net = keras.Model(inp, keras.layers.GlobalAveragePooling1D()(ElmoEmbedding(model)(inp)))
    path = tmp_path / "m.keras"
    net.save(path)
    np.testing.assert_allclose(_np(keras.saving.load_model(path)(IDS)), _np(net(IDS)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="vocabulary_size"):
        BidirectionalLanguageModel(2)
    with pytest.raises(ValueError, match="language_model"):
        ElmoEmbedding(keras.layers.Dense(3))


JAX_SCRIPT = textwrap.dedent("""
    import keras, numpy as np
    assert keras.backend.backend() == "jax"
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
    from keras_seq.models.elmo_embedding import ElmoEmbedding
    lm = BidirectionalLanguageModel(20, embedding_dim=6, hidden_dim=8, num_layers=2)
    ids = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32")
    out = lm(ids)
    emb, mask = lm.embed(ids)
    longer, _ = lm.embed(np.pad(ids, [(0, 0), (0, 3)]))
    assert np.abs(np.asarray(longer)[:, :4] - np.asarray(emb)).max() < 1e-5
    assert tuple(ElmoEmbedding(lm)(ids).shape) == (2, 4, 16)
    print("JAX OK", out["backward"].shape, emb.shape)
""")


@pytest.mark.slow  # a fresh JAX process: ~20 s alone; the same lines belong in test_architecture
def test_model_runs_on_the_jax_backend():
    pytest.importorskip("jax", reason="jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert "JAX OK" in proc.stdout, proc.stderr[-3000:]
