"""Adversarial training of word embeddings (Miyato, Dai & Goodfellow, 2017), TensorFlow only."""

import warnings

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class AdversarialEmbeddingTrainer(keras.Model):
    """Trains a text classifier on its word vectors and on adversarially perturbed ones.

    The classifier must be a functional model `ids -> Embedding(mask_zero=True) -> f -> y`
    whose layers after the embedding form a chain (the models of
    `keras_seq.models.build_sentiment_classifier` without ELMo). Each training step
    (Miyato et al., 2017, "Adversarial training methods for semi-supervised text
    classification"):

        e     = Embedding(ids)                               # (B, T, D), the word vectors
        L     = loss(y, f(e))                                # the usual loss
        g     = ∂L/∂e                                        # (B, T, D), one backward pass
        ρ_b   = sqrt(mean_t ||e_bt||²)   over the real words of example b
        r_b   = ε · ρ_b · g_b / ||g_b||₂                      # the worst small change of e_b
        L_adv = loss(y, f(e + stop_gradient(r)))
        θ    ← θ - optimizer(∇θ (L + λ · L_adv))

    `r_b` moves the whole review's word vectors, by a total of ε typical word-vector
    lengths, in the direction that raises the loss fastest; training against it makes the
    classifier's decision smooth around every training review. Scaling by ρ_b makes ε
    relative: the paper normalises the embeddings instead (ε = 5 with 256-wide unit-variance
    vectors, about 0.3 of a word-vector length). Padding gets no perturbation (its gradient
    is zero: the mask hides it from every layer).

    The step costs two forward and two backward passes (the gradient of `L` with respect to
    the weights and to `e` comes from one backward pass). Validation, `evaluate` and
    `predict` run the classifier alone. The reported `loss` is `L` (comparable with runs
    without this trainer); `adversarial_loss` is `L_adv`. The trainer's weights are the
    classifier's: export and serve `trainer.classifier`.

    TensorFlow backend only (the step uses `tf.GradientTape`; the classifier itself stays
    backend-agnostic).

    Args:
        classifier: the functional classifier described above.
        epsilon: ε, the size of the perturbation in typical word-vector lengths (> 0).
        adversarial_weight: λ, the weight of `L_adv` (> 0).
        **kwargs: base `keras.Model` arguments.

    Call arguments:
        inputs: int token ids `(batch, time)`, 0 = padding.
        training: Python bool, passed to the classifier.

    Returns:
        The classifier's output for `inputs`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.models import build_sentiment_classifier
    >>> classifier = build_sentiment_classifier(vocab_size=50, embedding_dim=8, units=4)
    >>> trainer = AdversarialEmbeddingTrainer(classifier, epsilon=0.5)
    >>> trainer.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> ids = np.random.default_rng(0).integers(1, 50, size=(8, 6)).astype("int32")
    >>> history = trainer.fit(ids, np.ones((8, 1)), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'adversarial_loss', 'loss']
    """

    def __init__(self, classifier, epsilon=0.5, adversarial_weight=1.0, **kwargs):
        if keras.backend.backend() != "tensorflow":
            raise ValueError("AdversarialEmbeddingTrainer needs the TensorFlow backend, got "
                             f"KERAS_BACKEND={keras.backend.backend()!r}.")
        super().__init__(**kwargs)
        if isinstance(classifier, dict):
            classifier = keras.saving.deserialize_keras_object(classifier)
        for arg, value in (("epsilon", epsilon), ("adversarial_weight", adversarial_weight)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{arg}` must be a number > 0, got {arg}={value!r}.")
        layers = getattr(classifier, "layers", None) or []
        if (len(layers) < 3 or not isinstance(layers[0], keras.layers.InputLayer)
                or not isinstance(layers[1], keras.layers.Embedding)):
            raise ValueError(
                "`classifier` must be a functional model whose first layer after its input "
                "is a keras.layers.Embedding, followed by a chain of layers; got "
                f"{type(classifier).__name__} with layers "
                f"{[type(layer).__name__ for layer in layers]}.")
        self.classifier = classifier
        self.epsilon = float(epsilon)
        self.adversarial_weight = float(adversarial_weight)
        self._embedding = layers[1]
        # f: the classifier's own layers after the embedding, applied to word vectors (shared
        # weights, so nothing is copied).
        vectors = keras.Input(shape=(None, self._embedding.output_dim), name="word_vectors")
        x = vectors
        for previous, layer in zip(layers[1:], layers[2:]):
            # Its first call is the classifier's own: it must read the layer before it only
            # (besides the mask, which the graph derives from the ids with plain ops).
            parents = [node.operation for node in layer._inbound_nodes[0].parent_nodes
                       if isinstance(node.operation, keras.layers.Layer)]
            if parents != [previous]:
                raise ValueError(
                    f"`classifier`'s layers after the embedding must form a simple chain; "
                    f"layer {layer.name!r} reads {[p.name for p in parents]}, not just "
                    f"{previous.name!r}.")
            x = layer(x)
        self._head = keras.Model(vectors, x, name=f"{classifier.name}_after_embedding")
        self.adversarial_loss_tracker = keras.metrics.Mean(name="adversarial_loss")
        self.built = classifier.built  # its weights are the (built) classifier's

    def call(self, inputs, training=None):
        return self.classifier(inputs, training=training)

    def _forward_from_vectors(self, vectors, mask, training):
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
            vectors = self._embedding(x, training=True)  # (B, T, D)
            y_pred = self._forward_from_vectors(vectors, mask, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=True)
            self._loss_tracker.update_state(_unscaled(loss), sample_weight=batch)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, weights + [vectors])
        gradients, vector_gradient = gradients[:-1], gradients[-1]
        r = self.perturbation(vectors, vector_gradient, mask)

        with tf.GradientTape() as tape:
            vectors = self._embedding(x, training=True)
            y_adv = self._forward_from_vectors(vectors + r, mask, training=True)
            loss_adv = self._compute_loss(x=x, y=y, y_pred=y_adv,
                                          sample_weight=sample_weight, training=True)
            self.adversarial_loss_tracker.update_state(_unscaled(loss_adv), sample_weight=batch)
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
        config.update(classifier=keras.saving.serialize_keras_object(self.classifier),
                      epsilon=self.epsilon, adversarial_weight=self.adversarial_weight)
        return config


def _unscaled(loss):
    from keras.src.losses import loss as loss_module

    return loss_module.unscale_loss_for_distribution(loss)


def _add_gradients(a, b):
    """a + b for gradients that may be `tf.IndexedSlices` (an embedding's) or None."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, tf.IndexedSlices) or isinstance(b, tf.IndexedSlices):
        return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
    return a + b
