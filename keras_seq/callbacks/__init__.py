"""keras_seq.callbacks: TensorBoard extras (learning rate, text samples), resumable backups."""

from keras_seq.callbacks.learning_rate_logger import LearningRateLogger
from keras_seq.callbacks.resumable_backup import ResumableBackupAndRestore
from keras_seq.callbacks.sample_predictions_text import SamplePredictionsText
from keras_seq.callbacks.attention_heatmaps import AttentionHeatmaps, render_attention_heatmap
from keras_seq.callbacks.training_time_budget import TrainingTimeBudget
from keras_seq.callbacks.caption_samples import (
    CaptionSamples, render_attention_over_image, render_captioned_images)
from keras_seq.callbacks.bidirectional_lm_logger import (
    BidirectionalLMLogger, most_likely_neighbours)
from keras_seq.callbacks.forecast_evaluation import ForecastEvaluation
from keras_seq.callbacks.tagged_samples import TaggedSamples, render_tagged_text
from keras_seq.callbacks.fill_mask_samples import FillMaskSamples
