"""keras_seq.export: SavedModel modules that take raw strings (TensorFlow only)."""
