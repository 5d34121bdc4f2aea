"""The `tagger` task: raw strings in, one BIO tag per character and the spans found out.

One preprocessor (`TaggerPreprocessor`: the fixed character ids of
`keras_seq.data.span_tagging`, the span types' BIO tag vocabulary, and the BIO decoding of
predicted tags into spans) serves training (inside `tf.data`), `predict` and the exported
SavedModel.
"""

import numpy as np
import tensorflow as tf

from keras_seq.data import span_tagging as st
from keras_seq.tasks.task import Task, text_tensor


class TaggerPreprocessor:
    """Characters → ids, spans → BIO tag ids, predicted tag ids → tag text and spans.

    Character ids: 0 padding, 1 any character outside printable ASCII, 2..96 printable
    ASCII (`span_tagging.char_ids_tf`: UTF-8 is decoded, one id per character). Tags:
    `["O", "B-T1", "I-T1", "B-T2", ...]` for the span types `types` (`span_tagging.tag_names`).
    Texts are cut to `max_chars` characters.

    Args:
        types: the span type names, in order.
        max_chars: longer texts are cut to this many characters.

    Example:

    >>> p = TaggerPreprocessor(("NUM",))
    >>> p.dense(["ab", "é"]).numpy().tolist()
    [[67, 68], [1, 0]]
    >>> p.tag_ids("paid 12", [[5, 7, "NUM"]]).tolist()
    [0, 0, 0, 0, 0, 1, 2]
    >>> out = p.decode(tf.constant(["paid 12"]), tf.constant([[0, 0, 0, 0, 0, 1, 2]]))
    >>> out["spans"].numpy().tolist()
    [b'NUM:12']
    """

    def __init__(self, types=st.DEFAULT_TYPES, max_chars=2000):
        types = list(types) if not isinstance(types, str) else None
        if not types or not all(isinstance(t, str) and t and " " not in t for t in types) \
                or len(set(types)) != len(types):
            raise ValueError("`types` must be a non-empty list of distinct span type names "
                             f"without spaces, got {types!r}.")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
            raise ValueError(f"`max_chars` must be a positive int, got max_chars={max_chars!r}.")
        self.types = types
        self.max_chars = max_chars
        self.tag_names = st.tag_names(types)
        self._names = tf.constant(self.tag_names)
        self._types = tf.constant(types)

    @classmethod
    def build_from_examples(cls, texts, spans, types=None, max_chars=2000):
        """Learns the span types (sorted, unless `types` is given); checks every span."""
        texts, spans = _examples(texts, spans)
        if types is None:
            types = sorted({kind for row in spans for _, _, kind in row})
            if not types:
                raise ValueError("`y` holds no span at all; a tagger needs examples of at "
                                 "least one span type.")
        preprocessor = cls(types, max_chars)
        for i, (text, row) in enumerate(zip(texts, spans)):
            try:
                preprocessor.tag_ids(text, row)
            except ValueError as error:
                raise ValueError(f"`y[{i}]`: {error}") from None
        return preprocessor

    @property
    def vocabulary_size(self):
        return st.VOCABULARY_SIZE

    def __call__(self, texts):
        """`tf.string [B]` → ragged int32 character ids `[B, None]`, cut to `max_chars`."""
        return st.char_ids_tf(texts)[:, :self.max_chars]

    def dense(self, texts):
        """int32 `[B, T]` character ids padded with 0, at least one step."""
        ragged = self(texts)
        width = tf.maximum(tf.reduce_max(ragged.row_lengths()), 1)
        return ragged.to_tensor(0, shape=tf.stack([ragged.nrows(), width]))

    def tag_ids(self, text, spans):
        """BIO tag ids of one text's spans, an int32 array `[min(len(text), max_chars)]`."""
        return st.spans_to_tags(text, spans, self.types)[:self.max_chars]

    def decode(self, texts, tag_ids):
        """Predicted tag ids `[B, T]` (0 on padding) → `{"tags", "spans", "num_spans"}`.

        BIO decoding follows `keras_seq.metrics.tagging_metrics.bio_to_spans` (conlleval): a
        span starts at B-X, or at an I-X that does not continue an X span, and goes on over
        the following I-X. `tags` joins one tag per character with spaces; `spans` joins
        "TYPE:text" with " | " ("" when there is none).
        """
        tags = tf.cast(tag_ids, tf.int32)
        lengths = tf.cast(self(texts).row_lengths(), tf.int32)
        tag_text = tf.strings.reduce_join(
            tf.gather(self._names, tf.RaggedTensor.from_tensor(tags, lengths=lengths)),
            axis=1, separator=" ")
        kind = tf.where(tags > 0, (tags - 1) // 2, -1)  # type index, -1 for O
        continues = (tags > 0) & ((tags - 1) % 2 == 1) & (
            tf.pad(kind, [[0, 0], [1, 0]], constant_values=-1)[:, :-1] == kind)
        starts = (tags > 0) & ~continues
        ends = (tags > 0) & ~tf.pad(continues, [[0, 0], [0, 1]])[:, 1:]
        start_at = tf.cast(tf.where(starts), tf.int32)  # (k, 2) [row, char], row-major
        end_at = tf.cast(tf.where(ends), tf.int32)  # (k, 2): each span's last character
        rows = start_at[:, 0]
        pieces = tf.strings.substr(tf.gather(texts, rows), start_at[:, 1],
                                   end_at[:, 1] - start_at[:, 1] + 1, unit="UTF8_CHAR")
        labels = tf.gather(self._types, tf.gather_nd(kind, start_at))
        spans = tf.RaggedTensor.from_value_rowids(
            tf.strings.join([labels, pieces], separator=":"), rows,
            nrows=tf.shape(texts, out_type=tf.int32)[0])
        return {"tags": tag_text,
                "spans": tf.strings.reduce_join(spans, axis=1, separator=" | "),
                "num_spans": tf.cast(spans.row_lengths(), tf.int32)}

    def get_config(self):
        return {"types": list(self.types), "max_chars": self.max_chars}


def _examples(texts, spans):
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t
             for t in text_tensor(texts, "texts").numpy().tolist()]
    if spans is None or isinstance(spans, (str, bytes)):
        raise ValueError("`y` must hold one list of spans [start, end, 'TYPE'] per text, "
                         f"got {type(spans).__name__}.")
    spans = list(spans)
    if len(spans) != len(texts):
        raise ValueError(f"`y` must hold one list of spans per text: {len(texts)} texts, got "
                         f"{len(spans)} span lists.")
    out = []
    for i, row in enumerate(spans):
        try:
            out.append([[int(a), int(b), str(k)] for a, b, k in row])
        except (TypeError, ValueError):
            raise ValueError(f"`y[{i}]` must be a list of [start, end, 'TYPE'] spans, got "
                             f"{row!r:.80}.") from None
    return texts, out


class Tagger(Task):
    """Character BIO tagging of raw strings: `TaggerPreprocessor` + a `SequenceTagger`.

    The network is `keras_seq.models.SequenceTagger` (char ids → tag logits per character);
    `fit` trains it on raw texts and their spans `[[start, end, "TYPE"], ...]` (character
    offsets, end exclusive), with the application's defaults (Adam with warm-up and cosine
    decay, clipnorm 1, cross-entropy on real characters only).

    Args:
        network: a `SequenceTagger` with `len(preprocessor.tag_names)` tags.
        preprocessor: a `TaggerPreprocessor` (or its config).

    Example:

    >>> texts = ["paid 12 on 3 May 2001.", "it rose to 42."] * 8
    >>> spans = [[[5, 7, "NUM"], [11, 21, "DATE"]], [[11, 13, "NUM"]]] * 8
    >>> task = Tagger.from_examples(texts, spans, hidden_dim=4, embedding_dim=4, num_layers=1)
    >>> _ = task.fit(texts, spans, epochs=1, verbose=0)
    >>> sorted(task.predict(["paid 7 on 1 May 2000."]))
    ['num_spans', 'spans', 'tags']
    """

    stem = "tagger"

    def __init__(self, network, preprocessor):
        if isinstance(preprocessor, dict):
            preprocessor = TaggerPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        if getattr(network, "num_tags", None) != len(preprocessor.tag_names):
            raise ValueError(f"`network` predicts {getattr(network, 'num_tags', None)} tags "
                             f"but the preprocessor has {len(preprocessor.tag_names)} "
                             f"({preprocessor.tag_names}); expected the same.")
        self._outputs = None

    @classmethod
    def from_examples(cls, texts, spans, *, types=None, max_chars=2000, cell="lstm",
                      hidden_dim=64, num_layers=2, bidirectional=True, embedding_dim=32,
                      dropout=0.1):
        """An untrained tagger with the application's defaults; learns the span types.

        Args:
            texts: training strings.
            spans: one list of `[start, end, "TYPE"]` per text.
            types: the span types in order (default: the sorted types found in `spans`).
            max_chars: texts are cut to this many characters.
            cell, hidden_dim, num_layers, bidirectional, embedding_dim, dropout: the
                `SequenceTagger`'s architecture.
        """
        from keras_seq.models.sequence_tagger import SequenceTagger

        preprocessor = TaggerPreprocessor.build_from_examples(texts, spans, types, max_chars)
        network = SequenceTagger(st.VOCABULARY_SIZE, len(preprocessor.tag_names), cell=cell,
                                 hidden_dim=hidden_dim, num_layers=num_layers,
                                 bidirectional=bidirectional, embedding_dim=embedding_dim,
                                 dropout=dropout)
        task = cls(network, preprocessor)
        task.build_network()
        return task

    def build_network(self):
        if not self.network.built:
            self.network(np.ones((1, 4), "int32"))

    def encode(self, x, y):
        """Raw texts and spans → (list of char-id arrays, list of tag-id arrays)."""
        texts, spans = _examples(x, y)
        ids = [a[:self.preprocessor.max_chars] for a in
               (st.encode_chars(t) for t in texts)]
        return ids, [self.preprocessor.tag_ids(t, s) for t, s in zip(texts, spans)]

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `(char ids [B, T], tag ids [B, T], weights [B, T])`, bucketed by length.

        `x` are strings and `y` their spans; or `x` is a `tf.data.Dataset` of unbatched
        `(text, tag ids [len(text)])` pairs (then `y` is None).
        """
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a tf.data.Dataset of (text, "
                                 "tag ids) pairs.")
            limit = self.preprocessor.max_chars

            def element(text, tags):
                ids = self.preprocessor(text[None])[0]
                return ids, tf.cast(tags, tf.int32)[:limit], tf.cast(ids != 0, tf.float32)

            data = x.map(element).padded_batch(batch_size)
            return data.prefetch(tf.data.AUTOTUNE), None
        ids, tags = self.encode(x, y)
        if not ids:
            raise ValueError("`x` must hold at least one text, got none.")
        return st.tagging_dataset(ids, tags, batch_size, shuffle=shuffle, seed=seed), None

    def compile(self, total_steps=1, learning_rate=3e-3, jit_compile="auto",
                max_warmup_steps=300):
        """Adam (clipnorm 1, warm-up then cosine decay), cross-entropy; sets `trainer`."""
        from keras_seq import runtime
        from keras_seq.training.token_classifier import compile_token_classifier

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        self.trainer = compile_token_classifier(
            self.network, learning_rate, total_steps, jit_compile,
            max_warmup_steps=max_warmup_steps)
        return self.trainer

    def outputs(self, texts):
        """The graph of `predict` and of the export: `tf.string [B]` → dict of tensors."""
        ids = self.preprocessor.dense(texts)
        logits = self.network(ids, training=False)
        tags = tf.where(ids != 0, tf.argmax(logits, axis=-1, output_type=tf.int32), 0)
        return self.preprocessor.decode(texts, tags)

    def predict(self, x):
        """`{"tags": list of str, "spans": list of str, "num_spans": int32 [B]}`.

        The same values as the export's `serving_default` (see `TaggerServingModule`).
        """
        texts = text_tensor(x)
        if self._outputs is None:
            self._outputs = tf.function(self.outputs, autograph=False, input_signature=[
                tf.TensorSpec([None], tf.string)])
        out = self._outputs(texts)
        return {"tags": [t.decode("utf-8") for t in out["tags"].numpy()],
                "spans": [s.decode("utf-8") for s in out["spans"].numpy()],
                "num_spans": out["num_spans"].numpy()}

    def predict_tag_ids(self, x, batch_size=256):
        """Tag ids per character (NumPy `[B, T]`, 0 on padding) through `network.predict_tags`."""
        return self.network.predict_tags(self.preprocessor.dense(text_tensor(x)).numpy(),
                                         batch_size=batch_size)

    def export(self, path):
        """SavedModel: `serving_default(text: tf.string [None])` → tags, spans, num_spans."""
        from keras_seq.export.tagger_module import TaggerServingModule

        return TaggerServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config()}

