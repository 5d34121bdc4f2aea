"""The `imdb` task: review strings in, sentiment label and probability out.

One preprocessor (`ImdbPreprocessor`: standardise, split on whitespace, look up the
vocabulary, cut to `max_sequence_length`) serves training (inside `tf.data`), `predict` and
the exported SavedModel.
"""

import numpy as np
import tensorflow as tf

import keras
from keras_seq.data.pipeline import token_id_dataset
from keras_seq.data.text import REVIEW_STANDARDIZERS
from keras_seq.tasks.task import Task, text_tensor

PAD, OOV = "", "[UNK]"


class ImdbPreprocessor:
    """Raw review strings → token ids (0 = padding, 1 = out of vocabulary).

    `ids = lookup(split(standardize(text)))[:max_sequence_length]`, with `standardize` the
    review standardisation (`punctuation="strip"`: lower case, HTML breaks and punctuation
    to spaces; `"marks"`: "!" and "?" stay as tokens).

    Args:
        vocabulary: the tokens, starting with the padding token "" and "[UNK]" (as
            `TextVectorization.get_vocabulary()` returns them).
        max_sequence_length: reviews are cut to their first this many tokens.
        punctuation: "strip" or "marks".

    Call arguments:
        texts: `tf.string [B]`.

    Returns:
        `tf.RaggedTensor` int64 `[B, None]` of ids (`dense` gives int32 `[B, T >= 1]`).

    Example:

    >>> p = ImdbPreprocessor.build_from_texts(["a great movie", "a bad film"])
    >>> p.dense(["A zebra!", ""]).numpy().tolist()  # "a" is the most frequent token
    [[2, 1], [0, 0]]
    """

    def __init__(self, vocabulary, max_sequence_length=1000, punctuation="strip"):
        vocabulary = [str(token) for token in vocabulary]
        if len(vocabulary) < 3 or vocabulary[:2] != [PAD, OOV]:
            raise ValueError("`vocabulary` must start with the padding token '' and '[UNK]' "
                             f"and hold a word, got {vocabulary[:3]!r}.")
        if not isinstance(max_sequence_length, int) or max_sequence_length <= 0:
            raise ValueError("`max_sequence_length` must be a positive int, got "
                             f"max_sequence_length={max_sequence_length!r}.")
        if punctuation not in REVIEW_STANDARDIZERS:
            raise ValueError(f"`punctuation` must be one of {sorted(REVIEW_STANDARDIZERS)}, "
                             f"got punctuation={punctuation!r}.")
        self.max_sequence_length = max_sequence_length
        self.punctuation = punctuation
        self.vectorizer = keras.layers.TextVectorization(
            vocabulary=vocabulary[2:], standardize=REVIEW_STANDARDIZERS[punctuation],
            ragged=True)

    @classmethod
    def build_from_texts(cls, texts, vocabulary_size=25000, max_sequence_length=1000,
                         punctuation="strip", log=None):
        """Learns the `vocabulary_size` most frequent tokens of `texts` (padding, OOV included)."""
        if not isinstance(vocabulary_size, int) or vocabulary_size < 3:
            raise ValueError("`vocabulary_size` must be an int >= 3, got "
                             f"vocabulary_size={vocabulary_size!r}.")
        texts = text_tensor(texts, "texts")
        if log:
            log(f"Learning a vocabulary of {vocabulary_size:,} tokens from "
                f"{int(texts.shape[0]):,} texts...")
        learner = keras.layers.TextVectorization(
            max_tokens=vocabulary_size, standardize=REVIEW_STANDARDIZERS.get(punctuation),
            ragged=True)
        learner.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
        return cls(learner.get_vocabulary(), max_sequence_length, punctuation)

    @property
    def vocabulary(self):
        return [str(t) for t in self.vectorizer.get_vocabulary()]

    @property
    def vocabulary_size(self):
        return self.vectorizer.vocabulary_size()

    def __call__(self, texts):
        return self.vectorizer(texts)[:, : self.max_sequence_length]

    def dense(self, texts):
        """int32 `[B, T]` ids padded with 0, at least one step (an empty batch of words)."""
        ids = self(text_tensor(texts, "texts"))
        dense = ids.to_tensor(default_value=0)
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])
        return tf.cast(dense, tf.int32)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "max_sequence_length": self.max_sequence_length,
                "punctuation": self.punctuation}


class ImdbClassifier(Task):
    """Sentiment of raw reviews: `ImdbPreprocessor` + the mean-pooled BiRNN classifier.

    The network is `keras_seq.models.build_sentiment_classifier` (ids → p(positive)); `fit`
    trains it on raw strings, with the application's defaults (Adam, cosine decay,
    global-norm clipping, adversarial training of the word vectors when `adversarial` > 0).

    Args:
        network: the classifier (ids `[B, T]` → probabilities `[B, 1]`).
        preprocessor: an `ImdbPreprocessor`.
        labels: the names of class 0 and class 1.
        adversarial: epsilon of adversarial training (Miyato et al., 2017); 0 = off.
        adversarial_weight: weight of the adversarial loss.

    Example:

    >>> texts = ["a great fun movie", "a bad dull movie"] * 16
    >>> labels = [1, 0] * 16
    >>> task = ImdbClassifier.from_texts(texts, labels, embedding_dim=8, hidden_dim=4,
    ...                                  adversarial=0.0)
    >>> _ = task.fit(texts, labels, epochs=1, verbose=0)
    >>> sorted(task.predict(["great fun"]))
    ['label', 'probability']
    """

    stem = "imdb"

    def __init__(self, network, preprocessor, labels=("negative", "positive"),
                 adversarial=0.0, adversarial_weight=1.0):
        if isinstance(preprocessor, dict):
            preprocessor = ImdbPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        if len(labels) != 2:
            raise ValueError(f"`labels` must hold 2 names, got labels={labels!r}.")
        if adversarial < 0 or adversarial_weight <= 0:
            raise ValueError("`adversarial` must be >= 0 and `adversarial_weight` > 0, got "
                             f"{adversarial!r} and {adversarial_weight!r}.")
        self.labels = tuple(str(label) for label in labels)
        self.adversarial = float(adversarial)
        self.adversarial_weight = float(adversarial_weight)
        self.bucket = True

    @classmethod
    def from_texts(cls, texts, labels=None, *, vocabulary_size=25000, max_sequence_length=1000,
                   punctuation="strip", embedding_dim=128, rnn="lstm", hidden_dim=64,
                   num_stacked=0, dropout=0.5, word_dropout=0.2, pooling="mean_max",
                   adversarial=0.5, adversarial_weight=1.0, log=None):
        """An untrained task with the application's defaults; learns the vocabulary of `texts`.

        `labels` is accepted (and ignored) so that `from_texts(texts, labels)` reads like
        `fit(texts, labels)`; the architecture arguments are those of
        `build_sentiment_classifier` (`hidden_dim` = units per RNN direction).
        """
        from keras_seq.models import build_sentiment_classifier

        preprocessor = ImdbPreprocessor.build_from_texts(
            texts, vocabulary_size, max_sequence_length, punctuation, log=log)
        network = build_sentiment_classifier(
            vocabulary_size=preprocessor.vocabulary_size, embedding_dim=embedding_dim, rnn=rnn,
            hidden_dim=hidden_dim, num_stacked=num_stacked, dropout=dropout,
            word_dropout=word_dropout, pooling=pooling)
        return cls(network, preprocessor, adversarial=adversarial,
                   adversarial_weight=adversarial_weight)

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `(ids [B, T] int32, labels [B] float32)`; similar lengths share a batch."""
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a tf.data.Dataset of "
                                 "(text, label) pairs.")
            data = x.map(lambda text, label: (self.preprocessor.dense(text),
                                              tf.cast(label, tf.float32)))
            return data.prefetch(tf.data.AUTOTUNE), None
        texts = text_tensor(x)
        if y is None:
            raise ValueError("`y` (the 0/1 labels of `x`) is required.")
        labels = np.asarray(y, dtype="float32").reshape(-1)
        if len(labels) != int(texts.shape[0]) or not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError(f"`y` must hold one 0/1 label per text: {int(texts.shape[0])} "
                             f"texts, got {len(labels)} labels with values "
                             f"{sorted(set(labels.tolist()))[:5]}.")
        return token_id_dataset(self.preprocessor(texts), labels, batch_size, shuffle=shuffle,
                                seed=seed, bucket=self.bucket,
                                max_length=self.preprocessor.max_sequence_length), None

    def compile(self, total_steps=1, learning_rate=1e-3, lr_schedule="cosine",
                jit_compile="auto", ema_momentum=None):
        """Adam (global-norm clipping 1.0), binary cross-entropy, accuracy; sets `trainer`.

        Args:
            total_steps: the training steps of the cosine schedule.
            learning_rate: peak learning rate.
            lr_schedule: "cosine" (decay to 0 over `total_steps`) or "constant".
            jit_compile: XLA for the train step (True/False, or "auto":
                `keras_seq.runtime.default_jit_compile("train")`).
            ema_momentum: keep a moving average of the weights (None = off).
        """
        from keras_seq import runtime
        from keras_seq.models import compile_sentiment_classifier

        if lr_schedule not in ("cosine", "constant"):
            raise ValueError("`lr_schedule` must be 'cosine' or 'constant', got "
                             f"lr_schedule={lr_schedule!r}.")
        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        rate = learning_rate
        if lr_schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(learning_rate,
                                                          decay_steps=max(1, total_steps))
        trainer = self.network
        if self.adversarial:
            from keras_seq.training import AdversarialEmbeddingTrainer

            trainer = AdversarialEmbeddingTrainer(self.network, epsilon=self.adversarial,
                                                  adversarial_weight=self.adversarial_weight)
        compile_sentiment_classifier(trainer, learning_rate=rate, jit_compile=jit_compile,
                                     ema_momentum=ema_momentum)
        self.trainer = trainer
        return trainer

    def predict_proba(self, x, batch_size=64):
        """p(labels[1]) for each raw review, a float32 array `[B]`."""
        ids = self.preprocessor.dense(x)
        if int(ids.shape[0]) == 0:
            return np.zeros([0], "float32")
        out = self.network.predict(ids, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype="float32").reshape(-1)

    def predict(self, x, batch_size=64):
        """`{"label": list of str, "probability": float32 [B]}` (probability of labels[1])."""
        probability = self.predict_proba(x, batch_size)
        return {"label": [self.labels[int(p >= 0.5)] for p in probability],
                "probability": probability}

    def export(self, path):
        """SavedModel: `serving_default(text: tf.string [None])` → probability, label."""
        from keras_seq.export.imdb_module import ImdbServingModule

        return ImdbServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(), "labels": list(self.labels),
                "adversarial": self.adversarial,
                "adversarial_weight": self.adversarial_weight}
