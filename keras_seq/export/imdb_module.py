"""SavedModel of the `imdb` task: raw review strings in, probability and label out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class ImdbServingModule(tf.Module):
    """The task's own preprocessor, its network and the label names, in one graph.

    The string processing is `task.preprocessor` itself (the `TextVectorization` the task
    trains with, standardisation included), so the export and training cannot disagree;
    the export needs only TensorFlow to load.

    Args:
        task: a `keras_seq.tasks.ImdbClassifier`.

    Call arguments (`serving_default`):
        text: `tf.string` tensor of shape `[None]`.

    Returns:
        `{"probability": float32 [None] (probability of labels[1]), "label": string [None]}`.

    Example:

    >>> ImdbServingModule(task).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["this movie is so great"]))  # doctest: +SKIP
    """

    def __init__(self, task):
        super().__init__(name="imdb_serving")
        self.network = task.network
        self.preprocessor = task.preprocessor
        self.vectorizer = task.preprocessor.vectorizer  # tracks its lookup table
        self.label_names = tf.constant(list(task.labels))

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(self, text):
        """Token ids `[batch, time]` int32 (time >= 1, 0 = padding) of raw strings."""
        return self.preprocessor.dense(text)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature; see the class docstring."""
        probability = tf.cast(self.network(self.tokenize(text), training=False), tf.float32)
        probability = probability[:, 0]
        label = tf.gather(self.label_names, tf.cast(probability >= 0.5, tf.int32))
        return {"probability": probability, "label": label}

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` (temp dir + rename). Returns the path."""
        def build(path):
            tf.saved_model.save(self, path, signatures={"serving_default": self.serve})
        return replace_dir_atomically(build, export_dir)
