"""keras_seq.models: task models built from keras_seq.layers (keras + keras.ops, no TensorFlow)."""

from keras_seq.models.sentiment_classifier import build_sentiment_classifier
from keras_seq.models.sentiment_classifier import compile_sentiment_classifier
