"""AdversarialEmbeddingTrainer: the perturbation, one exact step, fit/save/serve, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seq.models import build_sentiment_classifier
from keras_seq.training import AdversarialEmbeddingTrainer

IDS = np.array([[3, 4, 5, 6, 0, 0], [7, 8, 0, 0, 0, 0], [9, 3, 4, 10, 11, 12]], "int32")
LABELS = np.array([[1.0], [0.0], [1.0]], "float32")


def _classifier(seed=0, dropout=0.0, **kwargs):
    keras.utils.set_random_seed(seed)
    return build_sentiment_classifier(vocabulary_size=20, embedding_dim=6, hidden_dim=4,
                                      dropout=dropout,
                                      **kwargs)


def _loss(classifier, vectors, mask):
    trainer = AdversarialEmbeddingTrainer(classifier)
    y = trainer._forward_from_vectors(vectors, mask, training=False)
    return keras.losses.binary_crossentropy(LABELS, y)  # (B,)


def test_perturbation_has_the_formula_s_size_direction_and_no_padding():
    classifier = _classifier()
    trainer = AdversarialEmbeddingTrainer(classifier, epsilon=0.7)
    mask = IDS != 0
    e = classifier.get_layer("embedding")(IDS)
    g = tf.random.stateless_normal(e.shape, seed=(1, 2))
    r = trainer.perturbation(e, g, mask).numpy()
    e, g = e.numpy(), g.numpy()
    for b in range(len(IDS)):
        real = mask[b]
        rho = np.sqrt(np.mean(np.sum(e[b][real] ** 2, axis=-1)))  # RMS word-vector length
        assert np.linalg.norm(r[b]) == pytest.approx(0.7 * rho, rel=1e-5)
        assert np.all(r[b][~real] == 0)
        direction = g[b][real] / np.linalg.norm(g[b][real])
        np.testing.assert_allclose(r[b][real] / np.linalg.norm(r[b]), direction, atol=1e-6)


def test_adversarial_direction_raises_the_loss_more_than_random_ones():
    classifier = _classifier(seed=3)
    trainer = AdversarialEmbeddingTrainer(classifier, epsilon=0.5)
    mask = tf.constant(IDS != 0)
    e = tf.convert_to_tensor(classifier.get_layer("embedding")(IDS))
    with tf.GradientTape() as tape:
        tape.watch(e)
        loss = tf.reduce_sum(_loss(classifier, e, mask))
    r = trainer.perturbation(e, tape.gradient(loss, e), mask)
    base = _loss(classifier, e, mask).numpy()
    adversarial = _loss(classifier, e + r, mask).numpy()
    assert np.all(adversarial > base)
    for seed in range(5):  # random directions of the same size raise it less
        noise = trainer.perturbation(e, tf.random.stateless_normal(e.shape, (seed, 9)), mask)
        assert np.all(_loss(classifier, e + noise, mask).numpy() < adversarial)


def test_one_step_is_sgd_on_the_loss_plus_the_weighted_adversarial_loss():
    trainer = AdversarialEmbeddingTrainer(_classifier(), epsilon=0.3, adversarial_weight=0.5)
    reference = _classifier()  # the same initial weights
    for a, b in zip(trainer.model.weights, reference.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    lr = 0.1
    trainer.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy")
    trainer.train_on_batch(IDS, LABELS)

    # The formula, written out with one tape per loss on the reference copy.
    mask = tf.constant(IDS != 0)
    weights = reference.trainable_weights
    embedding = reference.get_layer("embedding")
    with tf.GradientTape() as tape:
        e = embedding(IDS)
        loss = tf.reduce_mean(_loss(reference, e, mask))
    *grads, g = tape.gradient(loss, weights + [e])
    rho = tf.sqrt(tf.reduce_sum(e * e * tf.cast(mask, e.dtype)[..., None], axis=(1, 2))
                  / tf.reduce_sum(tf.cast(mask, e.dtype), axis=1))
    r = 0.3 * rho[:, None, None] * g / tf.norm(tf.reshape(g, (len(IDS), -1)), axis=1)[:, None, None]
    with tf.GradientTape() as tape:
        loss_adv = tf.reduce_mean(_loss(reference, embedding(IDS) + r, mask))
    adv = tape.gradient(loss_adv, weights)
    assert float(loss_adv) > float(loss)
    for w, before, g1, g2 in zip(trainer.model.trainable_weights, weights, grads, adv):
        expected = before.numpy() - lr * (tf.convert_to_tensor(g1) + 0.5 * tf.convert_to_tensor(g2))
        np.testing.assert_allclose(w.numpy(), expected, atol=1e-6)


def test_fit_reports_both_losses_and_serves_through_the_classifier(tmp_path):
    classifier = _classifier(dropout=0.3, word_dropout=0.1, pooling="mean_max")
    trainer = AdversarialEmbeddingTrainer(classifier, epsilon=1.0)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                    metrics=["accuracy"])
    x = np.tile(IDS, (8, 1))
    y = np.tile(LABELS, (8, 1))
    before = [w.numpy().copy() for w in classifier.weights]
    history = trainer.fit(x, y, epochs=3, batch_size=6, validation_data=(x, y), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "adversarial_loss", "val_loss",
                                    "val_accuracy"}
    assert all(h >= 0 for h in history.history["adversarial_loss"])
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, classifier.weights))
    np.testing.assert_allclose(trainer.predict(x, verbose=0), classifier.predict(x, verbose=0))
    # Weights saved from the trainer load into a fresh trainer (and so into its classifier).
    trainer.save_weights(tmp_path / "t.weights.h5")
    fresh = AdversarialEmbeddingTrainer(_classifier(seed=5, dropout=0.3, word_dropout=0.1,
                                                    pooling="mean_max"))
    fresh.load_weights(tmp_path / "t.weights.h5")
    np.testing.assert_allclose(fresh.model.predict(x, verbose=0),
                               classifier.predict(x, verbose=0), atol=1e-6)
    config = trainer.get_config()
    assert config["epsilon"] == 1.0 and config["adversarial_weight"] == 1.0


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="epsilon"):
        AdversarialEmbeddingTrainer(_classifier(), epsilon=0)
    with pytest.raises(ValueError, match="adversarial_weight"):
        AdversarialEmbeddingTrainer(_classifier(), adversarial_weight=-1.0)
    ids = keras.Input((5,), dtype="int32")
    no_embedding = keras.Model(ids, keras.layers.Dense(1)(keras.ops.cast(ids, "float32")))
    with pytest.raises(ValueError, match="Embedding"):
        AdversarialEmbeddingTrainer(no_embedding)


def test_a_classifier_that_is_not_a_chain_is_refused():
    ids = keras.Input((None,), dtype="int32")
    e = keras.layers.Embedding(20, 4, mask_zero=True)(ids)
    a = keras.layers.GlobalAveragePooling1D()(e)
    b = keras.layers.GlobalMaxPooling1D()(e)
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match="chain"):
        AdversarialEmbeddingTrainer(model)


def test_a_model_with_embed_and_call_on_vectors_trains_too():
    from keras_seq.models.char_language_model import CharLanguageModel

    keras.utils.set_random_seed(0)
    lm = CharLanguageModel(vocabulary_size=12, cell="gru", hidden_dim=8, embedding_dim=4)
    ids = np.random.default_rng(0).integers(2, 12, size=(16, 9)).astype("int32")
    np.testing.assert_allclose(lm.call_on_vectors(lm.embed(ids)), lm(ids), atol=1e-6)
    trainer = AdversarialEmbeddingTrainer(lm, epsilon=0.5)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in lm.trainable_weights]
    history = trainer.fit(ids[:, :-1], ids[:, 1:], epochs=2, batch_size=8, verbose=0)
    assert history.history["adversarial_loss"][0] > history.history["loss"][0]
    assert all(not np.allclose(a, w.numpy()) for a, w in zip(before, lm.trainable_weights))
    np.testing.assert_allclose(trainer.predict(ids, verbose=0), lm.predict(ids, verbose=0))


def test_xla_compiled_step_matches_the_eager_one():
    results = []
    for jit in (False, True):
        trainer = AdversarialEmbeddingTrainer(_classifier(pooling="mean_max"), epsilon=0.5)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                        jit_compile=jit)
        trainer.fit(IDS, LABELS, epochs=2, batch_size=3, verbose=0)
        results.append([w.numpy() for w in trainer.model.weights])
    for eager, compiled in zip(*results):
        np.testing.assert_allclose(compiled, eager, atol=1e-5)


def test_mixed_bfloat16_training_runs_and_learns():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        classifier = _classifier(pooling="mean_max")
        trainer = AdversarialEmbeddingTrainer(classifier, epsilon=0.5)
        trainer.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
        history = trainer.fit(np.tile(IDS, (4, 1)), np.tile(LABELS, (4, 1)), epochs=5,
                              batch_size=6, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert classifier.get_layer("embedding").compute_dtype == "bfloat16"
    assert np.all(np.isfinite(history["loss"])) and np.all(np.isfinite(history["adversarial_loss"]))
    assert history["loss"][-1] < history["loss"][0]


def test_one_hot_inputs_are_perturbed_too_and_stateful_models_are_refused():
    from keras_seq.models.char_language_model import CharLanguageModel

    keras.utils.set_random_seed(1)
    lm = CharLanguageModel(vocabulary_size=12, cell="lstm", hidden_dim=8, embedding_dim=None)
    ids = np.random.default_rng(1).integers(2, 12, size=(8, 7)).astype("int32")
    lm(ids)
    trainer = AdversarialEmbeddingTrainer(lm, epsilon=0.5)
    trainer.compile(optimizer="adam",
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = trainer.fit(ids[:, :-1], ids[:, 1:], epochs=1, batch_size=4, verbose=0).history
    assert history["adversarial_loss"][0] > history["loss"][0]
    stateful = CharLanguageModel(vocabulary_size=12, cell="gru", hidden_dim=8, stateful=True)
    with pytest.raises(ValueError, match="stateful"):
        AdversarialEmbeddingTrainer(stateful)
