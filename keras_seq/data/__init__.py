"""keras_seq.data: loaders, text standardization, generated corpora, tf.data pipelines (TF only)."""
