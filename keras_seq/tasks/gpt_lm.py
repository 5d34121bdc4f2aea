"""The `gpt_lm` task: raw text in, continuations of prompts out (GPT-style causal LM).

One preprocessor (`GptLMPreprocessor`: a character or word-piece tokenizer and the training
window length) serves training (the token stream cut into windows in `tf.data`), `predict`,
`generate` and the exported SavedModel, whose graph holds the same tokenizer, the same prompt
preparation and the same decode loop (`GptLM.continue_texts`).
"""


import keras_hub
import numpy as np
import tensorflow as tf

from keras_seq.tasks.task import Task, text_tensor

TOKENIZERS = ("char", "word-piece")
CHAR_VOCABULARIES = ("d2l", "full")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _round_up(n, multiple):
    return int(-(-n // multiple) * multiple)


def tokenizer_from_config(config):
    """A `CharTokenizer` or `WordPieceTextTokenizer` from `GptLMPreprocessor.get_config`'s
    "tokenizer" entry."""
    kind = config.get("type")
    if kind == "char":
        from keras_seq.data.char_tokenizer import CharTokenizer

        return CharTokenizer(config["mode"], config.get("vocabulary"))
    if kind == "word-piece":
        from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer

        return WordPieceTextTokenizer(config["vocabulary"], config.get("lowercase", True))
    raise ValueError(f"`tokenizer` config must have type 'char' or 'word-piece', got "
                     f"type={kind!r}.")


class GptLMPreprocessor:
    """Text → token ids (training stream, prompts) and ids → text, in TensorFlow ops.

    Training text becomes one id stream cut into windows of `sequence_length` next-token
    pairs; a prompt becomes its ids (an empty one the id of " ", or 1 = unknown when " "
    has none), cut to its last `keep` ids so that prompt + continuation fit the model.

    Args:
        tokenizer: a `keras_seq.data.char_tokenizer.CharTokenizer`, a
            `keras_seq.data.word_piece_text_tokenizer.WordPieceTextTokenizer`, or the
            "tokenizer" entry of `get_config()`.
        sequence_length: tokens per training window (the model's context).

    Call arguments:
        texts: `tf.string [B]` (of `prompt_ids(texts, keep)`).
        keep: the most ids kept per prompt (its last ones).

    Returns:
        `prompt_ids`: `tf.RaggedTensor` int32 `[B, (1..keep)]`.

    Example:

    >>> p = GptLMPreprocessor.build_from_text("the time machine", sequence_length=8)
    >>> p.prompt_ids(["The Time!", ""], keep=4).to_list()  # d2l: a-z and space
    [[11, 15, 7, 2], [2]]
    >>> p.detokenize([[22, 10, 7]]).numpy()[0].decode()
    'the'
    """

    def __init__(self, tokenizer, sequence_length=64):
        if isinstance(tokenizer, dict):
            tokenizer = tokenizer_from_config(tokenizer)
        if not all(hasattr(tokenizer, a) for a in ("tokenize", "detokenize", "vocabulary_size")):
            raise ValueError("`tokenizer` must be a CharTokenizer or WordPieceTextTokenizer "
                             f"(or its config), got {type(tokenizer).__name__}.")
        if not _is_int(sequence_length) or sequence_length < 2:
            raise ValueError("`sequence_length` must be an int >= 2, got "
                             f"sequence_length={sequence_length!r}.")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)

    @classmethod
    def build_from_text(cls, text, tokenizer="char", char_vocabulary="d2l",
                        vocabulary_size=2000, sequence_length=64):
        """Learns the tokenizer from `text` (a str or a list of str).

        Args:
            text: the training text.
            tokenizer: "char" or "word-piece".
            char_vocabulary: "d2l" (lower-case a-z + space, nothing to learn) or "full"
                (every character of `text`).
            vocabulary_size: word pieces (reserved tokens included), >= 16.
            sequence_length: tokens per training window.
        """
        text = _joined(text, "text")
        if tokenizer == "word-piece":
            from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer

            if not _is_int(vocabulary_size) or vocabulary_size < 16:
                raise ValueError("`vocabulary_size` must be an int >= 16 for word pieces, got "
                                 f"vocabulary_size={vocabulary_size!r}.")
            return cls(WordPieceTextTokenizer.train(text, vocabulary_size), sequence_length)
        if tokenizer != "char":
            raise ValueError(f"`tokenizer` must be one of {TOKENIZERS}, got "
                             f"tokenizer={tokenizer!r}.")
        from keras_seq.data.char_tokenizer import CharTokenizer

        if char_vocabulary == "full":
            return cls(CharTokenizer("full", CharTokenizer.build_vocabulary(text)),
                       sequence_length)
        if char_vocabulary != "d2l":
            raise ValueError(f"`char_vocabulary` must be one of {CHAR_VOCABULARIES}, got "
                             f"char_vocabulary={char_vocabulary!r}.")
        return cls(CharTokenizer("d2l"), sequence_length)

    @property
    def vocabulary_size(self):
        return self.tokenizer.vocabulary_size

    def token_ids(self, text):
        """1-D int32 numpy ids of a str (a list of str: its items as lines of one text)."""
        return self.tokenizer.tokenize_text(_joined(text, "x")).astype("int32")

    def stream_ids(self, texts):
        """The ids of `texts` (`tf.string`, any shape), each ended by a newline, as one
        1-D int32 tensor (TF ops: for `tf.data`)."""
        texts = tf.strings.join([tf.reshape(texts, [-1]), "\n"])
        return tf.cast(self.tokenizer.tokenize(texts).flat_values, tf.int32)

    def prompt_ids(self, texts, keep):
        """The ragged prompt ids of `texts` (see the class docstring), in TF ops."""
        ragged = tf.cast(self.tokenizer.tokenize(tf.reshape(texts, [-1])), tf.int32)
        # An empty prompt (or one the tokenizer drops) becomes the id of " ", else 1.
        empty = tf.cast(ragged.row_lengths() == 0, tf.int64)
        filler_id = tf.cast(self.tokenizer.tokenize(tf.constant([" "])).flat_values, tf.int32)
        filler_id = tf.concat([filler_id, tf.constant([1], tf.int32)], axis=0)[0]
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], filler_id),
                                                  empty)
        ragged = tf.concat([ragged, filler], axis=1)
        lengths = ragged.row_lengths()
        starts = tf.maximum(lengths - tf.cast(keep, tf.int64), 0)
        return tf.RaggedTensor.from_row_lengths(
            tf.gather(ragged.flat_values, tf.ragged.range(ragged.row_starts() + starts,
                                                          ragged.row_limits()).flat_values),
            lengths - starts)  # each row's last `keep` ids

    def detokenize(self, ids):
        """`tf.string [B]` from ids `[B, T]` (dense or ragged; padding dropped)."""
        return self.tokenizer.detokenize(ids)

    def standardize(self, texts):
        """The texts as the tokenizer sees them (d2l: lower-case letters and spaces)."""
        return self.tokenizer.standardize(texts)

    def describe(self):
        """One line naming the tokens, for logs."""
        tokenizer = self.tokenizer
        if tokenizer.mode == "word-piece":
            return (f"word pieces (WordPiece, {tokenizer.vocabulary_size} ids, lower-case, "
                    "trained on the training part)")
        return (f"characters ({tokenizer.mode}: "
                + ("lower-case a-z + space, other runs -> one space" if tokenizer.mode == "d2l"
                   else "every character kept") + f", {tokenizer.vocabulary_size} ids)")

    def get_config(self):
        tokenizer = self.tokenizer
        if tokenizer.mode == "word-piece":
            config = {"type": "word-piece", "vocabulary": list(tokenizer.vocabulary),
                      "lowercase": tokenizer.lowercase}
        else:
            config = {"type": "char", **tokenizer.get_config()}
        return {"tokenizer": config, "sequence_length": self.sequence_length}


def _joined(text, name):
    if isinstance(text, str):
        return text
    if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
        return "\n".join(text)
    raise ValueError(f"`{name}` must be a str, a list of str or a tf.data.Dataset of strings, "
                     f"got {type(text).__name__}.")


def evaluation_windows(ids, sequence_length):
    """Non-overlapping (x, y) windows `[n, sequence_length]` over the whole stream (offset 0)."""
    n = (len(ids) - 1) // sequence_length
    if n < 1:
        raise ValueError(f"`x` has {len(ids)} tokens; sequence_length={sequence_length} needs "
                         f"at least {sequence_length + 1}.")
    x = ids[: n * sequence_length].reshape(n, sequence_length)
    y = ids[1: n * sequence_length + 1].reshape(n, sequence_length)
    return x.astype("int32"), y.astype("int32")


def build_network(vocabulary_size, sequence_length=64, num_layers=3, num_heads=4,
                  embedding_dim=128, intermediate_dim=512, dropout=0.1, position="learned",
                  post_norm=False, tie_weights=True):
    """The application's `GPTLanguageModel` (built): context = `sequence_length`."""
    from keras_seq.models.gpt_language_model import GPTLanguageModel

    network = GPTLanguageModel(
        vocabulary_size, max_length=sequence_length, num_layers=num_layers,
        num_heads=num_heads, embedding_dim=embedding_dim, intermediate_dim=intermediate_dim,
        dropout=dropout, position=position, norm_first=not post_norm, tie_weights=tie_weights)
    network.build()
    return network


class GptLM(Task):
    """A GPT-style language model of raw text: `GptLMPreprocessor` + `GPTLanguageModel`.

    `fit` trains on raw text (next-token windows, d2l's random sampling); `predict` continues
    prompts by `num_tokens` tokens each (greedy by default), exactly as the export's
    `serving_default`; `generate` fills each prompt up to `max_length` tokens in total
    (keras-hub's meaning) with any sampler.

    Args:
        network: a `keras_seq.models.gpt_language_model.GPTLanguageModel`.
        preprocessor: a `GptLMPreprocessor` (or its config).
        num_tokens: tokens generated per prompt by `predict` and `serving_default`.

    Call arguments:
        x: prompts, a list of str (`predict(x)`, `generate(x, max_length, sampler)`).

    Returns:
        `predict`: `{"generated": list of str, "text": list of str}` (the continuation, and
        prompt + continuation decoded together); `generate`: the continuations.

    Example:

    >>> text = "the time machine by h g wells " * 8
    >>> task = GptLM.from_text(text, sequence_length=16, num_layers=1, num_heads=2,
    ...                        embedding_dim=16, intermediate_dim=32, num_tokens=5)
    >>> _ = task.fit(text, epochs=1, batch_size=4, verbose=0)
    >>> out = task.predict(["the time"])
    >>> sorted(out), out["text"][0].startswith("the time")
    (['generated', 'text'], True)
    >>> len(task.generate(["the time"], max_length=12, jit_compile=False)[0])  # 12 - 8
    4
    """

    stem = "gpt_lm"

    def __init__(self, network, preprocessor, num_tokens=48):
        if isinstance(preprocessor, dict):
            preprocessor = GptLMPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        for name in ("generate_step", "call_with_cache", "max_length", "vocabulary_size"):
            if not hasattr(network, name):
                raise ValueError("`network` must be a GPTLanguageModel (generate_step, "
                                 f"call_with_cache, max_length), got {type(network).__name__}.")
        if network.vocabulary_size != preprocessor.vocabulary_size:
            raise ValueError(
                f"`network` has vocabulary_size={network.vocabulary_size} but the "
                f"`preprocessor`'s tokenizer has {preprocessor.vocabulary_size} ids; expected "
                "the tokenizer it was trained with.")
        if preprocessor.sequence_length > network.max_length:
            raise ValueError(f"the preprocessor's sequence_length="
                             f"{preprocessor.sequence_length} exceeds the network's "
                             f"max_length={network.max_length}.")
        self.num_tokens = self._check_num_tokens(num_tokens, "num_tokens")
        self._functions = {}  # (purpose, sampler, jit) -> (tf.function, sampler)

    @classmethod
    def from_text(cls, text, *, tokenizer="char", char_vocabulary="d2l",
                  vocabulary_size=2000, sequence_length=64, num_layers=3, num_heads=4,
                  embedding_dim=128, intermediate_dim=512, dropout=0.1, position="learned",
                  post_norm=False, tie_weights=True, num_tokens=48):
        """An untrained task with the application's defaults; learns the tokenizer of `text`.

        Args:
            text: the training text (a str or a list of str).
            tokenizer, char_vocabulary, vocabulary_size, sequence_length: see
                `GptLMPreprocessor.build_from_text`.
            num_layers, num_heads, embedding_dim, intermediate_dim: the network's sizes
                (see `GPTLanguageModel`).
            dropout, position, post_norm, tie_weights: the network's options.
            num_tokens: tokens generated per prompt by `predict`.
        """
        preprocessor = GptLMPreprocessor.build_from_text(
            text, tokenizer, char_vocabulary, vocabulary_size, sequence_length)
        network = build_network(
            preprocessor.vocabulary_size, sequence_length, num_layers=num_layers,
            num_heads=num_heads, embedding_dim=embedding_dim,
            intermediate_dim=intermediate_dim, dropout=dropout, position=position,
            post_norm=post_norm, tie_weights=tie_weights)
        return cls(network, preprocessor, num_tokens=num_tokens)

    @property
    def context(self):
        """The most tokens (prompt + continuation) the network reads."""
        return self.network.max_length

    def _check_num_tokens(self, value, name):
        if not _is_int(value) or not 0 < value < self.context:
            raise ValueError(f"`{name}` must be an int in [1, {self.context - 1}] (the "
                             f"network reads {self.context} tokens), got {name}={value!r}.")
        return int(value)

    # ---- training -----------------------------------------------------------------------
    def fit(self, x=None, y=None, *, validation_data=None, **kwargs):
        """Trains on raw text: `x` a str, a list of str or a `tf.data.Dataset` of strings.

        `validation_data` is text like `x`; the other arguments are `Task.fit`'s.
        """
        if isinstance(validation_data, (list, tuple)) and all(
                isinstance(v, str) for v in validation_data):
            validation_data = "\n".join(validation_data)
        return super().fit(x, y, validation_data=validation_data, **kwargs)

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `(x, y)` int32 `[B, sequence_length]`, y the next tokens of x.

        Training (`shuffle`): d2l's random sampling of the id stream (a new offset each
        epoch); otherwise non-overlapping windows from the start. A dataset of strings is
        tokenized in `tf.data` (each string ends a line) and cut into windows; it is read
        once here to count them.
        """
        if y is not None:
            raise ValueError("`y` must be None: a language model learns the next tokens of "
                             f"`x` itself, got y of type {type(y).__name__}.")
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
        length = self.preprocessor.sequence_length
        if isinstance(x, tf.data.Dataset):
            return self._stream_dataset(x, batch_size, shuffle, seed), None
        ids = self.preprocessor.token_ids(x)
        if shuffle:
            from keras_seq.data.sequence_batches import random_sampling_dataset

            need = batch_size * length + length + 1
            if len(ids) < need:
                raise ValueError(
                    f"`x` has {len(ids)} tokens; batch_size={batch_size} x sequence_length="
                    f"{length} needs at least {need} to train. Use more text or smaller "
                    "batches/windows.")
            return random_sampling_dataset(ids, batch_size, length, seed=seed), None
        windows = evaluation_windows(ids, length)
        return tf.data.Dataset.from_tensor_slices(windows).batch(batch_size), None

    def _stream_dataset(self, x, batch_size, shuffle, seed):
        spec = x.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError("`x` must be a tf.data.Dataset of strings, got element_spec "
                             f"{spec}.")
        length = self.preprocessor.sequence_length
        windows = (x.map(self.preprocessor.stream_ids).unbatch()
                   .window(length + 1, shift=length, drop_remainder=True)
                   .flat_map(lambda w: w.batch(length + 1))
                   .map(lambda w: (w[:-1], w[1:])))
        count = int(windows.reduce(0, lambda n, _: n + 1))
        if count == 0:
            raise ValueError(f"`x` holds fewer than sequence_length + 1 = {length + 1} tokens.")
        windows = windows.apply(tf.data.experimental.assert_cardinality(count))
        if shuffle:
            windows = windows.shuffle(min(count, 10000), seed=seed,
                                      reshuffle_each_iteration=True)
        return windows.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def compile(self, total_steps=1, learning_rate=3e-3, jit_compile="auto"):
        """Adam (clipnorm 1) with warm-up + cosine decay, cross-entropy; sets `trainer`."""
        from keras_seq import runtime
        from keras_seq.training.token_classifier import compile_token_classifier

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        self.trainer = compile_token_classifier(
            self.network, learning_rate, max(1, int(total_steps)), jit_compile)
        return self.trainer

    # ---- generation ---------------------------------------------------------------------
    def _decode(self, prompt, slots, sampler):
        """Fills `[prompt | slots]` after each row's prompt: the one call of the network's
        generation (`generate_step`: `build_cache`, then `call_with_cache` in one loop).

        Args:
            prompt: int32 `[B, W]` right-padded prompt ids (each row >= 1 id).
            slots: int32 `[B, S]` zeros: the buffer is `W + S` tokens long.
            sampler: a `keras_hub.samplers.Sampler`.

        Returns:
            int32 `[B, W + S]`: each row's prompt, then generated ids.
        """
        prompt = tf.cast(prompt, tf.int32)
        buffer = tf.concat([prompt, tf.cast(slots, tf.int32)], axis=1)
        # Generation starts after the shortest prompt; longer rows keep their own tokens.
        return self.network.generate_step(prompt, buffer, sampler=sampler)

    def continue_texts(self, texts, num_tokens, sampler):
        """`num_tokens` tokens after each prompt, in TF ops (predict and the SavedModel).

        Each prompt is cut to its last `context - num_tokens` ids.

        Args:
            texts: `tf.string` prompts (any shape; flattened).
            num_tokens: int32 scalar, clipped to [1, context - 1].
            sampler: a `keras_hub.samplers.Sampler`.

        Returns:
            `{"generated": tf.string [B], "text": tf.string [B]}`: the continuation, and the
            prompt ids and the continuation decoded together (the prompt as the tokenizer
            sees it).
        """
        num_tokens = tf.clip_by_value(tf.cast(num_tokens, tf.int32), 1, self.context - 1)
        ragged = self.preprocessor.prompt_ids(texts, self.context - num_tokens)
        prompt = ragged.to_tensor()  # (B, W) right-padded
        tokens = self._decode(prompt, tf.zeros([tf.shape(prompt)[0], num_tokens], tf.int32),
                              sampler)
        lengths = tf.cast(ragged.row_lengths(), tf.int32)
        positions = lengths[:, None] + tf.range(num_tokens)[None, :]  # (B, n)
        continuation = tf.gather(tokens, positions, batch_dims=1)
        # The whole sequence decoded at once (word pieces: "##" glued across the seam).
        whole = tf.concat([ragged, tf.RaggedTensor.from_tensor(continuation)], axis=1)
        return {"generated": self.preprocessor.detokenize(continuation),
                "text": self.preprocessor.detokenize(whole)}

    def _sampler(self, sampler):
        from keras_seq.generation import SAMPLERS, get_sampler

        if isinstance(sampler, keras_hub.samplers.Sampler):
            return id(sampler), sampler
        if not isinstance(sampler, str) or sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {sorted(SAMPLERS)} or a "
                             f"keras_hub.samplers.Sampler, got sampler={sampler!r}.")
        return sampler, get_sampler(sampler)

    def _function(self, purpose, sampler, jit_compile=False):
        key, instance = self._sampler(sampler)
        key = (purpose, key, bool(jit_compile))
        if key not in self._functions:
            if purpose == "continue":
                function = tf.function(
                    lambda texts, n: self.continue_texts(texts, n, instance),
                    autograph=False, input_signature=[tf.TensorSpec([None], tf.string),
                                                      tf.TensorSpec([], tf.int32)])
            else:  # generate: XLA compiles once per (batch, prompt bucket, buffer) shape
                function = tf.function(lambda prompt, slots: self._decode(prompt, slots,
                                                                          instance),
                                       jit_compile=jit_compile, autograph=False)
            self._functions[key] = (function, instance)  # keeps `instance` alive
        return self._functions[key][0]

    def predict(self, x, num_tokens=None, sampler="greedy"):
        """`{"generated": list of str, "text": list of str}`: `serving_default`'s outputs.

        Args:
            x: prompts (a list of str).
            num_tokens: tokens generated after each prompt (default `self.num_tokens`).
            sampler: a name ("greedy", "random", "top_k", "top_p", "beam") or a
                `keras_hub.samplers.Sampler`.
        """
        texts = text_tensor(x)
        num_tokens = self.num_tokens if num_tokens is None else self._check_num_tokens(
            num_tokens, "num_tokens")
        function = self._function("continue", sampler)
        if int(texts.shape[0]) == 0:
            return {"generated": [], "text": []}
        out = function(texts, tf.constant(num_tokens, tf.int32))
        return {k: [s.decode("utf-8", errors="replace") for s in v.numpy()]
                for k, v in out.items()}

    def generate(self, prompts, max_length=None, sampler="greedy", jit_compile="auto"):
        """Continues each prompt until it is `max_length` tokens long; a list of str.

        Args:
            prompts: a list of str. Each is cut to its last `max_length - 1` tokens.
            max_length: the total length in tokens, prompt included (keras-hub's meaning);
                default: the network's context.
            sampler: a name ("greedy", "random", "top_k", "top_p", "beam") or a
                `keras_hub.samplers.Sampler` (e.g. `TopPSampler(p=0.9, temperature=0.8)`).
            jit_compile: XLA for the decode loop ("auto": `runtime.default_jit_compile(
                "inference")`).

        Returns:
            The continuations (the generated text only), one per prompt.
        """
        from keras_seq import runtime

        texts = text_tensor(prompts, "prompts")
        max_length = self.context if max_length is None else max_length
        if not _is_int(max_length) or not 2 <= max_length <= self.context:
            raise ValueError(f"`max_length` must be an int in [2, {self.context}] (prompt + "
                             f"continuation), got max_length={max_length!r}.")
        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("inference")
        function = self._function("generate", sampler, jit_compile)
        if int(texts.shape[0]) == 0:
            return []
        rows = self.preprocessor.prompt_ids(texts, max_length - 1).to_list()
        lengths = [len(r) for r in rows]
        # Buckets (prompt width to 16, buffer to 64) so that few shapes cover every call.
        width = min(_round_up(max(lengths), 16), max_length - 1)
        total = max(min(_round_up(max_length, 64), self.context), max_length)
        prompt = np.zeros((len(rows), width), "int32")
        for i, row in enumerate(rows):
            prompt[i, :len(row)] = row
        tokens = function(prompt, np.zeros((len(rows), total - width), "int32")).numpy()
        continuation = tf.ragged.constant(
            [tokens[i, n:max_length].tolist() for i, n in enumerate(lengths)], tf.int32)
        return [s.decode("utf-8", errors="replace")
                for s in self.preprocessor.detokenize(continuation).numpy()]

    # ---- export -------------------------------------------------------------------------
    def export(self, path):
        """SavedModel: `serving_default(text)` and `generate(prompt, num_tokens, ...)`."""
        from keras_seq.export.gpt_lm_module import GptLMServingModule

        return GptLMServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(), "num_tokens": self.num_tokens}
