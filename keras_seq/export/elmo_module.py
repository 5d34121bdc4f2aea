"""SavedModel of an ELMo-style biLM: raw text in, contextual embeddings and neighbour words out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class ElmoServingModule(tf.Module):
    """Wraps a trained `BidirectionalLanguageModel` and its `WordTokenizer` into plain TF.

    Inside the graph: the tokenizer (standardize, split, vocabulary lookup; unknown words ->
    id 1), truncation to `max_length` tokens, right padding, then the biLM. Loads with
    `tf.saved_model.load` alone.

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
        model: a trained `BidirectionalLanguageModel`.
        tokenizer: the `WordTokenizer` it was trained with.
        max_length: texts are cut to their first `max_length` tokens.

    Call arguments:
        text: `tf.string` tensor `[None]`.

    Returns:
        Dicts of tensors, see Signatures.

    Example:

    >>> ElmoServingModule(model, tokenizer).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["embed"](
    ...     text=tf.constant(["the time machine"]))["embeddings"].shape  # doctest: +SKIP
    TensorShape([1, 3, 512])
    """

    def __init__(self, model, tokenizer, max_length=512):
        super().__init__(name="elmo_serving")
        if model.vocabulary_size != tokenizer.vocabulary_size:
            raise ValueError(
                f"`model` has vocabulary_size={model.vocabulary_size} but `tokenizer` has "
                f"{tokenizer.vocabulary_size} ids; expected the tokenizer it was trained with.")
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"`max_length` must be a positive int, got max_length={max_length!r}.")
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.vocabulary = tf.constant(tokenizer.get_vocabulary())

    def _ids(self, text):
        tokens = self.tokenizer.tokens(text)[:, : self.max_length]
        ids = self.tokenizer.encode(text)[:, : self.max_length].to_tensor(default_value=0)
        tokens = tokens.to_tensor(default_value="")
        # An empty batch of tokens still gets one (padding) step.
        extra = tf.maximum(0, 1 - tf.shape(ids)[1])
        ids = tf.pad(ids, [[0, 0], [0, extra]])
        tokens = tf.pad(tokens, [[0, 0], [0, extra]], constant_values="")
        return tf.cast(ids, tf.int32), tokens

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def embed(self, text):
        """The `embed` signature (see the class docstring)."""
        ids, tokens = self._ids(text)
        embeddings, mask = self.model.embed(ids, training=False)
        return {"embeddings": tf.cast(embeddings, tf.float32), "mask": tf.cast(mask, tf.bool),
                "tokens": tokens}

    def _best(self, logits):
        logits = tf.cast(logits, tf.float32)
        probs = tf.nn.softmax(logits, axis=-1)
        special = tf.one_hot([0, 1], tf.shape(probs)[-1], dtype=probs.dtype)
        probs = probs * (1.0 - tf.reduce_sum(special, axis=0))
        best = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return tf.gather(self.vocabulary, best), tf.reduce_max(probs, axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        ids, _ = self._ids(text)
        embeddings, mask = self.model.embed(ids, training=False)
        m = tf.cast(mask, tf.float32)[..., None]  # (B, T, 1)
        sentence = tf.reduce_sum(tf.cast(embeddings, tf.float32) * m, axis=1) / tf.maximum(
            tf.reduce_sum(m, axis=1), 1.0)  # (B, 2H)
        logits = self.model(ids, training=False)
        last = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1, 0)
        next_word, next_p = self._best(tf.gather(logits["forward"], last, batch_dims=1))
        prev_word, prev_p = self._best(logits["backward"][:, 0])
        return {"sentence_embedding": sentence, "next_word": next_word,
                "next_word_probability": next_p, "previous_word": prev_word,
                "previous_word_probability": prev_p}

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function(),
                      "embed": self.embed.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)
