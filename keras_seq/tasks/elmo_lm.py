"""The `elmo_lm` task: raw text in, contextual word embeddings and neighbour words out.

One preprocessor (`ElmoLMPreprocessor`: a `WordTokenizer` and the longest text it reads)
serves training (inside `tf.data`), `predict` / `embed` and the exported SavedModel; the
outputs of `predict` and `embed` are computed by the same two TensorFlow functions that the
export's `serving_default` and `embed` signatures trace.
"""

import json
import pathlib

import numpy as np
import tensorflow as tf

import keras
from keras_seq.data.word_tokenizer import MODES, WordTokenizer
from keras_seq.tasks.task import Task, text_tensor

_CHUNK = 4096  # texts tokenized per call (bounded memory on big corpora)


class ElmoLMPreprocessor:
    """Raw text → word ids (0 = padding, 1 = unknown) and tokens, with TensorFlow ops.

    `ids = tokenizer.tokenize(text)[:, :max_sequence_length]`, right-padded with 0 to the
    longest text of the batch (at least one step); the tokens are padded with "".

    Args:
        vocabulary: the tokens without "" and "[UNK]", most frequent first.
        mode: the `WordTokenizer` mode: "words" (words and punctuation) or "review" (the
            IMDB classifier's tokenization).
        max_sequence_length: texts are cut to their first this many tokens (predict, embed
            and the export; training windows are `ElmoLM.sequence_length` long).

    Call arguments:
        texts: `tf.string [B]` (or a list of str).

    Returns:
        `(ids int32 [B, T >= 1], tokens tf.string [B, T])`.

    Example:

    >>> p = ElmoLMPreprocessor.build_from_text("The cat. The dog!", vocabulary_size=8)
    >>> ids, tokens = p(["The bird!"])
    >>> ids.numpy().tolist(), tokens.numpy().tolist()
    ([[2, 1, 3]], [[b'the', b'bird', b'!']])
    """

    def __init__(self, vocabulary, mode="words", max_sequence_length=512):
        if not isinstance(max_sequence_length, int) or max_sequence_length <= 0:
            raise ValueError("`max_sequence_length` must be a positive int, got "
                             f"max_sequence_length={max_sequence_length!r}.")
        self.tokenizer = WordTokenizer(vocabulary, mode=mode)
        self.max_sequence_length = max_sequence_length

    @classmethod
    def build_from_text(cls, text, vocabulary_size=10000, mode="words",
                        max_sequence_length=512):
        """Learns the `vocabulary_size - 2` most frequent tokens of `text` (str or list of str)."""
        if not isinstance(vocabulary_size, int) or vocabulary_size < 3:
            raise ValueError("`vocabulary_size` must be an int >= 3 (padding, [UNK], a token), "
                             f"got vocabulary_size={vocabulary_size!r}.")
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got mode={mode!r}.")
        tokens = WordTokenizer.split_text(_one_text(text), mode)
        if not tokens:
            raise ValueError("`text` must hold at least one token, got none.")
        return cls(WordTokenizer.vocabulary_from_tokens(tokens, vocabulary_size - 2), mode,
                   max_sequence_length)

    @property
    def vocabulary_size(self):
        """Number of ids, padding and [UNK] included."""
        return self.tokenizer.vocabulary_size

    def __call__(self, texts):
        text = text_tensor(texts, "texts")
        tokens = self.tokenizer.tokens(text)[:, : self.max_sequence_length]
        ids = self.tokenizer.tokenize(text)[:, : self.max_sequence_length]
        ids = ids.to_tensor(default_value=0)
        tokens = tokens.to_tensor(default_value="")
        extra = tf.maximum(0, 1 - tf.shape(ids)[1])  # an empty batch of tokens: one step
        ids = tf.pad(ids, [[0, 0], [0, extra]])
        tokens = tf.pad(tokens, [[0, 0], [0, extra]], constant_values="")
        return tf.cast(ids, tf.int32), tokens

    def stream_ids(self, text):
        """1-D int32 numpy ids of one long str (a corpus: its lines form one stream)."""
        return self.tokenizer.tokenize_text(text).astype("int32")

    def get_config(self):
        return {"vocabulary": list(self.tokenizer.vocabulary), "mode": self.tokenizer.mode,
                "max_sequence_length": self.max_sequence_length}


def _one_text(text):
    if isinstance(text, str):
        return text
    if isinstance(text, bytes) or not all(isinstance(t, str) for t in text):
        raise ValueError("`text` must be a str or a list of str, got "
                         f"{type(text).__name__}.")
    return "\n".join(text)


def compile_network(network, learning_rate=2e-3, clip_norm=1.0, jit_compile=False):
    """Adam + the joint loss ½ CE(forward) + ½ CE(backward), masked by the sample weights.

    The per-token cross entropies of both directions are weighted metrics
    (`forward_cross_entropy`, `backward_cross_entropy`).

    Args:
        network: a `BidirectionalLanguageModel`.
        learning_rate: a float or a schedule.
        clip_norm: gradient clipping by global norm (0 = off).
        jit_compile: XLA for the train step.

    Returns:
        `network`, compiled.
    """
    def ce_loss():
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def ce_metric():
        return keras.metrics.SparseCategoricalCrossentropy(from_logits=True,
                                                           name="cross_entropy")

    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate,
                                        global_clipnorm=clip_norm if clip_norm else None),
        loss={"forward": ce_loss(), "backward": ce_loss()},
        loss_weights={"forward": 0.5, "backward": 0.5},
        weighted_metrics={"forward": [ce_metric()], "backward": [ce_metric()]},
        jit_compile=jit_compile)
    return network


def _with_targets(ids):
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel

    targets, weights = BidirectionalLanguageModel.targets(ids)
    return ids, targets, weights


class ElmoLM(Task):
    """ELMo's biLM on raw text: `ElmoLMPreprocessor` + a `BidirectionalLanguageModel`.

    `fit` trains both LMs jointly on windows of `sequence_length` tokens (each LM starts
    fresh in each window). `predict` gives what the export's `serving_default` gives: the
    sentence embedding (mean ELMo vector over the real tokens) and the most likely next word
    (forward LM after the last token) and previous word (backward LM before the first
    token), padding and [UNK] excluded; `embed` gives the ELMo vectors of every token.

    Args:
        network: a `BidirectionalLanguageModel` whose vocabulary is the preprocessor's.
        preprocessor: an `ElmoLMPreprocessor` (or its config).
        sequence_length: tokens per training window (>= 2).

    Example:

    >>> text = "the cat sat on the mat . the dog sat on the log .\\n" * 20
    >>> task = ElmoLM.from_text(text, embedding_dim=8, hidden_dim=8, num_layers=1,
    ...                         sequence_length=8)
    >>> _ = task.fit(text, epochs=1, batch_size=4, verbose=0)
    >>> sorted(task.predict(["the cat"]))
    ['next_word', 'next_word_probability', 'previous_word', 'previous_word_probability', \
'sentence_embedding']
    >>> task.embed(["the cat"])["embeddings"].shape
    (1, 2, 16)
    """

    stem = "elmo_lm"

    def __init__(self, network, preprocessor, sequence_length=35):
        if isinstance(preprocessor, dict):
            preprocessor = ElmoLMPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        if getattr(network, "vocabulary_size", None) != preprocessor.vocabulary_size:
            raise ValueError(
                f"`network` has vocabulary_size={getattr(network, 'vocabulary_size', None)} "
                f"but `preprocessor` has {preprocessor.vocabulary_size} ids; expected a "
                "BidirectionalLanguageModel over the preprocessor's vocabulary.")
        if not isinstance(sequence_length, int) or sequence_length < 2:
            raise ValueError("`sequence_length` must be an int >= 2 (a token needs a "
                             f"neighbour), got sequence_length={sequence_length!r}.")
        self.sequence_length = sequence_length
        self._functions = {}

    @classmethod
    def from_text(cls, text, *, vocabulary_size=10000, mode="words", max_sequence_length=512,
                  sequence_length=35, embedding_dim=128, hidden_dim=256, num_layers=2,
                  dropout=0.3, share_softmax=True):
        """An untrained biLM with the application's defaults; learns the vocabulary of `text`.

        Args:
            text: a str (a corpus) or a list of str.
            vocabulary_size: ids, padding and [UNK] included.
            mode: "words" or "review" (see `WordTokenizer`).
            max_sequence_length: texts are cut to this many tokens in predict/embed/export.
            sequence_length: tokens per training window.
            embedding_dim: token embedding width.
            hidden_dim: LSTM units per direction and layer (the embeddings are 2x wide).
            num_layers: LSTM layers per direction.
            dropout: dropout on the token layer, between layers and before the softmax.
            share_softmax: one output projection for both directions.
        """
        from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel

        preprocessor = ElmoLMPreprocessor.build_from_text(text, vocabulary_size, mode,
                                                          max_sequence_length)
        network = BidirectionalLanguageModel(
            preprocessor.vocabulary_size, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
            num_layers=num_layers, dropout=dropout, share_softmax=share_softmax)
        network.build((None, None))
        return cls(network, preprocessor, sequence_length=sequence_length)

    # ---- training data ----------------------------------------------------------------
    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `(ids [B, T], targets, sample_weights)` of raw text.

        Args:
            x: one str (a corpus: one stream of tokens cut into windows of
                `sequence_length`, a random offset each training epoch), a list of str or a
                `tf.data.Dataset` of strings (each text its own rows of at most
                `sequence_length` tokens, right-padded; a dataset is read twice, once to
                count its windows).
            y: must be None (the targets are the neighbours of each token).
            batch_size: windows per batch.
            shuffle: shuffle the windows (training).
            seed: the shuffling seed.

        Returns:
            `(dataset, None)`.
        """
        if y is not None:
            raise ValueError("`y` must be None: the targets of a language model are the "
                             f"neighbours of each token; got y of type {type(y).__name__}.")
        if isinstance(x, str):
            return self.stream_dataset(self.preprocessor.stream_ids(x), batch_size,
                                       shuffle=shuffle, seed=seed)
        if isinstance(x, tf.data.Dataset):
            return self._text_dataset(x, batch_size, shuffle, seed)
        if x is None:
            raise ValueError("`x` must be a str, a list of str or a tf.data.Dataset of "
                             "strings, got None.")
        texts = text_tensor(x)
        rows = [row for i in range(0, int(texts.shape[0]), _CHUNK)
                for row in self.preprocessor.tokenizer.tokenize(texts[i:i + _CHUNK]).to_list()]
        t = self.sequence_length
        windows = [row[k:k + t] for row in rows for k in range(0, len(row), t)]
        if not windows:
            raise ValueError("`x` holds no tokens: expected texts with words.")
        ids = np.zeros([len(windows), t], "int32")
        for i, window in enumerate(windows):
            ids[i, :len(window)] = window
        ds = tf.data.Dataset.from_tensor_slices(ids)
        if shuffle:
            ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).map(_with_targets).prefetch(tf.data.AUTOTUNE), None

    def _text_dataset(self, x, batch_size, shuffle, seed):
        spec = x.element_spec
        if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
                and spec.shape.rank in (0, 1)):
            raise ValueError("`x` must be a tf.data.Dataset of strings (scalars or batches), "
                             f"got elements {spec}.")
        if spec.shape.rank == 1:
            x = x.unbatch()
        t = self.sequence_length
        tokenizer = self.preprocessor.tokenizer

        def windows(text):
            ids = tokenizer.tokenize(text[None]).flat_values
            n = tf.shape(ids)[0]
            rows = (n + t - 1) // t
            return tf.data.Dataset.from_tensor_slices(
                tf.reshape(tf.pad(ids, [[0, rows * t - n]]), [rows, t]))

        ds = x.flat_map(windows)
        count = int(ds.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))
        if count == 0:
            raise ValueError("`x` holds no tokens: expected a dataset of texts with words.")
        ds = ds.apply(tf.data.experimental.assert_cardinality(count))
        if shuffle:
            ds = ds.shuffle(min(count, 10000), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).map(_with_targets).prefetch(tf.data.AUTOTUNE), None

    def stream_dataset(self, ids, batch_size=32, shuffle=False, seed=None):
        """Windows of one stream of ids (a corpus), as `dataset` makes them for a str.

        Training (`shuffle`): d2l's random sampling, a new offset in [0, sequence_length)
        each epoch, full batches only. Otherwise every window once (offset 0, the last
        batch kept).

        Args:
            ids: 1-D int token ids.
            batch_size: windows per batch.
            shuffle: training order (see above).
            seed: the offsets' and the shuffling's seed.

        Returns:
            `(dataset, None)`.
        """
        from keras_seq.data.sequence_batches import random_sampling_dataset

        ids = np.asarray(ids, "int32").reshape(-1)
        t, b = self.sequence_length, batch_size
        need = b * t + t + 1 if shuffle else 2 * t + 2
        if len(ids) < need:
            raise ValueError(
                f"the text has {len(ids)} tokens; batch_size={b} x sequence_length={t} needs "
                f"at least {need}{' for training' if shuffle else ''}: use more text or "
                "smaller batches/windows.")
        if shuffle:
            ds = random_sampling_dataset(ids, b, t, seed=seed)
        else:
            ds = random_sampling_dataset(ids, min(b, (len(ids) - t - 1) // t), t, seed=seed,
                                         random_offset=False, drop_remainder=False)
        return ds.map(lambda x, _: _with_targets(x)), None

    def compile(self, total_steps=1, learning_rate=2e-3, clip_norm=1.0, jit_compile="auto"):
        """Adam with cosine decay (to 5%) over `total_steps`, clipping; sets `trainer`.

        Args:
            total_steps: the training steps of the schedule.
            learning_rate: peak learning rate.
            clip_norm: gradient clipping by global norm (0 = off).
            jit_compile: XLA for the train step (True/False, or "auto":
                `keras_seq.runtime.default_jit_compile("train")`).
        """
        from keras_seq import runtime

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=max(1, total_steps), alpha=0.05)
        self.trainer = compile_network(self.network, schedule, clip_norm, jit_compile)
        return self.trainer

    # ---- outputs (one implementation: predict / embed and the export) -------------------
    def embed_outputs(self, text):
        """The export's `embed` outputs for `text` (`tf.string [B]`): TensorFlow tensors.

        Returns:
            `{"embeddings": float32 [B, T, 2H] (zeros at padding), "mask": bool [B, T],
            "tokens": string [B, T] ("" at padding)}`.
        """
        ids, tokens = self.preprocessor(text)
        embeddings, mask = self.network.embed(ids, training=False)
        return {"embeddings": tf.cast(embeddings, tf.float32), "mask": tf.cast(mask, tf.bool),
                "tokens": tokens}

    def serving_outputs(self, text):
        """The export's `serving_default` outputs for `text` (`tf.string [B]`).

        Returns:
            `{"sentence_embedding": float32 [B, 2H], "next_word" / "previous_word": string
            [B], "next_word_probability" / "previous_word_probability": float32 [B]}`.
        """
        ids, _ = self.preprocessor(text)
        embeddings, mask = self.network.embed(ids, training=False)
        real = tf.cast(mask, tf.float32)[..., None]  # (B, T, 1)
        sentence = tf.reduce_sum(tf.cast(embeddings, tf.float32) * real, axis=1) / tf.maximum(
            tf.reduce_sum(real, axis=1), 1.0)  # (B, 2H)
        logits = self.network(ids, training=False)
        last = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1, 0)
        next_word, next_p = self._best(tf.gather(logits["forward"], last, batch_dims=1))
        previous_word, previous_p = self._best(logits["backward"][:, 0])
        return {"sentence_embedding": sentence, "next_word": next_word,
                "next_word_probability": next_p, "previous_word": previous_word,
                "previous_word_probability": previous_p}

    def _best(self, logits):
        probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        keep = 1.0 - tf.reduce_sum(tf.one_hot([0, 1], tf.shape(probs)[-1]), axis=0)
        probs = probs * keep  # never padding or [UNK]
        best = tf.argmax(probs, axis=-1, output_type=tf.int32)
        vocabulary = tf.constant(self.preprocessor.tokenizer.get_vocabulary())
        return tf.gather(vocabulary, best), tf.reduce_max(probs, axis=-1)

    def _run(self, name, texts):
        text = text_tensor(texts, "texts")
        if name not in self._functions:  # traced like the export's signatures
            self._functions[name] = tf.function(
                getattr(self, name), autograph=False,
                input_signature=[tf.TensorSpec([None], tf.string)])
        return self._functions[name](text)

    def predict(self, x, batch_size=64):
        """The export's `serving_default` outputs for raw texts `x`, as NumPy / lists.

        Args:
            x: a list of str (or a rank-1 `tf.string` tensor).
            batch_size: texts per call of the network.

        Returns:
            `{"sentence_embedding": float32 [B, 2H], "next_word": list of str,
            "next_word_probability": float32 [B], "previous_word": list of str,
            "previous_word_probability": float32 [B]}`.
        """
        texts = text_tensor(x)
        n = int(texts.shape[0])
        parts = [self._run("serving_outputs", texts[i:i + batch_size])
                 for i in range(0, n, batch_size)]
        if not parts:
            width = 2 * self.network.hidden_dim
            return {"sentence_embedding": np.zeros([0, width], "float32"), "next_word": [],
                    "next_word_probability": np.zeros([0], "float32"), "previous_word": [],
                    "previous_word_probability": np.zeros([0], "float32")}
        out = {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
        for key in ("next_word", "previous_word"):
            out[key] = [w.decode("utf-8") for w in out[key]]
        return out

    def embed(self, x):
        """The export's `embed` outputs for raw texts `x` (one batch, padded to the longest).

        Args:
            x: a list of str (or a rank-1 `tf.string` tensor).

        Returns:
            `{"embeddings": float32 [B, T, 2H], "mask": bool [B, T], "tokens": list of
            lists of str ("" at padding)}`.
        """
        out = {k: v.numpy() for k, v in self._run("embed_outputs", x).items()}
        out["tokens"] = [[t.decode("utf-8") for t in row] for row in out["tokens"]]
        return out

    def export(self, path):
        """SavedModel: `serving_default(text)` and `embed(text)`; see `ElmoLMServingModule`."""
        from keras_seq.export.elmo_lm_module import ElmoLMServingModule

        return ElmoLMServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(),
                "sequence_length": self.sequence_length}


def load_bilm(path):
    """The trained `(BidirectionalLanguageModel, WordTokenizer)` of an elmo-lm run folder.

    Args:
        path: a finished `keras-seq train elmo-lm` run folder: its task.kseq, or (runs made
            before the task) bilm.weights.h5, bilm_config.json and tokenizer.json.

    Raises:
        ValueError: the folder holds neither.
    """
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel

    folder = pathlib.Path(path)
    if (folder / "task.kseq").is_file():
        task = ElmoLM.load(folder / "task.kseq")
        return task.network, task.preprocessor.tokenizer
    legacy = [folder / name for name in ("bilm_config.json", "bilm.weights.h5", "tokenizer.json")]
    if not all(p.is_file() for p in legacy):
        raise ValueError(f"`--elmo` must be a finished elmo-lm run folder holding task.kseq, "
                         f"got {str(folder)!r}, which lacks it.")
    model = BidirectionalLanguageModel.from_config(json.loads(legacy[0].read_text("utf-8")))
    model.build((None, None))
    model.load_weights(str(legacy[1]))
    return model, WordTokenizer.load(legacy[2])
