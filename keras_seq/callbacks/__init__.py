"""keras_seq.callbacks: TensorBoard extras (learning rate, text samples of predictions)."""

from keras_seq.callbacks.learning_rate_logger import LearningRateLogger
from keras_seq.callbacks.sample_predictions_text import SamplePredictionsText
