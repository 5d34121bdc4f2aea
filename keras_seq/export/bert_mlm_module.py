"""SavedModel of the `bert_mlm` task: text with [MASK] in; filled text, top-k candidates out."""

import pathlib

import tensorflow as tf

from keras_seq.data.word_pieces import RESERVED_TOKENS
from keras_seq.export.atomic import replace_dir_atomically


class BertMLMServingModule(tf.Module):
    """The `bert_mlm` task's fill-mask graph in a SavedModel: text with [MASK] in.

    The graph is the task's own `BertMLM.fill_mask_graph` (its `BertMLMPreprocessor`: the
    same word-piece tokenizer and `[CLS] A [SEP] B [SEP]` packing as training), so the export
    and `task.predict` cannot disagree. "[SEP]" in a text splits it into a sentence pair (at
    the first "[SEP]"; without one the text is a single segment); "[MASK]" stays one token;
    the MLM head is evaluated at every [MASK]:

        p(w | text, j) = softmax(logits_j)[w]   over the non-reserved word pieces w
        candidates_j = top-k of p(. | text, j),   filled = text with [MASK]_j -> candidates_j[0]

    Reserved tokens ([PAD], [CLS], [MASK], ...) are never proposed. A text without "[MASK]"
    gets a defined empty answer: `num_masks` = 0, `filled` = the tokenized text unchanged,
    empty candidate strings with probability 0 (one row of a batch must not fail the others).
    The Python helper `fill_mask` raises a `ValueError` instead.

    Signatures (the SavedModel needs `tensorflow_text` imported to load: the tokenizer's ops):
      * `serving_default(text: tf.string [None])` -> `{"filled": string [N],
        "candidates": string [N, M, k], "probabilities": float32 [N, M, k],
        "num_masks": int32 [N]}` with k = the task's `top_k` and M the most [MASK]s of a text
        in the batch;
      * `fill_mask(text: tf.string [None], k: int32 [])` -> the same with k candidates.

    Args:
        task: a `keras_seq.tasks.BertMLM`.

    Call arguments:
        text, k: see Signatures.

    Returns:
        A dict of tensors, see Signatures.

    Example:

    >>> BertMLMServingModule(task).save("export/")  # doctest: +SKIP
    >>> import tensorflow_text  # registers the tokenizer's ops  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["fill_mask"](
    ...     text=tf.constant(["the time [MASK] was"]), k=tf.constant(3))  # doctest: +SKIP
    """

    def __init__(self, task):
        super().__init__(name="bert_mlm_serving")
        self.network = task.network
        self.tokenizer = task.preprocessor.tokenizer  # tracks its lookup tables
        self.top_k = min(task.top_k, task.preprocessor.vocabulary_size - len(RESERVED_TOKENS))
        self._graph = task.fill_mask_graph

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def fill_mask(self, text, k):
        """The `fill_mask` signature (see the class docstring)."""
        return self._graph(text, k)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        return self.fill_mask(text, tf.constant(self.top_k, tf.int32))  # one traced graph

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function(),
                      "fill_mask": self.fill_mask.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)


def fill_mask(predictor, text, k=5):
    """Top-k `(token, probability)` for each [MASK] of one text.

    Args:
        predictor: a `BertMLMServingModule`, a loaded SavedModel (`tf.saved_model.load`) or
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
    if isinstance(predictor, BertMLMServingModule):
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
