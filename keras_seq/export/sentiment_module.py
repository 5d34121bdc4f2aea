"""SavedModel of the sentiment classifier: raw review strings in, probability and label out."""

import tensorflow as tf

from keras_seq.data.text import standardize_review
from keras_seq.export.atomic import replace_dir_atomically


class SentimentServingModule(tf.Module):
    """Wraps a trained id-level classifier and its vocabulary into a raw-string model.

    Preprocessing runs inside the graph with the same ops as training
    (`standardize`, whitespace split, vocabulary lookup with OOV id 1 and padding
    id 0, truncation to `max_length`), so the export needs only TensorFlow to load.

    Args:
        model: a Keras model mapping `ids [batch, time] int32` to `[batch, 1]`
            probabilities (or logits if `logits=True`).
        vocabulary: list of tokens as from `TextVectorization.get_vocabulary()`: index 0 is
            the padding token "" and index 1 the OOV token "[UNK]".
        max_length: reviews are cut to their first `max_length` tokens.
        logits: whether `model` outputs logits.
        labels: the names of class 0 and class 1.
        standardize: the text standardization of training, a function of a `tf.string`
            tensor (default `standardize_review`; `standardize_review_keep_marks` for
            `--punctuation marks`).

    Call arguments (`serving_default`):
        text: `tf.string` tensor of shape `[None]`.

    Returns:
        `{"probability": float32 [None] (probability of labels[1]), "label": string [None]}`.

    Example:

    >>> module = SentimentServingModule(model, vectorizer.get_vocabulary(), max_length=400)
    >>> module.save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["this movie is so great"]))  # doctest: +SKIP
    """

    def __init__(self, model, vocabulary, max_length, logits=False,
                 labels=("negative", "positive"), standardize=standardize_review):
        super().__init__(name="sentiment_serving")
        vocabulary = [str(token) for token in vocabulary]
        if len(vocabulary) < 3 or vocabulary[0] != "" or vocabulary[1] != "[UNK]":
            raise ValueError(
                "`vocabulary` must start with the padding token '' and the OOV token '[UNK]' "
                f"(as TextVectorization.get_vocabulary() returns), got {vocabulary[:3]!r}.")
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"`max_length` must be a positive int, got max_length={max_length!r}.")
        if len(labels) != 2:
            raise ValueError(f"`labels` must hold 2 names, got labels={labels!r}.")
        self.model = model
        self.standardize = standardize
        self.max_length = max_length
        self.logits = bool(logits)
        self.label_names = tf.constant(list(labels))
        self.vocabulary_size = tf.constant(len(vocabulary), tf.int64)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary[2:]),
                tf.range(2, len(vocabulary), dtype=tf.int64)),
            default_value=1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(self, text):
        """Token ids `[batch, time]` int32 (time >= 1, 0 = padding) of raw strings."""
        tokens = tf.strings.split(self.standardize(text))
        ids = self.table.lookup(tokens)[:, : self.max_length]
        dense = ids.to_tensor(default_value=0)
        # An empty batch of tokens still gets one (padding) step.
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])
        return tf.cast(dense, tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature; see the class docstring."""
        ids = self.tokenize(text)
        out = tf.cast(self.model(ids, training=False), tf.float32)[:, 0]
        probability = tf.sigmoid(out) if self.logits else out
        label = tf.gather(self.label_names, tf.cast(probability >= 0.5, tf.int32))
        return {"probability": probability, "label": label}

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` (temp dir + rename). Returns the path."""
        def build(path):
            tf.saved_model.save(self, path, signatures={"serving_default": self.serve})
        return replace_dir_atomically(build, export_dir)
