"""keras_seq.metrics: sequence-level quality measures."""

from keras_seq.metrics.translation_metrics import corpus_bleu, exact_match
from keras_seq.metrics.caption_metrics import caption_bleu, caption_exact_match
from keras_seq.metrics.masked_lm_metrics import evaluate_masked_lm
from keras_seq.metrics.tagging_metrics import (
    MaskedTokenAccuracy, bio_to_spans, span_scores, tagging_report, token_accuracy)
