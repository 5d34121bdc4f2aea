"""keras_seq.losses: training losses (backend-neutral, `keras.ops` only)."""

from keras_seq.losses.label_smoothed_sparse_crossentropy import LabelSmoothedSparseCrossentropy

__all__ = ["LabelSmoothedSparseCrossentropy"]
