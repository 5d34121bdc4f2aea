"""SavedModel of a translator: raw source strings in, translated strings out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class TranslatorServingModule(tf.Module):
    """The task's tokenizers → compiled decode loop → detokenizer, in one TensorFlow graph.

    Args:
        task: a `keras_seq.tasks.Translator` (its network and `TranslatorPreprocessor`:
            the same tokenizers as training).
        jit_compile: XLA-compile the decode loop (it measured much faster than eager loops).

    Call arguments (`serving_default`):
        text: `tf.string [None]`.

    Returns:
        `{"translation": tf.string [None]}`.

    Example:

    >>> TranslatorServingModule(task).save("export/")  # doctest: +SKIP
    """

    def __init__(self, task, jit_compile=True):
        super().__init__(name="translator_serving")
        self.model = task.network
        self.preprocessor = task.preprocessor
        self.source_tokenizer = task.preprocessor.source_tokenizer  # tracks its tables
        self.target_tokenizer = task.preprocessor.target_tokenizer
        length = task.preprocessor.max_target_length + 1

        def generate(ids):  # the network's traceable decode (`generate` runs it compiled)
            return self.model.generate_step(ids, tf.zeros([tf.shape(ids)[0], length],
                                                          tf.int32))

        self._decode = tf.function(generate, autograph=False, jit_compile=jit_compile)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        ids = self.source_tokenizer.tokenize(text, self.preprocessor.max_source_length)
        return {"translation": self.preprocessor.detokenize(self._decode(ids))}

    def save(self, export_dir):
        """Writes the SavedModel atomically; returns its path."""
        return replace_dir_atomically(
            lambda tmp: tf.saved_model.save(self, tmp, signatures={"serving_default": self.serve}),
            export_dir)
