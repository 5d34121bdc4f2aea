"""keras_seq.training: training procedures beyond `fit`'s plain step (TensorFlow only)."""

from keras_seq.training.adversarial_embedding_trainer import AdversarialEmbeddingTrainer

__all__ = ["AdversarialEmbeddingTrainer"]
