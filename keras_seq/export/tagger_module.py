"""SavedModel of the `tagger` task: raw strings in, one tag per character and the spans out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class TaggerServingModule(tf.Module):
    """The task's own preprocessor, its `SequenceTagger` and the BIO decoding, in one graph.

    Inside the graph: `task.outputs` — UTF-8 decoding into characters and the fixed
    character ids of `keras_seq.data.span_tagging` (the task's `TaggerPreprocessor`), right
    padding, the tagger, argmax per character and the preprocessor's BIO decoding into spans
    (conlleval: a span starts at B-X, or at an I-X that does not continue an X span). The
    export loads with TensorFlow alone.

    Signature `serving_default(text: tf.string [None])` returns

      * `tags`: string [n], one tag per character separated by spaces ("O O B-NUM I-NUM O");
      * `spans`: string [n], the spans found, "TYPE:text" joined by " | "
        (e.g. "NUM:42 | DATE:12 March 1998"; "" when there is none);
      * `num_spans`: int32 [n].

    Args:
        task: a `keras_seq.tasks.Tagger`.

    Call arguments:
        text: `tf.string [None]`.

    Returns:
        The dict of tensors above.

    Example:

    >>> TaggerServingModule(task).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["Paid 42 on 12 March 1998."]))["spans"]  # doctest: +SKIP
    """

    def __init__(self, task):
        super().__init__(name="tagger_serving")
        self.task = task
        self.network = task.network  # tracks the variables

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        return self.task.outputs(text)

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)
