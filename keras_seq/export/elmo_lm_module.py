"""SavedModel of the `elmo_lm` task: raw text in, contextual embeddings and neighbour words out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically

_TEXT = [tf.TensorSpec([None], tf.string, name="text")]


class ElmoLMServingModule(tf.Module):
    """The task's own preprocessor and biLM, in one graph that loads with TensorFlow alone.

    Both signatures trace the task's functions (`ElmoLM.embed_outputs`,
    `ElmoLM.serving_outputs`), which `predict` and `embed` run too: the string processing
    (standardize, split, vocabulary lookup, unknown words -> id 1, cut to
    `max_sequence_length` tokens, right padding) is `task.preprocessor` itself.

    Signatures:
      * `embed(text: tf.string [None])` -> `{"embeddings": float32 (B, T, 2H) (ELMo_t =
        γ Σ_j softmax(s)_j h_{t,j} with the model's mix; zeros at padding),
        "mask": bool (B, T), "tokens": string (B, T) ("" at padding)}`;
      * `serving_default(text: tf.string [None])` -> `{"sentence_embedding": float32
        (B, 2H) (mean of the embeddings over the real tokens), "next_word" /
        "previous_word": string (B) (argmax of the forward LM after the last token / of the
        backward LM before the first token, padding and [UNK] excluded),
        "next_word_probability" / "previous_word_probability": float32 (B)}`.

    Args:
        task: a `keras_seq.tasks.ElmoLM`.

    Call arguments:
        text: `tf.string` tensor `[None]`.

    Returns:
        Dicts of tensors, see Signatures.

    Example:

    >>> ElmoLMServingModule(task).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["embed"](
    ...     text=tf.constant(["the time machine"]))["embeddings"].shape  # doctest: +SKIP
    TensorShape([1, 3, 512])
    """

    def __init__(self, task):
        super().__init__(name="elmo_lm_serving")
        self.network = task.network
        self.tokenizer = task.preprocessor.tokenizer  # tracks its lookup table
        self._embed_outputs = task.embed_outputs
        self._serving_outputs = task.serving_outputs

    @tf.function(autograph=False, input_signature=_TEXT)
    def embed(self, text):
        """The `embed` signature (see the class docstring)."""
        return self._embed_outputs(text)

    @tf.function(autograph=False, input_signature=_TEXT)
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        return self._serving_outputs(text)

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function(),
                      "embed": self.embed.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)
