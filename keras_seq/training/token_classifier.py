"""The one compile recipe of every model that predicts token ids."""

import keras

from keras_seq.losses import LabelSmoothedSparseCrossentropy


def compile_token_classifier(model, learning_rate, total_steps, jit_compile=False,
                             label_smoothing=0.0, ema_momentum=None, max_warmup_steps=1000,
                             clipnorm=1.0):
    """Compiles a model whose logits predict token ids (translator, tagger, GPT, captioner).

    Adam whose learning rate warms up linearly to `learning_rate` over
    `min(max_warmup_steps, total_steps // 10)` steps, then follows a cosine decay to 0 at
    `total_steps`; sparse cross-entropy on the logits (label-smoothed when
    `label_smoothing > 0`); token accuracy weighted by the dataset's padding weights.

    Args:
        model: a Keras model returning logits `(..., vocabulary_size)`.
        learning_rate: the peak learning rate (> 0).
        total_steps: optimizer steps of the whole training (>= 1).
        jit_compile: XLA for the train step.
        label_smoothing: epsilon of `LabelSmoothedSparseCrossentropy` (0 = plain).
        ema_momentum: keep an exponential moving average of the weights in the optimizer
            (`fit` copies it into the model when training ends); None = off.
        max_warmup_steps: the cap on the warm-up.
        clipnorm: each variable's gradient is clipped to this norm.

    Returns:
        The model, compiled.

    Example:

    >>> model = keras.Sequential([keras.Input((3,), dtype="int32"),
    ...                           keras.layers.Embedding(7, 4), keras.layers.Dense(7)])
    >>> compile_token_classifier(model, 1e-3, total_steps=10).optimizer.clipnorm
    1.0
    """
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got learning_rate={learning_rate!r}.")
    total_steps = int(total_steps)
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be >= 1, got total_steps={total_steps!r}.")
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total_steps, warmup_target=learning_rate,
        warmup_steps=min(max_warmup_steps, max(1, total_steps // 10)))
    smoothing = float(label_smoothing or 0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=clipnorm, use_ema=bool(ema_momentum),
                                        ema_momentum=ema_momentum or 0.99),
        loss=(LabelSmoothedSparseCrossentropy(smoothing) if smoothing
              else keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile)
    return model
