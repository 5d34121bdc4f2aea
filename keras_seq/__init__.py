"""keras-seq: neural networks on sequences for Keras 3."""

__version__ = "0.1.0"
