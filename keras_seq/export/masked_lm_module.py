"""SavedModel of a BERT-style masked LM: text with [MASK] in; filled text, top-k candidates out."""

import pathlib

import tensorflow as tf

from keras_seq.data.word_pieces import (CLS_ID, MASK_ID, RESERVED_TOKENS, SEP_ID,
                                        make_word_piece_tokenizer)
from keras_seq.export.atomic import replace_dir_atomically


class MaskedLMServingModule(tf.Module):
    """Wraps a trained `MaskedLanguageModel` and its word-piece vocabulary into a SavedModel.

    Inside the graph: "[SEP]" in a text splits it into a sentence pair (at the first "[SEP]";
    without one the text is a single segment), each part is word-piece tokenized (lower-cased
    like the training data; "[MASK]" stays one token), packed as `[CLS] A [SEP] B [SEP]` with
    segment ids 0/1 (truncated round-robin to the model's `sequence_length`), run through the
    encoder, and the MLM head is evaluated at every [MASK]:

        p(w | text, j) = softmax(logits_j)[w]   over the non-reserved word pieces w
        candidates_j = top-k of p(. | text, j),   filled = text with [MASK]_j -> candidates_j[0]

    Reserved tokens ([PAD], [CLS], [MASK], ...) are never proposed.

    A text without "[MASK]" gets a defined empty answer: `num_masks` = 0, `filled` = the
    tokenized text unchanged, empty candidate strings with probability 0 (one row of a batch
    must not fail the others). The Python helper `fill_mask` raises a `ValueError` instead.

    Signatures (the SavedModel needs `tensorflow_text` imported to load: the tokenizer's ops):
      * `serving_default(text: tf.string [None])` -> `{"filled": string [N],
        "candidates": string [N, M, k], "probabilities": float32 [N, M, k],
        "num_masks": int32 [N]}` with k = `top_k` and M the most [MASK]s of a text in the batch;
      * `fill_mask(text: tf.string [None], k: int32 [])` -> the same with k candidates.

    Args:
        model: a trained `keras_seq.models.MaskedLanguageModel`.
        vocabulary: the word-piece vocabulary it was trained with (list of str).
        lowercase: lower-case the input (must match the training tokenizer).
        top_k: candidates per [MASK] in `serving_default`.

    Call arguments:
        text, k: see Signatures.

    Returns:
        A dict of tensors, see Signatures.

    Example:

    >>> MaskedLMServingModule(model, vocabulary).save("export/")  # doctest: +SKIP
    >>> import tensorflow_text  # registers the tokenizer's ops  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["fill_mask"](
    ...     text=tf.constant(["the time [MASK] was"]), k=tf.constant(3))  # doctest: +SKIP
    """

    def __init__(self, model, vocabulary, lowercase=True, top_k=5):
        super().__init__(name="masked_lm_serving")
        vocabulary = [str(t) for t in vocabulary]
        if len(vocabulary) != model.vocabulary_size:
            raise ValueError(
                f"`vocabulary` has {len(vocabulary)} tokens but `model` has "
                f"vocabulary_size={model.vocabulary_size}; expected the vocabulary it was "
                "trained with.")
        if list(vocabulary[:len(RESERVED_TOKENS)]) != list(RESERVED_TOKENS):
            raise ValueError(f"`vocabulary` must start with {RESERVED_TOKENS}, got "
                             f"{vocabulary[:len(RESERVED_TOKENS)]}.")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"`top_k` must be a positive int, got top_k={top_k!r}.")
        import keras_hub

        self.model = model
        self.top_k = min(top_k, len(vocabulary) - len(RESERVED_TOKENS))
        self.tokenizer = make_word_piece_tokenizer(vocabulary, lowercase=lowercase)
        length = model.sequence_length
        self.pair_packer = keras_hub.layers.MultiSegmentPacker(
            length, start_value=CLS_ID, end_value=SEP_ID, pad_value=0, truncate="round_robin")
        self.single_packer = keras_hub.layers.MultiSegmentPacker(
            length, start_value=CLS_ID, end_value=SEP_ID, pad_value=0)
        self.vocabulary_table = tf.constant(vocabulary)
        special = tf.range(len(vocabulary)) < len(RESERVED_TOKENS)
        self.reserved_penalty = tf.where(special, -1e9, 0.0)  # (V,)

    def _fill(self, text, k):
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])  # (N,)
        parts = tf.strings.split(text, sep="[SEP]", maxsplit=1)  # ragged (N, 1|2)
        has_pair = parts.row_lengths() > 1
        dense = parts.to_tensor(default_value="", shape=[None, 2])  # (N, 2)
        first, second = dense[:, 0], dense[:, 1]
        a, b = self.tokenizer(first), self.tokenizer(second)
        pair_ids, pair_segments = self.pair_packer((a, b))
        single_ids, single_segments = self.single_packer((a,))
        ids = tf.cast(tf.where(has_pair[:, None], pair_ids, single_ids), tf.int32)  # (N, T)
        segments = tf.cast(tf.where(has_pair[:, None], pair_segments, single_segments), tf.int32)
        is_mask = tf.equal(ids, MASK_ID)
        where = tf.where(is_mask)  # (K, 2): row, position
        positions = tf.RaggedTensor.from_value_rowids(
            tf.cast(where[:, 1], tf.int32), where[:, 0], nrows=tf.shape(ids, out_type=tf.int64)[0])
        num_masks = tf.cast(positions.row_lengths(), tf.int32)  # (N,)
        # At least one column so that the shapes stay defined when no text has a [MASK].
        width = tf.maximum(tf.reduce_max(tf.concat([num_masks, [0]], 0)), 1)
        mask_positions = positions.to_tensor(default_value=0)
        mask_positions = tf.pad(mask_positions,
                                [[0, 0], [0, width - tf.shape(mask_positions)[1]]])  # (N, M)
        used = tf.range(width)[None, :] < num_masks[:, None]  # (N, M)
        logits = self.model({"token_ids": ids, "segment_ids": segments,
                             "padding_mask": ids != 0, "mask_positions": mask_positions},
                            training=False)  # (N, M, V)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32) + self.reserved_penalty, axis=-1)
        k = tf.clip_by_value(tf.cast(k, tf.int32), 1, self.vocabulary_table.shape[0]
                             - len(RESERVED_TOKENS))
        top_probs, top_ids = tf.math.top_k(probs, k=k)  # (N, M, k)
        candidates = tf.where(used[..., None], tf.gather(self.vocabulary_table, top_ids), "")
        top_probs = tf.where(used[..., None], top_probs, 0.0)
        # The filled text: [MASK] -> best candidate, then the pieces back to words.
        best = tf.where(used, top_ids[:, :, 0], 0)  # (N, M)
        rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(best))
        index = tf.boolean_mask(tf.stack([rows, mask_positions], -1), used)
        filled_ids = tf.tensor_scatter_nd_update(ids, index, tf.boolean_mask(best, used))
        real = tf.RaggedTensor.from_tensor(filled_ids, padding=0)
        body = real[:, 1:-1]  # without [CLS] and the final [SEP]
        filled = self.tokenizer.detokenize(body)
        return {"filled": tf.reshape(filled, [-1]), "candidates": candidates,
                "probabilities": top_probs, "num_masks": num_masks}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def fill_mask(self, text, k):
        """The `fill_mask` signature (see the class docstring)."""
        return self._fill(text, k)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        return self._fill(text, tf.constant(self.top_k, tf.int32))

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function(),
                      "fill_mask": self.fill_mask.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)


def fill_mask(predictor, text, k=5):
    """Top-k `(token, probability)` for each [MASK] of one text.

    Args:
        predictor: a `MaskedLMServingModule`, a loaded SavedModel (`tf.saved_model.load`) or
            the path of an export directory.
        text: str with at least one "[MASK]" (and optionally "[SEP]" between two sentences).
        k: int > 0, candidates per [MASK].

    Returns:
        A list with one list per [MASK] (in reading order) of `k` `(token, probability)`
        pairs, most probable first; tokens are word pieces ("##" marks a continuation).

    Raises:
        ValueError: `text` is not a str, holds no "[MASK]", or `k` is not a positive int.

    Example:

    >>> fill_mask("export/", "It [MASK] great with orange sauce", k=3)  # doctest: +SKIP
    [[('is', 0.41), ('was', 0.22), ('looks', 0.05)]]
    """
    if not isinstance(text, str):
        raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
    if "[MASK]" not in text:
        raise ValueError(f"`text` must contain at least one [MASK] token, got {text!r}.")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"`k` must be a positive int, got k={k!r}.")
    if isinstance(predictor, (str, pathlib.Path)):
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

        predictor = tf.saved_model.load(str(predictor))
    if isinstance(predictor, MaskedLMServingModule):
        out = predictor.fill_mask(tf.constant([text]), tf.constant(k, tf.int32))
    else:
        out = predictor.signatures["fill_mask"](text=tf.constant([text]),
                                                k=tf.constant(k, tf.int32))
    n = int(out["num_masks"].numpy()[0])
    if n == 0:
        raise ValueError(f"`text` has no [MASK] left after tokenization/truncation: {text!r}.")
    tokens = out["candidates"].numpy()[0][:n]
    probs = out["probabilities"].numpy()[0][:n]
    return [[(t.decode("utf-8"), float(p)) for t, p in zip(row_t, row_p)]
            for row_t, row_p in zip(tokens, probs)]
