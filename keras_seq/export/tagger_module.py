"""SavedModel of a character tagger: raw strings in, one tag per character and the spans out."""

import tensorflow as tf

from keras_seq.data.span_tagging import char_ids_tf
from keras_seq.export.atomic import replace_dir_atomically


class TaggerServingModule(tf.Module):
    """Wraps a trained `SequenceTagger` into a plain-TF SavedModel (`serving_default`).

    Inside the graph: UTF-8 decoding into characters and the fixed character ids of
    `keras_seq.data.span_tagging` (0 padding, printable ASCII, unknown), right padding, the
    tagger, argmax per character and BIO decoding into spans. BIO decoding follows
    `keras_seq.metrics.tagging_metrics.bio_to_spans` (conlleval): a span starts at B-X, or at an
    I-X that does not continue an X span; it goes on over the following I-X.

    Signature `serving_default(text: tf.string [None])` returns

      * `tags`: string [n], one tag per character separated by spaces ("O O B-NUM I-NUM O");
      * `spans`: string [n], the spans found, "TYPE:text" joined by " | "
        (e.g. "NUM:42 | DATE:12 March 1998"; "" when there is none);
      * `num_spans`: int32 [n].

    Args:
        model: a trained `SequenceTagger` (called with `training=False`).
        tag_names: its tags, `tag_names[id]` (e.g. `["O", "B-NUM", "I-NUM", ...]`); "O" must be
            id 0, and B-/I- of each type at ids 2k+1 / 2k+2 (as `span_tagging.tag_names`).
        max_chars: longer texts are cut to this many characters.

    Call arguments:
        text: `tf.string [None]`.

    Returns:
        The dict of tensors above.

    Example:

    >>> TaggerServingModule(model, tag_names(("NUM", "DATE"))).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["Paid 42 on 12 March 1998."]))["spans"]  # doctest: +SKIP
    """

    def __init__(self, model, tag_names, max_chars=2000):
        super().__init__(name="tagger_serving")
        tag_names = list(tag_names)
        ok = len(tag_names) >= 3 and len(tag_names) % 2 == 1 and tag_names[0] == "O" and all(
            tag_names[2 * k + 1] == "B-" + tag_names[2 * k + 1][2:]
            and tag_names[2 * k + 2] == "I-" + tag_names[2 * k + 1][2:]
            for k in range((len(tag_names) - 1) // 2))
        if not ok:
            raise ValueError("`tag_names` must be ['O', 'B-T1', 'I-T1', 'B-T2', 'I-T2', ...], "
                             f"got {tag_names!r}.")
        if model.num_tags != len(tag_names):
            raise ValueError(f"`model` predicts {model.num_tags} tags but `tag_names` has "
                             f"{len(tag_names)}; expected the tags it was trained with.")
        self.model = model
        self.tag_names = tag_names
        self.max_chars = int(max_chars)
        self._names = tf.constant(tag_names)
        self._types = tf.constant([tag_names[2 * k + 1][2:]
                                   for k in range((len(tag_names) - 1) // 2)])

    def tag(self, text):
        """`text [n]` -> (char ids `[n, T]`, tag ids `[n, T]`, 0 on padding)."""
        ragged = char_ids_tf(text)[:, :self.max_chars]
        width = tf.maximum(tf.reduce_max(ragged.row_lengths()), 1)
        ids = ragged.to_tensor(0, shape=tf.stack([ragged.nrows(), width]))  # (n, T)
        logits = self.model(ids, training=False)  # (n, T, num_tags)
        tags = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return ids, tf.where(ids != 0, tags, 0)

    def _outputs(self, text):
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        ids, tags = self.tag(text)  # (n, T)
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        ragged_tags = tf.RaggedTensor.from_tensor(tags, lengths=lengths)
        tag_text = tf.strings.reduce_join(tf.gather(self._names, ragged_tags), axis=1,
                                          separator=" ")
        # BIO decoding: kind = type index (-1 for O); I continues a span of the same kind.
        kind = tf.where(tags > 0, (tags - 1) // 2, -1)
        is_inside = (tags > 0) & ((tags - 1) % 2 == 1)
        prev_kind = tf.pad(kind, [[0, 0], [1, 0]], constant_values=-1)[:, :-1]
        continues = is_inside & (prev_kind == kind)
        starts = (tags > 0) & ~continues
        next_continues = tf.pad(continues, [[0, 0], [0, 1]])[:, 1:]
        ends = (tags > 0) & ~next_continues
        start_at = tf.cast(tf.where(starts), tf.int32)  # (k, 2) [row, char], row-major order
        end_at = tf.cast(tf.where(ends), tf.int32)  # (k, 2): the span's last character
        rows = start_at[:, 0]
        pieces = tf.strings.substr(tf.gather(text, rows), start_at[:, 1],
                                   end_at[:, 1] - start_at[:, 1] + 1, unit="UTF8_CHAR")
        labels = tf.gather(self._types, tf.gather_nd(kind, start_at))
        spans = tf.RaggedTensor.from_value_rowids(
            tf.strings.join([labels, pieces], separator=":"), rows,
            nrows=tf.shape(text, out_type=tf.int32)[0])
        return {"tags": tag_text,
                "spans": tf.strings.reduce_join(spans, axis=1, separator=" | "),
                "num_spans": tf.cast(spans.row_lengths(), tf.int32)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        """The `serving_default` signature (see the class docstring)."""
        return self._outputs(text)

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` atomically (temp folder, then rename)."""
        signatures = {"serving_default": self.serve.get_concrete_function()}
        return replace_dir_atomically(
            lambda path: tf.saved_model.save(self, path, signatures=signatures), export_dir)
