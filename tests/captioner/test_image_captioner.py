"""ImageCaptioner and its image encoders: harness, cache ≡ teacher forcing, conditioning, XLA."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seq.layers import BackboneImageEncoder, ConvImageEncoder
from keras_seq.models import ImageCaptioner
from tests.layer_harness import run_layer_test

VOCAB, SIZE = 13, 32
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(size=(2, SIZE, SIZE, 3)).astype("float32")
CAPTION_IN = np.array([[2, 4, 5, 6, 0, 0], [2, 7, 8, 9, 10, 11]], "int32")
VARIANTS = [
    dict(rnn="gru", attention=True, condition_on="both", encoder_self_attention_heads=2,
         encoder_self_similarity=True, encoder_self_similarity_heads=1),
    dict(rnn="lstm", attention=True, condition_on="state"),
    dict(rnn="gru", attention=False, condition_on="input"),
    dict(rnn="lstm", attention=False, condition_on="both"),
]
IDS = [f"{v['rnn']}-{'att' if v['attention'] else 'noatt'}-{v['condition_on']}" for v in VARIANTS]


def _model(**kwargs):
    return ImageCaptioner(VOCAB, image_size=SIZE, embedding_dim=8, hidden_dim=12,
                          encoder_filters=(4, 8), dropout=0.0, **kwargs)


def _logits(model, images, caption_in):
    return np.array(model({"image": images, "caption_in": caption_in}, training=False))


@pytest.mark.parametrize("pooling,heads", [("both", 0), ("mean", 0), ("both", 2)])
def test_conv_encoder_harness(pooling, heads):
    run_layer_test(ConvImageEncoder, dict(filters=(4, 8), embedding_dim=6, pooling=pooling,
                                          self_attention_heads=heads),
                   {"images": IMAGES}, expected_output_shape=[(2, 64, 8), (2, 6)],
                   run_mixed_precision=pooling == "both", run_save=pooling == "both")


def test_region_self_attention_lets_every_region_see_the_others():
    """Without it a region's feature depends on its receptive field only; with it, on all."""
    image = np.zeros((1, SIZE, SIZE, 3), "float32")
    changed = image.copy()
    changed[0, 28:, 28:] = 1.0  # bottom-right corner only
    for heads, expect_change in ((0, False), (2, True)):
        encoder = ConvImageEncoder(filters=(4, 8), embedding_dim=6, self_attention_heads=heads)
        top_left = [np.array(encoder(x)[0])[0, 0] for x in (image, changed)]
        assert (not np.allclose(*top_left, atol=1e-6)) == expect_change, heads


def test_conv_encoder_global_vector_knows_left_from_right():
    """A flattened grid (not an average pool): a mirrored image gets another embedding."""
    encoder = ConvImageEncoder(filters=(4, 8), embedding_dim=16, pooling="flatten")
    image = np.zeros((1, SIZE, SIZE, 3), "float32")
    image[0, 10:20, 2:10] = 1.0
    _, left = encoder(image)
    _, right = encoder(image[:, :, ::-1].copy())
    assert not np.allclose(np.array(left), np.array(right), atol=1e-3)


def test_conv_encoder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        ConvImageEncoder(filters=())
    with pytest.raises(ValueError, match="embedding_dim"):
        ConvImageEncoder(embedding_dim=0)
    with pytest.raises(ValueError, match="pooling"):
        ConvImageEncoder(pooling="max")
    with pytest.raises(ValueError, match="known image size"):
        ConvImageEncoder()(keras.Input((None, None, 3)))


def test_backbone_encoder_frozen_and_serializable():
    encoder = BackboneImageEncoder("mobilenet_v2", embedding_dim=6)
    grid, vector = encoder(IMAGES)
    assert tuple(grid.shape) == (2, 1, 1280) and tuple(vector.shape) == (2, 6)
    assert encoder.backbone.trainable is False
    trainable = {w.path for w in encoder.trainable_weights}
    assert trainable and all("global_dense" in p for p in trainable)
    config = encoder.get_config()
    assert BackboneImageEncoder.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="backbone"):
        BackboneImageEncoder("vgg99")


def test_backbone_encoder_loads_a_user_weights_file(tmp_path):
    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(SIZE, SIZE, 3))
    path = str(tmp_path / "backbone.weights.h5")
    source.save_weights(path)
    encoder = BackboneImageEncoder("mobilenet_v2", embedding_dim=6, backbone_weights=path,
                                   trainable_backbone=True)
    encoder(IMAGES)
    for a, b in zip(source.weights, encoder.backbone.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    assert len(encoder.trainable_weights) > 2  # fine-tuning: the backbone learns too


@pytest.mark.parametrize("kwargs", VARIANTS, ids=IDS)
def test_step_logits_equal_teacher_forced_logits(kwargs):
    model = _model(**kwargs)
    full = _logits(model, IMAGES, CAPTION_IN)
    cache = model.build_cache(IMAGES, CAPTION_IN.shape[1])
    steps = []
    for t in range(CAPTION_IN.shape[1]):
        logits, _, cache = model.call_with_cache(CAPTION_IN, cache, t + 1)  # reads t
        steps.append(np.array(logits))
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-4)


@pytest.mark.parametrize("kwargs", VARIANTS[:2], ids=IDS[:2])
def test_scan_path_equals_unrolled_path(kwargs):
    """An unknown caption length (ops.scan) gives the same logits as the unrolled loop."""
    model = _model(**kwargs)
    unrolled = _logits(model, IMAGES, CAPTION_IN)
    traced = tf.function(lambda i, c: model({"image": i, "caption_in": c}),
                         input_signature=[tf.TensorSpec((None, SIZE, SIZE, 3)),
                                          tf.TensorSpec((None, None), tf.int32)])
    np.testing.assert_allclose(np.array(traced(IMAGES, CAPTION_IN)), unrolled, atol=1e-4)


def _greedy_by_rerunning(model, images, max_length):
    tokens = np.full((len(images), 1), 2, "int32")
    done = np.zeros(len(images), bool)
    for _ in range(max_length - 1):
        nxt = _logits(model, images, tokens)[:, -1].argmax(-1)
        nxt = np.where(done, 0, nxt)
        tokens = np.concatenate([tokens, nxt[:, None].astype("int32")], 1)
        done |= nxt == 3
    return tokens


@pytest.mark.parametrize("kwargs", VARIANTS[:1] + VARIANTS[3:], ids=IDS[:1] + IDS[3:])
def test_cached_greedy_equals_rerunning_the_model_eager_and_xla(kwargs):
    model = _model(**kwargs)
    expected = _greedy_by_rerunning(model, IMAGES, 7)
    eager = model.generate_step(IMAGES, np.zeros((len(IMAGES), 7), "int32"))
    np.testing.assert_array_equal(np.array(eager), expected)
    compiled = model.generate(IMAGES, max_length=7, jit_compile=True)  # the XLA runner
    assert compiled.dtype == np.int32
    np.testing.assert_array_equal(compiled, expected)


def test_beam_search_runs_and_starts_with_start():
    from keras_seq.generation import get_sampler

    model = _model(**VARIANTS[0])
    out = model.generate(IMAGES, 6, sampler=get_sampler("beam", num_beams=3),
                         jit_compile=False)
    assert out.shape == (2, 6) and (out[:, 0] == 2).all()
    with pytest.raises(ValueError, match="rank 4"):
        model.generate(IMAGES[0], 6, jit_compile=False)  # one image without its batch axis


def test_attention_weights_are_distributions_over_regions():
    model = _model(**VARIANTS[0])
    alpha = np.array(model.attention_weights(IMAGES, CAPTION_IN))
    assert alpha.shape == (2, 6, model.grid_shape[0] * model.grid_shape[1])
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-5)
    assert _model(**VARIANTS[2]).attention_weights(IMAGES, CAPTION_IN) is None


@pytest.mark.parametrize("condition_on", ["state", "input"])
def test_the_image_conditions_the_caption_either_way(condition_on):
    model = _model(rnn="gru", attention=False, condition_on=condition_on)
    a = _logits(model, IMAGES[:1], CAPTION_IN[:1])
    b = _logits(model, IMAGES[1:], CAPTION_IN[:1])
    assert np.abs(a - b).max() > 1e-4


def test_initial_state_is_tanh_of_the_image_embedding():
    """h_0 = tanh(W_init x̄ + b_init), checked against a NumPy transcription."""
    model = _model(rnn="gru", attention=False, condition_on="state")
    _, vector, (h0, _) = model.encode(IMAGES)
    kernel, bias = (np.array(w) for w in model.initial_state.weights)
    np.testing.assert_allclose(np.array(h0), np.tanh(np.array(vector) @ kernel + bias),
                               atol=1e-5)


def test_fit_under_xla_and_mixed_precision_and_weights_round_trip():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = _model(**VARIANTS[0])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    x = {"image": IMAGES, "caption_in": CAPTION_IN}
    y = np.concatenate([CAPTION_IN[:, 1:], np.full((2, 1), 3)], 1)
    history = model.fit(x, y, epochs=8, batch_size=2, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "captioner.weights.h5")
        model.save_weights(path)
        clone = ImageCaptioner.from_config(model.get_config())
        clone.build()
        clone.load_weights(path)
    # The same weights and the same computation: the round trip must be exact.
    np.testing.assert_array_equal(_logits(clone, IMAGES, CAPTION_IN),
                                  _logits(model, IMAGES, CAPTION_IN))


def test_bad_arguments_name_the_argument():
    for kwargs, name in [(dict(rnn="elman"), "rnn"), (dict(condition_on="x"), "condition_on")]:
        with pytest.raises(ValueError, match=name):
            _model(**kwargs)
    with pytest.raises(ValueError, match="image_size"):
        ImageCaptioner(VOCAB, image_size=8)
