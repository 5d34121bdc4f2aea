"""The `translator` task: source strings in, translated strings out (unaligned Seq2Seq).

One preprocessor (`TranslatorPreprocessor`: a source and a target `SequenceTokenizer` with
their maximum lengths) serves training (teacher-forced pairs in `tf.data`), `generate` and
the exported SavedModel, whose graph holds the same tokenizers and the compiled decode loop.
"""


import tensorflow as tf

from keras_seq.data.sequence_tokenizer import SequenceTokenizer
from keras_seq.tasks.task import Task, text_tensor

MODELS = ("seq2seq", "attention", "transformer")
_CHUNK = 4096  # texts tokenized per call (bounded memory on big corpora)


class TranslatorPreprocessor:
    """Source text → source ids; target text → `[START] y [END]` ids; ids → text.

    Args:
        source_tokenizer, target_tokenizer: `SequenceTokenizer`s (or their configs).
        max_source_length: sources are cut to this many tokens.
        max_target_length: at most this many target tokens ([END] included).

    Example:

    >>> p = TranslatorPreprocessor.build_from_pairs(
    ...     [("one cat", "un chat"), ("one dog", "un chien")],
    ...     max_source_length=4, max_target_length=4)
    >>> p.source_ids(["one zebra"]).numpy().tolist()  # 4: "one", the most frequent word
    [[4, 1, 0, 0]]
    """

    def __init__(self, source_tokenizer, target_tokenizer, max_source_length,
                 max_target_length):
        for name, value in (("max_source_length", max_source_length),
                            ("max_target_length", max_target_length)):
            if not isinstance(value, int) or value <= 2:
                raise ValueError(f"`{name}` must be an int > 2, got {name}={value!r}.")
        if isinstance(source_tokenizer, dict):
            source_tokenizer = SequenceTokenizer(**source_tokenizer, name="source_tokenizer")
        if isinstance(target_tokenizer, dict):
            target_tokenizer = SequenceTokenizer(**target_tokenizer, name="target_tokenizer")
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length

    @classmethod
    def build_from_pairs(cls, pairs, vocabulary_size=None, split="word", target_split=None,
                         max_source_length=20, max_target_length=24):
        """Learns both vocabularies (`vocabulary_size` tokens each, at most) from `pairs`."""
        pairs = _pairs(pairs)
        source = SequenceTokenizer.build_from_texts(
            [s for s, _ in pairs], max_tokens=vocabulary_size, split=split,
            name="source_tokenizer")
        target = SequenceTokenizer.build_from_texts(
            [t for _, t in pairs], max_tokens=vocabulary_size, split=target_split or split,
            name="target_tokenizer")
        return cls(source, target, max_source_length, max_target_length)

    def source_ids(self, texts):
        """int32 `[B, max_source_length]` source ids."""
        texts = text_tensor(texts, "texts")
        if int(texts.shape[0]) <= _CHUNK:
            return self.source_tokenizer.tokenize(texts, self.max_source_length)
        return tf.concat([self.source_tokenizer.tokenize(texts[i:i + _CHUNK],
                                                         self.max_source_length)
                          for i in range(0, int(texts.shape[0]), _CHUNK)], axis=0)

    def target_ids(self, texts):
        """int32 `[B, max_target_length + 1]`: `[START] y_1 .. y_n [END]`, then padding."""
        texts = text_tensor(texts, "targets")
        return tf.concat([self.target_tokenizer.tokenize(
            texts[i:i + _CHUNK], self.max_target_length + 1, add_start_end=True)
            for i in range(0, max(1, int(texts.shape[0])), _CHUNK)], axis=0)

    def detokenize(self, ids):
        """Target ids → `tf.string [B]` (stops at [END])."""
        return self.target_tokenizer.detokenize(ids)

    def get_config(self):
        return {"source_tokenizer": self.source_tokenizer.get_config(),
                "target_tokenizer": self.target_tokenizer.get_config(),
                "max_source_length": self.max_source_length,
                "max_target_length": self.max_target_length}


def _pairs(pairs):
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError("`pairs` must be a non-empty list of (source, target) strings.")
    return pairs


def build_network(model, source_vocabulary_size, target_vocabulary_size, max_source_length,
                  max_target_length, embedding_dim=64, hidden_dim=128, num_heads=4,
                  intermediate_dim=128, num_layers=2, dropout=0.1, bidirectional_encoder=False,
                  deep_output_dim=None):
    """The encoder-decoder of `model` ("seq2seq", "attention" or "transformer")."""
    from keras_seq.models import (BahdanauEncoderDecoder, RNNEncoderDecoder,
                                  TransformerEncoderDecoder)

    if model == "seq2seq":
        return RNNEncoderDecoder(source_vocabulary_size, target_vocabulary_size,
                                 embedding_dim=embedding_dim, hidden_dim=hidden_dim,
                                 dropout=dropout)
    if model == "attention":
        return BahdanauEncoderDecoder(
            source_vocabulary_size, target_vocabulary_size, embedding_dim=embedding_dim,
            hidden_dim=hidden_dim, dropout=dropout,
            bidirectional_encoder=bidirectional_encoder, deep_output_dim=deep_output_dim)
    if model == "transformer":
        return TransformerEncoderDecoder(
            source_vocabulary_size, target_vocabulary_size, max_source_length,
            max_target_length + 1, embedding_dim=embedding_dim, num_heads=num_heads,
            intermediate_dim=intermediate_dim, num_layers=num_layers, dropout=dropout)
    raise ValueError(f"`model` must be one of {MODELS}, got model={model!r}.")


class Translator(Task):
    """Translation of raw strings: `TranslatorPreprocessor` + an encoder-decoder.

    Args:
        network: a `keras_seq.models.Seq2SeqModel` (RNN encoder-decoder, RNN + Bahdanau
            attention, or transformer).
        preprocessor: a `TranslatorPreprocessor` (or its config).
        bucket: batch training pairs of similar length together (padded only to the
            longest of the batch).

    Example:

    >>> pairs = [("one", "un"), ("two", "deux"), ("three", "trois")] * 8
    >>> task = Translator.from_pairs(pairs, model="attention", embedding_dim=8,
    ...                              hidden_dim=8, max_source_length=4, max_target_length=4)
    >>> _ = task.fit([s for s, _ in pairs], [t for _, t in pairs], epochs=1, verbose=0)
    >>> len(task.predict(["two"])["translation"])
    1
    """

    stem = "translator"

    def __init__(self, network, preprocessor, bucket=False):
        if isinstance(preprocessor, dict):
            preprocessor = TranslatorPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        self.bucket = bool(bucket)

    @classmethod
    def from_pairs(cls, pairs, *, model="attention", vocabulary_size=None, tokens="word",
                   target_tokens=None, max_source_length=20, max_target_length=24,
                   embedding_dim=64, hidden_dim=128, num_heads=4, intermediate_dim=128,
                   num_layers=2, dropout=0.1, bidirectional_encoder=False,
                   deep_output_dim=None, bucket=None):
        """An untrained translator; learns both vocabularies from `(source, target)` pairs.

        Args:
            pairs: training pairs of strings.
            model: "seq2seq", "attention" (RNN + Bahdanau attention) or "transformer".
            vocabulary_size: tokens per side (None = every token seen).
            tokens: "word", "word-piece" or "character" (the source side, and the target
                side unless `target_tokens` is given).
            bucket: length buckets for training (default: on except for "attention").
            Other arguments: the network's sizes.
        """
        preprocessor = TranslatorPreprocessor.build_from_pairs(
            pairs, vocabulary_size, tokens, target_tokens, max_source_length, max_target_length)
        network = build_network(
            model, preprocessor.source_tokenizer.vocabulary_size,
            preprocessor.target_tokenizer.vocabulary_size, max_source_length,
            max_target_length, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
            num_heads=num_heads, intermediate_dim=intermediate_dim, num_layers=num_layers,
            dropout=dropout, bidirectional_encoder=bidirectional_encoder,
            deep_output_dim=deep_output_dim)
        network.build()
        return cls(network, preprocessor, bucket=model != "attention" if bucket is None
                   else bucket)

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `({"source", "target_in"}, target_out, weights)` from strings.

        `x` are the source strings and `y` their translations (or `x` a list of pairs and
        `y` None). With `bucket` (training only), pairs of similar target length share a
        batch padded to its longest row; the stream is endless and the steps per epoch are
        returned.
        """
        if isinstance(x, tf.data.Dataset):
            raise ValueError("`x` must be source strings (with `y` their translations) or a "
                             "list of (source, target) pairs; datasets are not supported.")
        if y is None:
            pairs = _pairs(x)
            x, y = [s for s, _ in pairs], [t for _, t in pairs]
        source = self.preprocessor.source_ids(x).numpy()
        target = self.preprocessor.target_ids(y).numpy()
        if len(source) != len(target):
            raise ValueError(f"`x` and `y` must have the same length, got {len(source)} and "
                             f"{len(target)}.")
        target_in, target_out = target[:, :-1], target[:, 1:]
        weights = (target_out != 0).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices(
            ({"source": source, "target_in": target_in}, target_out, weights))
        if shuffle:
            ds = ds.shuffle(len(source), seed=seed, reshuffle_each_iteration=True)
        if not (shuffle and self.bucket):
            return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE), None

        def trim(x, y, w):
            s_len = tf.reduce_sum(tf.cast(x["source"] != 0, tf.int32))
            t_len = tf.reduce_sum(tf.cast(y != 0, tf.int32))
            return ({"source": x["source"][:s_len], "target_in": x["target_in"][:t_len]},
                    y[:t_len], w[:t_len])

        boundaries = list(range(4, self.preprocessor.max_target_length + 1, 4))
        # An endless stream (fit gets steps_per_epoch): bucketing makes the batch count unknown.
        ds = ds.repeat().map(trim).bucket_by_sequence_length(
            lambda x, y, w: tf.shape(y)[0], bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1))
        return ds.prefetch(tf.data.AUTOTUNE), -(-len(source) // batch_size)

    def compile(self, total_steps=1, learning_rate=1e-3, label_smoothing=0.0,
                ema_momentum=None, jit_compile="auto"):
        """Adam (clipnorm 1) with warm-up + cosine decay, (label-smoothed) cross-entropy."""
        from keras_seq import runtime
        from keras_seq.training.token_classifier import compile_token_classifier

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        self.trainer = compile_token_classifier(
            self.network, learning_rate, total_steps, jit_compile,
            label_smoothing=label_smoothing, ema_momentum=ema_momentum)
        return self.trainer

    def generate(self, texts, max_length=None, sampler="greedy", batch_size=256,
                 jit_compile="auto"):
        """Translates `texts` with one compiled decode loop per sampler; a list of str.

        Args:
            texts: source strings.
            max_length: target tokens per translation, [START] and [END] included
                (default and maximum: `max_target_length + 1`).
            sampler: a name ("greedy", "beam", "random", "top_k", "top_p") or a
                `keras_hub.samplers.Sampler` (e.g. `keras_seq.generation.get_sampler(
                "beam", num_beams=4, length_penalty=0.6)`).
            batch_size: sentences per decode call.
            jit_compile: XLA for the decode loop ("auto": the inference default).
        """
        return self.decode_ids(self.preprocessor.source_ids(texts).numpy(), sampler,
                               batch_size, jit_compile, max_length=max_length)

    def decode_ids(self, source_ids, sampler="greedy", batch_size=256, jit_compile="auto",
                   max_length=None):
        """As `generate`, from source ids `[B, max_source_length]`."""
        length = self._generate_length(max_length)
        jit = None if jit_compile == "auto" else bool(jit_compile)
        out = []
        for i in range(0, len(source_ids), batch_size):
            # The network's generate: one compiled GenerateRunner per sampler config.
            tokens = self.network.generate(source_ids[i:i + batch_size], length,
                                           sampler=sampler, jit_compile=jit)
            out += [t.decode("utf-8") for t in self.preprocessor.detokenize(tokens).numpy()]
        return out

    def _generate_length(self, max_length):
        limit = self.preprocessor.max_target_length + 1
        if max_length is None:
            return limit
        if isinstance(max_length, bool) or not isinstance(max_length, int) or \
                not 2 <= max_length <= limit:
            raise ValueError(f"`max_length` must be an int in [2, {limit}] (max_target_length "
                             f"+ 1), got max_length={max_length!r}.")
        return max_length

    def predict(self, x, sampler="greedy", batch_size=256):
        """`{"translation": list of str}` for the source strings `x`."""
        texts = text_tensor(x)
        if int(texts.shape[0]) == 0:
            return {"translation": []}
        return {"translation": self.generate(texts, sampler=sampler, batch_size=batch_size)}

    def export(self, path, jit_compile="auto"):
        """SavedModel: `serving_default(text: tf.string [None])` → translation."""
        from keras_seq import runtime
        from keras_seq.export.translator_module import TranslatorServingModule

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("inference")
        return TranslatorServingModule(self, jit_compile=jit_compile).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(), "bucket": self.bucket}

