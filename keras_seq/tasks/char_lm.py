"""The `char_lm` task: raw text in, a character-level RNN language model, continuations out.

One preprocessor (`CharLMPreprocessor`: a `CharTokenizer` and the layout of prompts) serves
training (the text's id stream cut into windows in `tf.data`), `predict`/`generate` and the
exported SavedModel, whose graph holds the same tokenizer and the same decode loop.
"""

import numpy as np
import tensorflow as tf

from keras_seq.data.char_tokenizer import CharTokenizer
# (registers CharLanguageModel with Keras: keras_seq.load reopens it in a fresh process)
from keras_seq.models.char_language_model import CharLanguageModel
from keras_seq.tasks.task import Task, text_tensor

SAMPLINGS = ("random", "sequential")
_BUCKET = 64  # XLA generation: prompt widths and lengths rounded up to multiples of this


class CharLMPreprocessor:
    """Raw text ↔ character ids (0 = padding, 1 = unknown character), and prompt batches.

    Training text becomes one id stream (`ids`); prompts become a left-padded batch
    (`prompt_ids`: each prompt cut to its last `max_sequence_length` characters and
    right-aligned after at least one padding column, an empty prompt read as one space) that
    the RNN reads once before it generates; ids go back to text with `decode`. All of it is
    TensorFlow, so the SavedModel runs the same code.

    Args:
        tokenizer: a `keras_seq.data.char_tokenizer.CharTokenizer`, or its config.
        max_sequence_length: prompts are cut to their last this many characters (reading
            is one RNN step per character).

    Call arguments:
        texts: `tf.string [B]` (or a list of str) for `prompt_ids`; raw text for `ids`.

    Returns:
        `ids`: int32 numpy `[N]`; `prompt_ids`: int32 `[B, W]`; `decode`: `tf.string [B]`.

    Example:

    >>> p = CharLMPreprocessor.build_from_text("abc", tokenizer="full")
    >>> p.prompt_ids(["ab", "c", ""]).numpy().tolist()  # a=2, b=3, c=4, " " = unknown (1)
    [[0, 2, 3], [0, 0, 4], [0, 0, 1]]
    >>> p.decode([[2, 3, 0]]).numpy().tolist()
    [b'ab']
    """

    def __init__(self, tokenizer, max_sequence_length=1024):
        if isinstance(tokenizer, dict):
            tokenizer = CharTokenizer.from_config(tokenizer)
        if not isinstance(tokenizer, CharTokenizer):
            raise ValueError("`tokenizer` must be a CharTokenizer or its config, got "
                             f"{type(tokenizer).__name__}.")
        if not isinstance(max_sequence_length, int) or max_sequence_length <= 0:
            raise ValueError("`max_sequence_length` must be a positive int, got "
                             f"max_sequence_length={max_sequence_length!r}.")
        self.tokenizer = tokenizer
        self.max_sequence_length = max_sequence_length

    @classmethod
    def build_from_text(cls, text, tokenizer="d2l", max_sequence_length=1024):
        """`tokenizer` "d2l" (lower-case a-z and space) or "full" (every character of `text`)."""
        if tokenizer == "d2l":
            return cls(CharTokenizer("d2l"), max_sequence_length)
        if tokenizer != "full":
            raise ValueError(f"`tokenizer` must be 'd2l' or 'full', got tokenizer={tokenizer!r}.")
        vocabulary = CharTokenizer.build_vocabulary(raw_text(text))
        return cls(CharTokenizer("full", vocabulary), max_sequence_length)

    @property
    def vocabulary_size(self):
        """Number of ids (padding and unknown included)."""
        return self.tokenizer.vocabulary_size

    def ids(self, x):
        """The id stream of raw text `x` (see `raw_text`), int32 numpy `[N]`."""
        return self.tokenizer.tokenize_text(raw_text(x)).astype("int32")

    def prompt_ids(self, texts, multiple=1):
        """Left-padded prompt ids int32 `[B, W]`, W a multiple of `multiple` (graph-safe)."""
        ragged = self.tokenizer.tokenize(texts)[:, -self.max_sequence_length:]
        empty = tf.cast(ragged.row_lengths() == 0, tf.int64)
        # An empty prompt becomes one space (the model needs a character to read).
        space = self.tokenizer.tokenize(tf.constant([" "])).flat_values[0]
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], space), empty)
        ragged = tf.concat([ragged, filler], axis=1)
        lengths = ragged.row_lengths()
        width = tf.reduce_max(tf.concat([lengths, [0]], 0)) + 1  # >= 1 padding column
        width = (width + multiple - 1) // multiple * multiple
        pad = width - lengths
        zeros = tf.RaggedTensor.from_row_lengths(tf.zeros([tf.reduce_sum(pad)], tf.int32), pad)
        return tf.concat([zeros, ragged], axis=1).to_tensor()

    def decode(self, ids):
        """Ids `[B, T]` → `tf.string [B]` (padding dropped, unknown ids as U+FFFD)."""
        return self.tokenizer.detokenize(ids)

    def get_config(self):
        return {"tokenizer": self.tokenizer.get_config(),
                "max_sequence_length": self.max_sequence_length}


def raw_text(x, name="x"):
    """One Python str from raw text: a str, a list of str (joined by newlines), or a
    `tf.data.Dataset` of strings (scalars or vectors, joined by newlines)."""
    if isinstance(x, bytes):
        x = x.decode("utf-8", errors="replace")
    if isinstance(x, str):
        text = x
    elif isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError(f"`{name}` must be a tf.data.Dataset of strings, got elements "
                             f"{spec}.")
        parts = []
        for value in x.as_numpy_iterator():
            parts += [v.decode("utf-8", errors="replace")
                      for v in np.asarray(value, dtype=object).reshape(-1)]
        text = "\n".join(parts)
    elif x is None:
        raise ValueError(f"`{name}` must be text (a str, a list of str or a tf.data.Dataset "
                         "of strings), got None.")
    else:
        values = text_tensor(x, name).numpy()
        text = "\n".join(v.decode("utf-8", errors="replace") for v in values)
    if not text:
        raise ValueError(f"`{name}` must hold some text, got none.")
    return text


def build_network(vocabulary_size, cell="lstm", hidden_dim=256, num_layers=1,
                  embedding_dim=32, dropout=0.2, recurrent_dropout=0.0, stateful=False):
    """The `CharLanguageModel` of the task (`embedding_dim` 0 or None: one-hot inputs)."""
    return CharLanguageModel(vocabulary_size, cell=cell, hidden_dim=hidden_dim,
                             num_layers=num_layers, embedding_dim=embedding_dim or None,
                             dropout=dropout, recurrent_dropout=recurrent_dropout,
                             stateful=stateful)


class CharLM(Task):
    """Character-level language model on raw text: `CharLMPreprocessor` + `CharLanguageModel`.

    `fit` trains next-character prediction on windows of `sequence_length` characters of
    the text (`sampling` "random": shuffled windows, zero state per batch; "sequential":
    contiguous rows, for a stateful network's truncated BPTT). `predict` continues prompts
    greedily by `num_chars` characters, as the export's `serving_default` does (same graph
    code); `generate` continues them with any sampler.

    Args:
        network: a `keras_seq.models.CharLanguageModel` over the preprocessor's ids.
        preprocessor: a `CharLMPreprocessor` (or its config).
        sequence_length: characters per training window (BPTT length).
        sampling: "random" or "sequential" (see above).
        num_chars: characters that `predict` and `serving_default` generate.
        stateful_batch_size: the batch size a stateful network carries its state for
            (None for a stateless one).

    Example:

    >>> text = "the time traveller smiled and the machine moved " * 8
    >>> task = CharLM.from_text(text, hidden_dim=8, embedding_dim=4, sequence_length=8,
    ...                         num_chars=5)
    >>> _ = task.fit(text, epochs=1, batch_size=4, verbose=0)
    >>> out = task.predict(["the time"])
    >>> len(out["continuation"][0]) <= 5, out["text"][0].startswith("the time")
    (True, True)
    """

    stem = "char_lm"

    def __init__(self, network, preprocessor, sequence_length=64, sampling="random",
                 num_chars=100, stateful_batch_size=None):
        if isinstance(preprocessor, dict):
            preprocessor = CharLMPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        for name in ("generate_step", "call_with_cache", "reset_rnn_states"):
            if not hasattr(network, name):
                raise ValueError("`network` must be a CharLanguageModel (generate_step, "
                                 f"call_with_cache), got {type(network).__name__}.")
        if network.vocabulary_size != preprocessor.vocabulary_size:
            raise ValueError(
                f"`network` has vocabulary_size={network.vocabulary_size} but `preprocessor` "
                f"has {preprocessor.vocabulary_size} ids; expected the tokenizer it is trained "
                "with.")
        for name, value in (("sequence_length", sequence_length), ("num_chars", num_chars)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
        if sampling not in SAMPLINGS:
            raise ValueError(f"`sampling` must be one of {SAMPLINGS}, got sampling={sampling!r}.")
        if network.stateful and (not isinstance(stateful_batch_size, int)
                                 or stateful_batch_size <= 0):
            raise ValueError("a stateful `network` needs `stateful_batch_size` (the batch size "
                             f"it carries its state for), got {stateful_batch_size!r}.")
        self.sequence_length = sequence_length
        self.sampling = sampling
        self.num_chars = num_chars
        self.stateful_batch_size = stateful_batch_size if network.stateful else None
        self._twin = None  # the stateless copy of a stateful network, for generation
        self._samplers = {}  # sampler name -> instance (its seed state made once)
        self._functions = {}  # (what, sampler, jit) -> tf.function

    @classmethod
    def from_text(cls, text, *, tokenizer="d2l", cell="lstm", hidden_dim=256, num_layers=1,
                  embedding_dim=32, dropout=0.2, recurrent_dropout=0.0, sequence_length=64,
                  sampling="random", stateful=False, batch_size=32, num_chars=100):
        """An untrained task with the char-lm application's defaults.

        Args:
            text: raw text (a str, a list of str or a `tf.data.Dataset` of strings); with
                `tokenizer="full"` its characters are the vocabulary.
            tokenizer: "d2l" (letters lower-cased, everything else one space: 28 symbols)
                or "full" (every character of `text`).
            cell: "elman" (the lecture's cell), "rnn", "gru" or "lstm".
            hidden_dim: units per RNN layer.
            num_layers: stacked RNN layers.
            embedding_dim: character vector size (0: one-hot inputs).
            dropout, recurrent_dropout: dropout rates.
            sequence_length: characters per training window.
            sampling: "random" or "sequential" windows ("sequential" when `stateful`).
            stateful: carry the state across batches (truncated BPTT).
            batch_size: the training batch size of a stateful network.
            num_chars: characters generated by `predict` and `serving_default`.

        Returns:
            The `CharLM`, its network built.
        """
        preprocessor = CharLMPreprocessor.build_from_text(text, tokenizer)
        network = build_network(preprocessor.vocabulary_size, cell, hidden_dim, num_layers,
                                embedding_dim, dropout, recurrent_dropout, stateful)
        task = cls(network, preprocessor, sequence_length,
                   "sequential" if stateful else sampling, num_chars,
                   batch_size if stateful else None)
        task.build_network()
        return task

    @property
    def stateful(self):
        return self.network.stateful

    def build_network(self):
        if not self.network.built:
            self.network(np.ones((self.stateful_batch_size or 1, 1), "int32"))

    # ---- training ---------------------------------------------------------------------
    def windows(self, ids, batch_size=32, shuffle=False, seed=None):
        """`tf.data.Dataset` of `(x, y)` int32 `[batch_size, sequence_length]`, y = x shifted.

        Training (`shuffle`) draws a new offset each epoch; `sampling` "random" shuffles
        the windows, "sequential" keeps each batch row continuing the previous batch's.
        Without `shuffle` the offset is 0 and the windows' order is fixed (seed 0 unless
        `seed` is given).
        """
        from keras_seq.data.sequence_batches import random_sampling_dataset, sequential_dataset

        need = batch_size * self.sequence_length + self.sequence_length + 1
        if len(ids) < need:
            raise ValueError(f"the text has {len(ids)} characters; batch_size={batch_size} x "
                             f"sequence_length={self.sequence_length} needs at least {need}.")
        seed = 0 if seed is None and not shuffle else seed
        if self.sampling == "sequential":
            return sequential_dataset(ids, batch_size, self.sequence_length,
                                      seed=seed if shuffle else None, random_offset=shuffle)
        return random_sampling_dataset(ids, batch_size, self.sequence_length, seed=seed,
                                       random_offset=shuffle)

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """The windows (`windows`) of raw text `x`; `y` must be None (the text is its own
        target)."""
        if y is not None:
            raise ValueError("`y` must be None: a language model's targets are its text "
                             f"shifted by one character, got y of type {type(y).__name__}.")
        return self.windows(self.preprocessor.ids(x), batch_size, shuffle, seed), None

    def fit(self, x=None, y=None, *, validation_data=None, epochs=1, batch_size=32,
            callbacks=None, verbose="auto", seed=None, **compile_kwargs):
        """Trains next-character prediction on raw text; compiles with the defaults first.

        Args:
            x: raw text (a str, a list of str or a `tf.data.Dataset` of strings).
            y: must be None.
            validation_data: raw text like `x`, or None.
            epochs, batch_size, callbacks, verbose, seed: as `keras.Model.fit`.
            **compile_kwargs: passed to `compile` when the task is not compiled yet.

        Returns:
            The Keras `History`.
        """
        from keras_seq.callbacks.reset_rnn_states import ResetRNNStates

        if self.stateful and batch_size != self.stateful_batch_size:
            raise ValueError(f"a stateful task trains with the batch size its state is built "
                             f"for ({self.stateful_batch_size}), got batch_size={batch_size}.")
        train, _ = self.dataset(x, y, batch_size, shuffle=True, seed=seed)
        val = None if validation_data is None else self.dataset(validation_data,
                                                                batch_size=batch_size)[0]
        if self.trainer is None:
            self.compile(total_steps=max(1, int(train.cardinality()) * epochs),
                         **compile_kwargs)
        callbacks = [*([ResetRNNStates()] if self.stateful else []), *(callbacks or [])]
        return self.trainer.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks,
                                verbose=verbose, shuffle=False)

    def evaluate(self, x=None, y=None, batch_size=32):
        """`{"loss", "perplexity", "bits_per_char"}` of the windows of raw text `x`."""
        import math

        self.network.reset_rnn_states()
        loss = super().evaluate(x, y, batch_size)["loss"]
        self.network.reset_rnn_states()
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)),
                "bits_per_char": loss / math.log(2.0)}

    def compile(self, total_steps=1, learning_rate=3e-3, lr_decay="cosine", clip_norm=1.0,
                jit_compile="auto"):
        """Adam (global-norm clipping), cosine decay to 5%, next-character cross-entropy.

        Args:
            total_steps: training steps of the cosine schedule.
            learning_rate: peak learning rate.
            lr_decay: "cosine" or "none".
            clip_norm: gradient clipping by global norm (0 or None = off).
            jit_compile: XLA for the train step (True/False or "auto").
        """
        import keras

        from keras_seq import runtime

        if lr_decay not in ("cosine", "none"):
            raise ValueError(f"`lr_decay` must be 'cosine' or 'none', got lr_decay={lr_decay!r}.")
        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        rate = learning_rate
        if lr_decay == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=max(1, total_steps), alpha=0.05)
        self.network.compile(optimizer=keras.optimizers.Adam(rate,
                                                             global_clipnorm=clip_norm or None),
                             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                             jit_compile=jit_compile)
        self.trainer = self.network
        return self.trainer

    # ---- generation -------------------------------------------------------------------
    def generation_network(self):
        """The network that generates: the network itself, or (stateful) its stateless twin
        with the current weights."""
        if not self.stateful:
            return self.network
        if self._twin is None:
            self._twin = self.network.stateless_copy()
        else:
            self._twin.set_weights(self.network.get_weights())
        return self._twin

    def _generate_ids(self, network, ids, num_new, sampler):
        """The ONE call of the network's generation (`generate_step`: cache, then one loop).

        Args:
            network: `generation_network()`.
            ids: int32 `[B, W]` from `prompt_ids` (left-padded; column 0 is padding).
            num_new: characters to generate (int or int32 scalar tensor).
            sampler: a `keras_hub.samplers.Sampler`.

        Returns:
            int32 `[B, W + num_new]`: the prompts as given, then the generated ids.
        """
        # The generative contract takes right-padded prompts: move each row's ids left.
        # (A roll by each row's padding: XLA compiles it, unlike ragged ops.)
        width = tf.shape(ids)[1]
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1)  # [B]
        shift = (tf.range(width)[None, :] + (width - lengths)[:, None]) % width
        prompt = tf.gather(ids, shift, batch_dims=1)  # right-padded [B, W]
        buffer = tf.zeros([tf.shape(ids)[0], width + num_new], tf.int32)
        tokens = network.generate_step(prompt, buffer, sampler=sampler)
        positions = lengths[:, None] + tf.range(num_new)[None, :]  # [B, num_new]
        generated = tf.gather(tf.cast(tokens, tf.int32), positions, batch_dims=1)
        return tf.concat([ids, generated], axis=1)

    def _continue(self, network, texts, num_new, sampler):
        """`{"continuation", "text"}` string tensors: the graph of `serving_default`."""
        ids = self.preprocessor.prompt_ids(texts)
        tokens = self._generate_ids(network, ids, num_new, sampler)
        continuation = self.preprocessor.decode(tokens[:, tf.shape(ids)[1]:])
        return {"continuation": continuation,
                "text": tf.strings.join([self.preprocessor.decode(ids), continuation])}

    def _sampler(self, sampler):
        from keras_seq.generation import SAMPLERS, get_sampler

        if isinstance(sampler, str):
            if sampler not in SAMPLERS:
                raise ValueError(f"`sampler` must be one of {sorted(SAMPLERS)} or a "
                                 f"keras_hub.samplers.Sampler, got sampler={sampler!r}.")
            if sampler not in self._samplers:
                self._samplers[sampler] = get_sampler(sampler)
            return self._samplers[sampler]
        import keras_hub

        if not isinstance(sampler, keras_hub.samplers.Sampler):
            raise ValueError(f"`sampler` must be one of {sorted(SAMPLERS)} or a "
                             f"keras_hub.samplers.Sampler, got {type(sampler).__name__}.")
        return sampler

    def predict(self, x, num_chars=None):
        """Greedy continuations of the prompts `x`, as the export's `serving_default`.

        Args:
            x: a list of prompt strings.
            num_chars: characters to generate (default `self.num_chars`).

        Returns:
            `{"continuation": list of str, "text": list of str}`; `text` is the prompt as
            the model reads it (standardized; "" becomes " ") followed by its continuation.
        """
        texts = text_tensor(x)
        num_chars = self.num_chars if num_chars is None else num_chars
        if not isinstance(num_chars, int) or num_chars <= 0:
            raise ValueError(f"`num_chars` must be a positive int, got num_chars={num_chars!r}.")
        if int(texts.shape[0]) == 0:
            return {"continuation": [], "text": []}
        network, sampler = self.generation_network(), self._sampler("greedy")
        key = ("predict", num_chars)
        if key not in self._functions:  # graph mode without XLA, like the SavedModel
            self._functions[key] = tf.function(
                lambda t: self._continue(network, t, num_chars, sampler), autograph=False,
                input_signature=[tf.TensorSpec([None], tf.string)])
        out = self._functions[key](texts)
        return {k: [s.decode("utf-8") for s in v.numpy()] for k, v in out.items()}

    def generate(self, prompts, max_length=None, sampler="greedy", jit_compile="auto"):
        """Continues prompts; one compiled decode loop per sampler.

        Args:
            prompts: a str, or a list of str.
            max_length: total characters, prompt (as read, at least 1) + continuation
                (keras-hub's meaning); None: `num_chars` new characters per prompt.
            sampler: "greedy", "random", "top_k", "top_p", "beam", or a
                `keras_hub.samplers.Sampler` (e.g. `RandomSampler(temperature=0.8)`).
            jit_compile: XLA for the loop ("auto": `runtime.default_jit_compile("inference")`;
                prompt widths and lengths are rounded up to multiples of 64 so it compiles
                once per bucket).

        Returns:
            The continuation (a str) of a str prompt, or a list of them.
        """
        from keras_seq import runtime

        single = isinstance(prompts, (str, bytes))
        texts = text_tensor([prompts] if single else prompts, "prompts")
        if max_length is not None and (not isinstance(max_length, int)
                                       or isinstance(max_length, bool) or max_length <= 0):
            raise ValueError("`max_length` must be a positive int (total characters) or None, "
                             f"got max_length={max_length!r}.")
        sampler = self._sampler(sampler)
        if int(texts.shape[0]) == 0:
            return []
        jit = runtime.default_jit_compile("inference") if jit_compile == "auto" \
            else bool(jit_compile)
        ids = self.preprocessor.prompt_ids(texts, _BUCKET if jit else 1)
        lengths = tf.math.count_nonzero(ids, axis=1, dtype=tf.int32).numpy()
        wanted = (np.full(len(lengths), self.num_chars) if max_length is None
                  else np.maximum(0, max_length - lengths))
        out = [""] * len(lengths)
        if wanted.max() > 0:
            num_new = int(-(-wanted.max() // _BUCKET) * _BUCKET) if jit else int(wanted.max())
            key = ("generate", id(sampler), jit, num_new)
            if key not in self._functions:
                self._functions[key] = tf.function(
                    lambda network, ids: self._generate_ids(network, ids, num_new, sampler),
                    jit_compile=jit, autograph=False)
            tokens = self._functions[key](self.generation_network(), ids).numpy()
            width = ids.shape[1]
            rows = tf.ragged.constant([t[width:width + n].tolist()
                                       for t, n in zip(tokens, wanted)], dtype=tf.int32,
                                      ragged_rank=1)
            out = [s.decode("utf-8") for s in self.preprocessor.decode(rows).numpy()]
        return out[0] if single else out

    def export(self, path):
        """SavedModel: `serving_default(text)` and `generate(prompt, num_chars, temperature)`
        → `{"continuation", "text"}` (see `CharLMServingModule`)."""
        from keras_seq.export.char_lm_module import CharLMServingModule

        return CharLMServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(),
                "sequence_length": self.sequence_length, "sampling": self.sampling,
                "num_chars": self.num_chars, "stateful_batch_size": self.stateful_batch_size}
