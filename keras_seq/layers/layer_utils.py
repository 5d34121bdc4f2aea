"""Small helpers shared by the layers (keras only)."""

import keras


def fresh_initializers(kernel_initializer, bias_initializer):
    """New initializer objects for one sub-layer (a shared seeded one would repeat values).

    Returns:
        dict with `kernel_initializer` and `bias_initializer`, ready to pass as kwargs.
    """
    return dict(
        kernel_initializer=keras.initializers.get(
            keras.initializers.serialize(kernel_initializer)
        ),
        bias_initializer=keras.initializers.get(keras.initializers.serialize(bias_initializer)),
    )
