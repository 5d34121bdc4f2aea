"""keras_seq.metrics: sequence-level quality measures."""

from keras_seq.metrics.translation_metrics import corpus_bleu, exact_match
