"""Adversarial training of word embeddings (Miyato, Dai & Goodfellow, 2017), TensorFlow only."""

import warnings

import keras
import tensorflow as tf
from keras import ops

from keras_seq import compat


@keras.saving.register_keras_serializable(package="keras_seq")
class AdversarialEmbeddingTrainer(keras.Model):
    """Trains a model on its input vectors and on adversarially perturbed ones.

    Adversarial training of embeddings (Miyato et al., 2017, "Adversarial training methods
    for semi-supervised text classification"). `model` is either

    - a functional model `ids -> Embedding(mask_zero=True) -> f -> y` whose layers after the
      embedding form a chain (the classifiers of
      `keras_seq.models.build_sentiment_classifier` without ELMo); `f` gets the mask; or
    - any model with `embed(ids)` (the vectors h^0) and `call_on_vectors(vectors,
      training=...)` (the rest of its `call`), e.g.
      `keras_seq.models.char_language_model.CharLanguageModel`.

    Each training step, with `e = embed(ids)` and `f` the rest of the model:

        L     = loss(y, f(e))                                # the usual loss
        g     = ∂L/∂e                                        # (B, T, D), one backward pass
        ρ_b   = sqrt(mean_t ||e_bt||²)   over the real tokens of example b (id != 0)
        r_b   = ε · ρ_b · g_b / ||g_b||₂                      # the worst small change of e_b
        L_adv = loss(y, f(e + stop_gradient(r)))
        θ    ← θ - optimizer(∇θ (L + λ · L_adv))

    `r_b` moves the whole sequence's vectors, by a total of ε typical vector lengths, in the
    direction that raises the loss fastest; training against it makes the model's output
    smooth around every training example. Scaling by ρ_b makes ε relative: the paper
    normalises the embeddings instead (ε = 5 with 256-wide unit-variance vectors, about 0.3 of
    a word-vector length). Padding (id 0) gets no perturbation.

    The step costs two forward and two backward passes (the gradient of `L` with respect to
    the weights and to `e` comes from one backward pass). Validation, `evaluate` and
    `predict` run the model alone. The reported `loss` is `L` (comparable with runs without
    this trainer); `adversarial_loss` is `L_adv`. The trainer's weights are the model's:
    export and serve `trainer.model`.

    TensorFlow backend only (the step uses `tf.GradientTape`; the model itself stays
    backend-agnostic).

    Args:
        model: the model to train, as described above; not stateful (the step runs it
            twice on the same batch).
        epsilon: ε, the size of the perturbation in typical vector lengths (> 0).
        adversarial_weight: λ, the weight of `L_adv` (> 0).
        **kwargs: base `keras.Model` arguments.

    Call arguments:
        inputs: int token ids `(batch, time)`, 0 = padding.
        training: Python bool, passed to the model.

    Returns:
        The model's output for `inputs`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.models import build_sentiment_classifier
    >>> classifier = build_sentiment_classifier(vocabulary_size=50, embedding_dim=8, hidden_dim=4)
    >>> trainer = AdversarialEmbeddingTrainer(classifier, epsilon=0.5)
    >>> trainer.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> ids = np.random.default_rng(0).integers(1, 50, size=(8, 6)).astype("int32")
    >>> history = trainer.fit(ids, np.ones((8, 1)), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'adversarial_loss', 'loss']
    """

    def __init__(self, model, epsilon=0.5, adversarial_weight=1.0, **kwargs):
        if keras.backend.backend() != "tensorflow":
            raise ValueError("AdversarialEmbeddingTrainer needs the TensorFlow backend, got "
                             f"KERAS_BACKEND={keras.backend.backend()!r}.")
        super().__init__(**kwargs)
        if isinstance(model, dict):
            model = keras.saving.deserialize_keras_object(model)
        for arg, value in (("epsilon", epsilon), ("adversarial_weight", adversarial_weight)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{arg}` must be a number > 0, got {arg}={value!r}.")
        if getattr(model, "stateful", False):
            raise ValueError(
                "`model` is stateful: its two forward passes per step would advance the "
                "carried state twice. Train it with stateful=False (or without this trainer).")
        self.model = model
        self.epsilon = float(epsilon)
        self.adversarial_weight = float(adversarial_weight)
        if callable(getattr(model, "embed", None)) and callable(
                getattr(model, "call_on_vectors", None)):
            self._embed = model.embed
            self._head = None
        else:
            self._embed, self._head = _split_after_embedding(model)
        self.adversarial_loss_tracker = keras.metrics.Mean(name="adversarial_loss")
        self.built = model.built  # its weights are the (built) model's

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def _forward_from_vectors(self, vectors, mask, training):
        if self._head is None:
            return self.model.call_on_vectors(vectors, training=training)
        # A plain tensor (no Keras mask attached): the mask is passed explicitly. The head
        # consumes it (pooling) and returns none, which is all Keras's warning is about.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not support masking.*")
            return self._head(tf.identity(vectors), mask=mask, training=training)

    def perturbation(self, vectors, gradient, mask):
        """r = ε · ρ · g / ||g||₂ per example (see the class docstring); no gradient flows.

        Args:
            vectors: the word vectors `e`, `(batch, time, dim)`.
            gradient: `∂L/∂e`, same shape.
            mask: bool `(batch, time)`, True = real word.

        Returns:
            The perturbation, `(batch, time, dim)`, in the dtype of `vectors`.
        """
        e = ops.cast(vectors, "float32")
        g = ops.cast(gradient, "float32")
        real = ops.cast(mask, "float32")[..., None]  # (B, T, 1)
        g = g * real
        words = ops.maximum(ops.sum(real, axis=(1, 2)), 1.0)  # (B,)
        rms = ops.sqrt(ops.sum(ops.square(e) * real, axis=(1, 2)) / words)  # ρ_b, (B,)
        g_norm = ops.sqrt(ops.sum(ops.square(g), axis=(1, 2)))  # ||g_b||, (B,)
        scale = self.epsilon * rms / (g_norm + 1e-12)  # (B,)
        r = g * scale[:, None, None]  # (B, T, D)
        return ops.stop_gradient(ops.cast(r, vectors.dtype))

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch = tf.shape(x)[0]
        mask = tf.not_equal(x, 0)
        weights = self.trainable_weights
        with tf.GradientTape() as tape:
            vectors = self._embed(x)  # (B, T, D)
            tape.watch(vectors)  # (one-hot vectors come from no variable)
            y_pred = self._forward_from_vectors(vectors, mask, training=True)
            loss = compat.compute_loss(self, x=x, y=y, y_pred=y_pred,
                                       sample_weight=sample_weight, training=True)
            compat.loss_tracker(self).update_state(
                compat.unscale_loss_for_distribution(loss), sample_weight=batch)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, weights + [vectors])
        gradients, vector_gradient = gradients[:-1], gradients[-1]
        r = self.perturbation(vectors, vector_gradient, mask)

        with tf.GradientTape() as tape:
            vectors = self._embed(x)
            y_adv = self._forward_from_vectors(vectors + r, mask, training=True)
            loss_adv = compat.compute_loss(self, x=x, y=y, y_pred=y_adv,
                                           sample_weight=sample_weight, training=True)
            self.adversarial_loss_tracker.update_state(
                compat.unscale_loss_for_distribution(loss_adv), sample_weight=batch)
            scaled_adv = self.optimizer.scale_loss(self.adversarial_weight * loss_adv)
        adv_gradients = tape.gradient(scaled_adv, weights)
        self.optimizer.apply_gradients(
            zip([_add_gradients(a, b) for a, b in zip(gradients, adv_gradients)], weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        logs = super().test_step(data)
        logs.pop("adversarial_loss", None)  # training only: validation has no perturbation
        return logs

    def get_config(self):
        config = super().get_config()
        config.update(model=keras.saving.serialize_keras_object(self.model),
                      epsilon=self.epsilon, adversarial_weight=self.adversarial_weight)
        return config


def _split_after_embedding(model):
    """(embedding layer, functional f) of a model `ids -> Embedding -> chain -> y`."""
    layers = getattr(model, "layers", None) or []
    if (len(layers) < 3 or not isinstance(layers[0], keras.layers.InputLayer)
            or not isinstance(layers[1], keras.layers.Embedding)):
        raise ValueError(
            "`model` must have `embed` and `call_on_vectors` methods, or be a functional "
            "model whose first layer after its input is a keras.layers.Embedding, followed "
            f"by a chain of layers; got {type(model).__name__} with layers "
            f"{[type(layer).__name__ for layer in layers]}.")
    embedding = layers[1]
    # f: the model's own layers after the embedding, applied to vectors (shared weights, so
    # nothing is copied).
    vectors = keras.Input(shape=(None, embedding.output_dim), name="input_vectors")
    x = vectors
    for previous, layer in zip(layers[1:], layers[2:]):
        # Its first call is the model's own: it must read the layer before it only (besides
        # the mask, which the graph derives from the ids with plain ops).
        parents = [op for op in compat.inbound_parent_layers(layer)
                   if isinstance(op, keras.layers.Layer)]
        if parents != [previous]:
            raise ValueError(
                f"`model`'s layers after the embedding must form a simple chain; layer "
                f"{layer.name!r} reads {[p.name for p in parents]}, not just "
                f"{previous.name!r}.")
        x = layer(x)
    return embedding, keras.Model(vectors, x, name=f"{model.name}_after_embedding")


def _add_gradients(a, b):
    """a + b for gradients that may be `tf.IndexedSlices` (an embedding's) or None."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, tf.IndexedSlices) or isinstance(b, tf.IndexedSlices):
        return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
    return a + b
