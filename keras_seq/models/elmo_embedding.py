"""ELMo contextual embeddings of a pretrained biLM as a layer of a task model."""

import keras
from keras import ops

from keras_seq.layers.scalar_mix import ScalarMix
from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel


@keras.saving.register_keras_serializable(package="keras_seq")
class ElmoEmbedding(keras.layers.Layer):
    """Token ids -> task-specific ELMo vectors from a (pretrained) `BidirectionalLanguageModel`.

    ELMo^task_t = γ^task Σ_j softmax(s^task)_j h_{t,j}, with h_{t,j} the biLM's L+1 layer
    outputs (`BidirectionalLanguageModel.layer_stack`) and s^task, γ^task learned by the task
    (a fresh `ScalarMix`). With `fine_tune=False` the biLM is a frozen feature extractor:
    its weights are not trainable and it always runs in inference mode (no dropout); with
    `fine_tune=True` its weights train with the task.

    Args:
        language_model: a `BidirectionalLanguageModel` (or its serialized config).
        fine_tune: train the biLM's weights with the task.
        layer_norm: normalise each biLM layer before mixing (see `ScalarMix`).
        initial_gamma: initial γ^task (see `ScalarMix`).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        token_ids: int `(batch, time)`, 0 = padding, ids of the biLM's vocabulary.
        training: Python bool.

    Returns:
        A float tensor `(batch, time, 2 * units)` (zeros at padding) with the Keras mask
        `token_ids != 0`.

    Example:

    >>> import numpy as np
    >>> lm = BidirectionalLanguageModel(30, embedding_dim=4, hidden_dim=4, num_layers=1)
    >>> elmo = ElmoEmbedding(lm)
    >>> tuple(elmo(np.array([[3, 4, 0]], "int32")).shape), len(elmo.trainable_weights)
    ((1, 3, 8), 2)
    """

    def __init__(self, language_model, fine_tune=False, layer_norm=False, initial_gamma=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(language_model, dict):
            language_model = keras.saving.deserialize_keras_object(language_model)
        if not isinstance(language_model, BidirectionalLanguageModel):
            raise ValueError("`language_model` must be a BidirectionalLanguageModel, got "
                             f"{type(language_model).__name__}.")
        self.language_model = language_model
        self.fine_tune = bool(fine_tune)
        self.layer_norm = bool(layer_norm)
        self.initial_gamma = float(initial_gamma)
        self.language_model.trainable = self.fine_tune
        self.supports_masking = True
        self.output_dim = 2 * language_model.hidden_dim

    def build(self, input_shape):
        if not self.language_model.built:
            self.language_model.build((None, None))
        self.task_mix = ScalarMix(self.language_model.num_layers + 1,
                                  layer_norm=self.layer_norm, initial_gamma=self.initial_gamma,
                                  dtype=self.dtype_policy,
                                  name="task_scalar_mix")
        self.task_mix.build((None, self.language_model.num_layers + 1, None, self.output_dim))
        self.built = True

    def call(self, token_ids, training=None):
        stack, mask = self.language_model.layer_stack(
            token_ids, training=bool(training) and self.fine_tune)  # (B, L+1, T, 2H)
        mixed = self.task_mix(stack, padding_mask=mask)  # (B, T, 2H)
        return mixed * ops.cast(mask, mixed.dtype)[..., None]

    def compute_mask(self, token_ids, mask=None):
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(language_model=keras.saving.serialize_keras_object(self.language_model),
                      fine_tune=self.fine_tune, layer_norm=self.layer_norm,
                      initial_gamma=self.initial_gamma)
        return config
