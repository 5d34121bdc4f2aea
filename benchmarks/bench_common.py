"""Shared by the benchmark scripts: a description of the machine a figure was measured on."""

import os
import platform


def machine_info():
    """Python/TF/Keras versions, CPU and GPU counts and the platform, for the JSON outputs."""
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(),
            "gpus": len(tf.config.list_physical_devices("GPU")), "platform": platform.platform()}
