"""keras_seq.data: loaders, text standardization, generated corpora and tf.data pipelines (TF only)."""
