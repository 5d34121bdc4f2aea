"""The `bert_mlm` task: raw text in, a BERT-style masked LM; fill-mask candidates out.

One preprocessor (`BertMLMPreprocessor`: lower-cased word pieces, `[CLS] A [SEP] B [SEP]`
packing, BERT's 80/10/10 masker) serves training (consecutive sentence pairs in `tf.data`),
`predict`/`fill_mask` and the exported SavedModel, whose graph is the task's own fill-mask
function (`BertMLM.fill_mask_graph`).
"""

import numpy as np
import tensorflow as tf

from keras_seq.data.masked_lm_pipeline import mask_batches, split_sentences
from keras_seq.data.word_pieces import (CLS_ID, MASK_ID, RESERVED_TOKENS, SEP_ID,
                                        make_word_piece_tokenizer, train_word_piece_vocabulary)
from keras_seq.tasks.task import Task, text_tensor

_CHUNK = 1024  # sentences tokenized per call


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {name}={value!r}.")
    return int(value)


def _sentences(x, name="x"):
    """Raw text → sentences in reading order: a str is split; a list is taken as sentences."""
    if isinstance(x, bytes):
        x = x.decode("utf-8")
    if isinstance(x, str):
        return split_sentences(x)
    if isinstance(x, tf.data.Dataset):
        raise ValueError(f"`{name}` must not be a tf.data.Dataset here.")
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v)
            for v in text_tensor(x, name).numpy()]


class BertMLMPreprocessor:
    """Raw text ↔ BERT inputs: word pieces, `[CLS] A [SEP] B [SEP]` packing, the masker.

    * `pack(first, second)`: word-piece ids of two `tf.string [B]` sentences packed as
      `[CLS] A [SEP] B [SEP]` (round-robin truncation to `sequence_length`, padded with 0)
      and segment ids 0 / 1;
    * `encode(texts)`: a text "A [SEP] B" is split at its first "[SEP]" and packed as a pair
      (without "[SEP]": `[CLS] A [SEP]`); "[MASK]" in a text stays one token;
    * `dataset(x)`: consecutive sentence pairs of raw text, packed once, then masked per batch
      (15% of the non-reserved tokens: 80% [MASK], 10% a random piece, 10% kept).

    Args:
        vocabulary: the word pieces, `keras_seq.data.word_pieces.RESERVED_TOKENS` first.
        sequence_length: word pieces per packed input (>= 8).
        mask_rate: share of the non-reserved tokens selected for the loss, in (0, 1).
        lowercase: lower-case the text before splitting (as the vocabulary was learnt).

    Call arguments (`encode`):
        texts: `tf.string [B]`.

    Returns:
        `encode`: a dict of int32 `token_ids`, `segment_ids` `[B, sequence_length]` and the
        bool `padding_mask`.

    Example:

    >>> p = BertMLMPreprocessor.build_from_texts(["the time machine. the time traveller."] * 40,
    ...                                          vocabulary_size=60, sequence_length=8)
    >>> ids = p.encode(["the [MASK] machine [SEP] time"])["token_ids"].numpy()[0]
    >>> [p.vocabulary[i] for i in ids]
    ['[CLS]', 'the', '[MASK]', 'machine', '[SEP]', 'time', '[SEP]', '[PAD]']
    """

    def __init__(self, vocabulary, sequence_length=64, mask_rate=0.15, lowercase=True):
        import keras_hub

        vocabulary = [str(t) for t in vocabulary]
        if vocabulary[:len(RESERVED_TOKENS)] != list(RESERVED_TOKENS) or \
                len(vocabulary) <= len(RESERVED_TOKENS):
            raise ValueError(f"`vocabulary` must start with {list(RESERVED_TOKENS)} and hold a "
                             f"word piece after them, got {vocabulary[:8]!r}.")
        self.sequence_length = _positive_int("sequence_length", sequence_length, 8)
        if not isinstance(mask_rate, (int, float)) or not 0.0 < mask_rate < 1.0:
            raise ValueError(f"`mask_rate` must be in (0, 1), got mask_rate={mask_rate!r}.")
        self.mask_rate = float(mask_rate)
        self.lowercase = bool(lowercase)
        self.vocabulary = vocabulary
        self.tokenizer = make_word_piece_tokenizer(vocabulary, lowercase=self.lowercase)
        self.packer = keras_hub.layers.MultiSegmentPacker(
            self.sequence_length, start_value=CLS_ID, end_value=SEP_ID, pad_value=0,
            truncate="round_robin")
        # P: masked slots per row (1.5x the expected number, +1), as `mask_tokens`.
        self.max_selections = int(-(-1.5 * self.mask_rate * self.sequence_length // 1)) + 1

    @classmethod
    def build_from_texts(cls, x, vocabulary_size=2000, sequence_length=64, mask_rate=0.15,
                         lowercase=True):
        """Learns a word-piece vocabulary (`vocabulary_size` pieces at most, reserved ones
        included) from raw text: a str, a list of sentences or a dataset of strings."""
        _positive_int("vocabulary_size", vocabulary_size, len(RESERVED_TOKENS) + 1)
        texts = x if isinstance(x, tf.data.Dataset) else _sentences(x)
        if not isinstance(texts, tf.data.Dataset) and not any(t.strip() for t in texts):
            raise ValueError("`x` must hold some non-blank text to learn word pieces from.")
        vocabulary = train_word_piece_vocabulary(texts, vocabulary_size, lowercase=lowercase)
        return cls(vocabulary, sequence_length, mask_rate, lowercase)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def pack(self, first, second=None):
        """`(token_ids, segment_ids)` int32 `[B, sequence_length]` of `tf.string [B]`."""
        segments = ((self.tokenizer(first),) if second is None
                    else self._tokenize_pair(first, second))
        return self._pack_pieces(segments)

    def _tokenize_pair(self, first, second):
        # One tokenizer call for both sentences: its graph is large (an export, a predict
        # and each dataset trace it; a trace costs seconds).
        pieces = self.tokenizer(tf.concat([first, second], 0))
        n = tf.shape(first)[0]
        return pieces[:n], pieces[n:]

    def _pack_pieces(self, segments):
        token_ids, segment_ids = self.packer(segments)
        return tf.cast(token_ids, tf.int32), tf.cast(segment_ids, tf.int32)

    def encode(self, texts):
        """The model's inputs (without `mask_positions`) of texts "A" or "A [SEP] B"."""
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        parts = tf.strings.split(texts, sep="[SEP]", maxsplit=1)  # ragged (N, 1|2)
        has_pair = parts.row_lengths() > 1
        dense = parts.to_tensor(default_value="", shape=[None, 2])
        first, second = self._tokenize_pair(dense[:, 0], dense[:, 1])
        pair_ids, pair_segments = self._pack_pieces((first, second))
        single_ids, single_segments = self._pack_pieces((first,))
        ids = tf.where(has_pair[:, None], pair_ids, single_ids)
        segments = tf.where(has_pair[:, None], pair_segments, single_segments)
        return {"token_ids": ids, "segment_ids": segments, "padding_mask": ids != 0}

    def dataset(self, x, batch_size=32, shuffle=False, seed=0):
        """Masked-LM batches `(features, mask_ids, mask_weights)` of consecutive sentence
        pairs `[CLS] s_i [SEP] s_(i+1) [SEP]` of raw text `x`.

        `x` is a str (split into sentences), a list of sentences in reading order, or a
        `tf.data.Dataset` of sentences. With `shuffle` (training) the pairs are reshuffled
        and re-masked every epoch; without it the masks are the same every epoch.
        """
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string or spec.shape.rank:
                raise ValueError("`x` must be a tf.data.Dataset of scalar tf.string sentences, "
                                 f"got elements {spec}.")
            sentences, count = x, int(x.cardinality())
            count = count if count >= 0 else None
        else:
            values = _sentences(x)
            sentences, count = tf.data.Dataset.from_tensor_slices(
                tf.constant(values, tf.string, shape=[len(values)])), len(values)
        if count is not None and count < 2:
            raise ValueError(f"`x` must hold at least 2 sentences (consecutive sentences are "
                             f"paired), got {count}.")
        pairs = tf.data.Dataset.zip((sentences, sentences.skip(1)))
        packed = pairs.batch(_CHUNK).map(self.pack).unbatch()  # tokenized once (cached)
        if count is not None:
            packed = packed.apply(tf.data.experimental.assert_cardinality(count - 1))
        packed = packed.cache()
        if shuffle:
            packed = packed.shuffle(min(count or 10000, 10000), seed=seed,
                                    reshuffle_each_iteration=True)
        return mask_batches(packed.batch(batch_size), self.vocabulary_size,
                            mask_rate=self.mask_rate, max_selections=self.max_selections,
                            seed=seed or 0, fixed_masks=not shuffle, cache=not shuffle)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "sequence_length": self.sequence_length,
                "mask_rate": self.mask_rate, "lowercase": self.lowercase}


class BertMLM(Task):
    """A BERT-style masked LM on raw text: `BertMLMPreprocessor` + `MaskedLanguageModel`.

    `fit(x)` trains on raw text (no targets: the masked pieces are the targets);
    `fill_mask(texts, top_k)` returns, for each "[MASK]" of each text, the `top_k` most
    probable word pieces p(w | text, j) = softmax(logits_j)[w] over the non-reserved pieces,
    and the text with every [MASK] replaced by its best piece; `predict(texts)` is
    `fill_mask(texts, self.top_k)`, the export's `serving_default`.

    Args:
        network: a `keras_seq.models.MaskedLanguageModel` over the preprocessor's vocabulary.
        preprocessor: a `BertMLMPreprocessor` (or its config).
        top_k: candidates per [MASK] of `predict` and of the export's `serving_default`.

    Example:

    >>> text = "The time machine was late. The time traveller smiled. " * 30
    >>> task = BertMLM.from_text(text, vocabulary_size=60, sequence_length=16, num_layers=1,
    ...                          num_heads=2, embedding_dim=16, intermediate_dim=32, top_k=2)
    >>> _ = task.fit(text, epochs=1, verbose=0)
    >>> out = task.predict(["the time [MASK] was late."])
    >>> sorted(out), out["num_masks"].tolist(), len(out["candidates"][0][0])
    (['candidates', 'filled', 'num_masks', 'probabilities'], [1], 2)
    """

    stem = "bert_mlm"

    def __init__(self, network, preprocessor, top_k=5):
        if isinstance(preprocessor, dict):
            preprocessor = BertMLMPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        if getattr(network, "vocabulary_size", None) != preprocessor.vocabulary_size:
            raise ValueError(f"`network` must predict the preprocessor's "
                             f"{preprocessor.vocabulary_size} word pieces, got vocabulary_size="
                             f"{getattr(network, 'vocabulary_size', None)!r}.")
        self.top_k = _positive_int("top_k", top_k)
        self._fill_function = None

    @classmethod
    def from_text(cls, text, *, vocabulary_size=2000, sequence_length=64, mask_rate=0.15,
                  num_layers=2, num_heads=4, embedding_dim=128, intermediate_dim=512,
                  dropout=0.1, top_k=5):
        """An untrained task with the application's defaults; learns the word pieces of `text`.

        Args:
            text: raw training text: a str, a list of sentences or a dataset of strings.
            vocabulary_size: word pieces at most, the 7 reserved ones included.
            sequence_length: word pieces per `[CLS] A [SEP] B [SEP]` input.
            mask_rate: share of the tokens selected for the loss.
            num_layers, num_heads, embedding_dim, intermediate_dim, dropout: the encoder.
            top_k: candidates per [MASK] of `predict`.
        """
        from keras_seq.models import MaskedLanguageModel

        preprocessor = BertMLMPreprocessor.build_from_texts(text, vocabulary_size,
                                                            sequence_length, mask_rate)
        if embedding_dim % num_heads:
            raise ValueError(f"`embedding_dim` must be a multiple of `num_heads`, got "
                             f"embedding_dim={embedding_dim} and num_heads={num_heads}.")
        network = MaskedLanguageModel(
            preprocessor.vocabulary_size, sequence_length=sequence_length,
            num_layers=num_layers, num_heads=num_heads, embedding_dim=embedding_dim,
            intermediate_dim=intermediate_dim, dropout=dropout)
        network.build()
        return cls(network, preprocessor, top_k=top_k)

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Masked-LM batches of raw text `x` (see `BertMLMPreprocessor.dataset`)."""
        if y is not None:
            raise ValueError("`y` must be None: a masked LM's targets are the masked pieces "
                             f"of `x`, got y of type {type(y).__name__}.")
        return self.preprocessor.dataset(x, batch_size, shuffle=shuffle, seed=seed), None

    def compile(self, total_steps=1, learning_rate=2e-3, weight_decay=0.01,
                jit_compile="auto"):
        """AdamW (clipnorm 1) with linear warm-up and cosine decay, masked-token loss,
        accuracy and perplexity weighted by `mask_weights`; sets `trainer`.

        Args:
            total_steps: training steps of the schedule (warm-up: 10%, at most 1000).
            learning_rate: peak learning rate.
            weight_decay: AdamW's decoupled weight decay.
            jit_compile: XLA for the train step (True/False, or "auto":
                `keras_seq.runtime.default_jit_compile("train")`).
        """
        import keras
        import keras_hub

        from keras_seq import runtime

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        total_steps = max(1, int(total_steps))
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total_steps, warmup_target=learning_rate,
            warmup_steps=min(1000, max(1, total_steps // 10)), alpha=0.05)
        self.network.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay, clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                              keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")],
            jit_compile=jit_compile)
        self.trainer = self.network
        return self.trainer

    # ---- fill-mask: one graph for predict and the export ---------------------------------
    def fill_mask_graph(self, text, k):
        """The fill-mask computation (TensorFlow ops) shared by `fill_mask` and the export.

        Args:
            text: `tf.string [N]`.
            k: int32 scalar, candidates per [MASK] (clipped to [1, non-reserved pieces]).

        Returns:
            `{"filled": string [N], "candidates": string [N, M, k], "probabilities":
            float32 [N, M, k], "num_masks": int32 [N]}`, M = the most [MASK]s of a text (at
            least 1); unused slots hold "" and 0; a text without [MASK] comes back unchanged
            (as word pieces, lower-cased).
        """
        vocabulary = tf.constant(self.preprocessor.vocabulary)
        reserved = len(RESERVED_TOKENS)
        features = self.preprocessor.encode(text)
        ids = features["token_ids"]  # (N, T)
        where = tf.where(tf.equal(ids, MASK_ID))  # (K, 2): row, position
        positions = tf.RaggedTensor.from_value_rowids(
            tf.cast(where[:, 1], tf.int32), where[:, 0],
            nrows=tf.shape(ids, out_type=tf.int64)[0])
        num_masks = tf.cast(positions.row_lengths(), tf.int32)  # (N,)
        width = tf.maximum(tf.reduce_max(tf.concat([num_masks, [0]], 0)), 1)
        mask_positions = positions.to_tensor(default_value=0)
        mask_positions = tf.pad(mask_positions,
                                [[0, 0], [0, width - tf.shape(mask_positions)[1]]])  # (N, M)
        used = tf.range(width)[None, :] < num_masks[:, None]  # (N, M)
        logits = self.network({**features, "mask_positions": mask_positions}, training=False)
        penalty = tf.where(tf.range(len(self.preprocessor.vocabulary)) < reserved, -1e9, 0.0)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32) + penalty, axis=-1)  # (N, M, V)
        k = tf.clip_by_value(tf.cast(k, tf.int32), 1, len(self.preprocessor.vocabulary)
                             - reserved)
        top_probs, top_ids = tf.math.top_k(probs, k=k)  # (N, M, k)
        candidates = tf.where(used[..., None], tf.gather(vocabulary, top_ids), "")
        top_probs = tf.where(used[..., None], top_probs, 0.0)
        # The filled text: [MASK] -> best candidate, then the pieces back to words.
        best = tf.where(used, top_ids[:, :, 0], 0)  # (N, M)
        rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(best))
        index = tf.boolean_mask(tf.stack([rows, mask_positions], -1), used)
        filled_ids = tf.tensor_scatter_nd_update(ids, index, tf.boolean_mask(best, used))
        body = tf.RaggedTensor.from_tensor(filled_ids, padding=0)[:, 1:-1]  # no [CLS], last [SEP]
        filled = self.preprocessor.tokenizer.detokenize(body)
        return {"filled": tf.reshape(filled, [-1]), "candidates": candidates,
                "probabilities": top_probs, "num_masks": num_masks}

    def fill_mask(self, texts, top_k=5, batch_size=64):
        """The `top_k` candidate pieces of each [MASK] of each text, as the export's
        `fill_mask(text, k)` signature.

        Args:
            texts: a list of str (each may hold "[MASK]"s and one "[SEP]").
            top_k: positive int, candidates per [MASK].
            batch_size: texts per call of the network.

        Returns:
            `{"filled": list of str, "candidates": nested lists of str [N][M][top_k],
            "probabilities": float32 [N, M, top_k], "num_masks": int32 [N]}`, M = the most
            [MASK]s of a text (at least 1); unused slots hold "" and 0.
        """
        top_k = _positive_int("top_k", top_k)
        _positive_int("batch_size", batch_size)
        texts = text_tensor(texts, "texts")
        top_k = min(top_k, self.preprocessor.vocabulary_size - len(RESERVED_TOKENS))
        if self._fill_function is None:
            self._fill_function = tf.function(
                self.fill_mask_graph, autograph=False,
                input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32)])
        outs = [self._fill_function(texts[i:i + batch_size], tf.constant(top_k, tf.int32))
                for i in range(0, int(texts.shape[0]), batch_size)]
        width = max([int(o["candidates"].shape[1]) for o in outs] + [1])

        def padded(o, key, value):
            array = o[key].numpy()
            return np.pad(array, [(0, 0), (0, width - array.shape[1]), (0, 0)],
                          constant_values=value)

        candidates = [row.tolist() for o in outs for row in padded(o, "candidates", b"")]
        return {
            "filled": [t.decode("utf-8") for o in outs for t in o["filled"].numpy()],
            "candidates": [[[t.decode("utf-8") for t in m] for m in row] for row in candidates],
            "probabilities": np.concatenate(
                [padded(o, "probabilities", 0.0) for o in outs]
                or [np.zeros([0, width, top_k])]).astype("float32"),
            "num_masks": np.concatenate([o["num_masks"].numpy() for o in outs]
                                        or [np.zeros([0])]).astype("int32")}

    def predict(self, x, batch_size=64):
        """`fill_mask(x, self.top_k)`: the outputs of the export's `serving_default`."""
        return self.fill_mask(x, self.top_k, batch_size)

    def export(self, path):
        """SavedModel: `serving_default(text)` and `fill_mask(text, k)` (see
        `keras_seq.export.bert_mlm_module`)."""
        from keras_seq.export.bert_mlm_module import BertMLMServingModule

        return BertMLMServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(), "top_k": self.top_k}
