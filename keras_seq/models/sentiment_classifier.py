"""Seq2Vec sentiment classifier: Embedding -> stacked BiRNN -> mean-pooled BiRNN -> head."""

import keras

from keras_seq.layers import BidirectionalMeanPooledRNN, HashDropout

RNN_TYPES = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_sentiment_classifier(
    vocabulary_size,
    embedding_dim=128,
    rnn="lstm",
    hidden_dim=64,
    num_stacked=1,
    dropout=0.3,
    logits=False,
    name="sentiment_classifier",
    elmo=None,
    word_dropout=0.0,
    pooling="mean",
    dropout_class=None,
):
    """Builds the binary sentiment classifier over integer token ids (0 = padding).

    Architecture: `Embedding(mask_zero=True)` -> `num_stacked` x `Bidirectional(RNN,
    return_sequences=True)` -> `BidirectionalMeanPooledRNN(RNN)` (mean of [h_fwd; h_bwd] over
    the real steps) -> `Dropout` -> `Dense(1)`. The Keras mask from the embedding reaches
    every RNN, so padding changes nothing. `word_dropout` > 0 adds a `Dropout` with
    `noise_shape=(B, T, 1)` after the embedding: in training it zeroes whole word vectors (the
    word is unread, its step and mask stay), scaling the rest by `1 / (1 - word_dropout)`.
    With `elmo` (e.g. an `keras_seq.models.elmo_embedding.ElmoEmbedding` over a pretrained
    biLM of the same vocabulary) the input of the first RNN is [Embedding(x_t); ELMo_t]
    (Peters et al., 2018, concatenation at the input); the mask still comes from the ids. String
    preprocessing is not part of this model:
    it trains on ids (so the whole step can be XLA-compiled); see
    `keras_seq.export` for the raw-string model.

    Args:
        vocabulary_size: size of the vocabulary, padding and OOV ids included (int >= 3).
        embedding_dim: embedding width.
        rnn: "lstm" or "gru".
        hidden_dim: units of each RNN direction.
        num_stacked: bidirectional sequence layers below the pooled one (int >= 0).
        dropout: dropout rate after the embedding and before the head, in [0, 1).
        logits: if True the head outputs a logit; else a sigmoid probability.
        name: model name.
        elmo: None, or a layer mapping the ids `(batch, time)` to contextual embeddings
            `(batch, time, d)` with a mask (e.g. `ElmoEmbedding`); its output is
            concatenated to the word embedding.
        word_dropout: rate in [0, 1) at which whole words are dropped in training
            (0 = no such layer).
        pooling: "mean" (the lecture's mean of the states), "mean_max" (mean and
            element-wise maximum over the real steps, concatenated) or "last" (the final
            state of each direction, `[h→_T ; h←_1]`, at the real ends of the sequence; see
            `BidirectionalMeanPooledRNN`).
        dropout_class: the dropout layers' class (default `keras_seq.layers.HashDropout`,
            Keras's maths with masks that stay cheap under XLA on CPU; or
            `keras.layers.Dropout`).

    Returns:
        A functional `keras.Model` mapping `ids [batch, time] int32` to `[batch, 1]`.

    Example:

    >>> import numpy as np
    >>> model = build_sentiment_classifier(vocabulary_size=100, hidden_dim=8, embedding_dim=8)
    >>> model.predict(np.array([[5, 6, 7, 0, 0]]), verbose=0).shape
    (1, 1)
    """
    if not isinstance(vocabulary_size, int) or vocabulary_size < 3:
        raise ValueError("`vocabulary_size` must be an int >= 3, got "
                         f"vocabulary_size={vocabulary_size!r}.")
    if rnn not in RNN_TYPES:
        raise ValueError(f"`rnn` must be one of {sorted(RNN_TYPES)}, got rnn={rnn!r}.")
    for arg, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{arg}` must be a positive int, got {arg}={value!r}.")
    if not isinstance(num_stacked, int) or num_stacked < 0:
        raise ValueError(f"`num_stacked` must be an int >= 0, got num_stacked={num_stacked!r}.")
    for arg, value in (("dropout", dropout), ("word_dropout", word_dropout)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{arg}` must be in [0, 1), got {arg}={value!r}.")
    rnn_class = RNN_TYPES[rnn]
    dropout_class = dropout_class or HashDropout
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                               name="embedding")(ids)
    if elmo is not None:
        x = keras.layers.Concatenate(name="word_and_elmo")([x, elmo(ids)])
    if word_dropout:
        x = dropout_class(word_dropout, noise_shape=(None, None, 1),
                          name="word_dropout")(x)  # (B, T, D), one draw per word
    x = dropout_class(dropout, name="embedding_dropout")(x)
    for i in range(num_stacked):
        x = keras.layers.Bidirectional(
            rnn_class(hidden_dim, return_sequences=True), name=f"bidirectional_{rnn}_{i}"
        )(x)
    x = BidirectionalMeanPooledRNN(rnn_class(hidden_dim), pooling=pooling,
                                   name=f"mean_pooled_bi{rnn}")(x)
    x = dropout_class(dropout, name="head_dropout")(x)
    out = keras.layers.Dense(
        1, activation=None if logits else "sigmoid", dtype="float32", name="head"
    )(x)
    return keras.Model(ids, out, name=name)


def compile_sentiment_classifier(model, learning_rate=1e-3, jit_compile=False, logits=False,
                                 global_clipnorm=1.0, ema_momentum=None):
    """Compiles `model` with the defaults of the application (in place; returns it).

    Args:
        model: a model from `build_sentiment_classifier`.
        learning_rate: Adam learning rate (a float or a `keras.optimizers.schedules` schedule).
        jit_compile: XLA-compile the train/eval/predict steps (bool or "auto").
        logits: must match the model's `logits` argument.
        global_clipnorm: clip the whole gradient, all variables together, to this global
            norm: g <- g * min(1, c / ||g||) with ||g||^2 the sum over every variable
            (Keras's `global_clipnorm`; Keras's `clipnorm` would clip each variable's
            gradient on its own). None = off. The IMDB application and the benchmarks use
            the default, 1.0.
        ema_momentum: None (off) or the momentum of an exponential moving average of the
            weights that Adam keeps beside them (`use_ema`); `fit` copies the average into
            the model when it ends. Pair it with `keras.callbacks.SwapEMAWeights` to
            validate and checkpoint the average during training.

    Returns:
        The compiled `model`.
    """
    if global_clipnorm is not None and not (
            isinstance(global_clipnorm, (int, float)) and global_clipnorm > 0):
        raise ValueError("`global_clipnorm` must be None or a number > 0, got "
                         f"global_clipnorm={global_clipnorm!r}.")
    threshold = 0.0 if logits else 0.5
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate,
                                        global_clipnorm=global_clipnorm,
                                        use_ema=bool(ema_momentum),
                                        ema_momentum=ema_momentum or 0.99),
        loss=keras.losses.BinaryCrossentropy(from_logits=logits),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold)],
        jit_compile=jit_compile,
    )
    return model
