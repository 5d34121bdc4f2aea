"""Scaling out on `tf.distribute`: the training cluster and the Keras fixes it needs.

TensorFlow-only (like `keras_seq.data` and `keras_seq.export`); model code never imports it.
"""

from keras_seq.distribution.keras_distribute_fixes import apply_keras_distribute_fixes
from keras_seq.distribution.training_cluster import (
    STRATEGIES, TrainingCluster, current_cluster, parse_tf_config)

__all__ = ["STRATEGIES", "TrainingCluster", "apply_keras_distribute_fixes",
           "current_cluster", "parse_tf_config"]
