"""In-graph word, word-piece or character tokenizer with [START]/[END], for seq2seq (TF ops)."""

import collections
import logging

import tensorflow as tf

from keras_seq.data.tokenizer import Tokenizer

logger = logging.getLogger(__name__)  # progress lines; `run_main` prints them

PAD, UNK, START, END = "", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNK, START, END)
# Punctuation split off as its own token (word mode). Apostrophes stay inside words.
_PUNCT = r"([.,!?;:¿¡«»\"()])"
# Non-breaking/thin spaces that the Tatoeba French data puts before punctuation.
_ODD_SPACES = "[\u00a0\u202f\u2009]"
SPLITS = ("word", "word-piece", "character")
JOINER = "##"


class SequenceTokenizer(Tokenizer):
    """Text ↔ ids in the graph, so training, evaluation and the SavedModel share one code path.

    Standardization: UTF-8 lower-casing (optional), odd spaces → space, punctuation split off
    as tokens (word and word-piece modes), whitespace collapsed. Ids: 0 = padding, 1 = unknown,
    2 = [START], 3 = [END], then the vocabulary (most frequent first).

    Word-piece mode splits each word of word mode greedily, longest match first, into pieces
    of the vocabulary (`tensorflow_text.WordpieceTokenizer`; pieces after the first carry the
    "##" joiner), so a rare word becomes known pieces instead of [UNK]:

        pieces(w) = [w[0:i1], "##" + w[i1:i2], ...], each piece the longest in the vocabulary

    and detokenizing glues "##" pieces back onto the piece before them. Its vocabulary is
    learnt by `build_from_texts` with the tensorflow-text WordPiece learner, and a SavedModel
    that holds such a tokenizer needs `import tensorflow_text` where it is loaded.

    Args:
        vocabulary: list of tokens *without* the 4 special tokens.
        split: "word" (tokens are words and punctuation), "word-piece" (words cut into
            pieces) or "character".
        lowercase: lower-case before tokenizing.
        name: module name.

    Call arguments (`tokenize`):
        texts: `tf.string [B]`.
        max_length: int, the output width (pad or truncate).
        add_start_end: prepend [START] and append [END] (the [END] survives truncation).

    Returns:
        int32 `[B, max_length]` ids.

    Example:

    >>> tok = SequenceTokenizer.build_from_texts(["Hello world!", "Hello there."])
    >>> ids = tok.tokenize(["hello world !"], sequence_length=6, add_start_end=True)
    >>> tok.detokenize(ids).numpy().tolist()
    [b'hello world!']
    """

    def __init__(self, vocabulary, split="word", lowercase=True, name="tokenizer"):
        super().__init__(name=name)
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got split={split!r}.")
        vocabulary = [str(t) for t in vocabulary if str(t) not in SPECIAL_TOKENS]
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` has duplicate tokens.")
        self.split = split
        self.lowercase = bool(lowercase)
        self.tokens = tuple(SPECIAL_TOKENS) + tuple(vocabulary)
        self._id_to_token = tf.constant(list(self.tokens))
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self.tokens[4:]) or ["\x00"]),
                tf.range(4, 4 + max(1, len(self.tokens) - 4), dtype=tf.int64),
            ),
            default_value=1,
        )
        if split == "word-piece":
            import tensorflow_text as tf_text

            # Ids come from the same table; a word with no split into known pieces is [UNK]
            # (absent from the table, so it looks up the default id 1).
            self._word_pieces = tf_text.WordpieceTokenizer(
                self._table, suffix_indicator=JOINER, token_out_type=tf.int64,
                unknown_token=UNK)

    # ---- construction ----------------------------------------------------------
    @classmethod
    def build_from_texts(cls, texts, max_tokens=None, min_count=1, split="word",
                         lowercase=True, name="tokenizer"):
        """Counts tokens of `texts` (an iterable of str) and keeps the `max_tokens` most frequent.

        In word-piece mode it counts words and learns a vocabulary of at most `max_tokens`
        tokens (special tokens included; the tensorflow-text learner, which keeps every
        character seen, so that almost no word is [UNK]); `min_count` is then the learner's
        lowest frequency threshold. The vocabulary exceeds `max_tokens` only when the
        characters seen (each alone and as a "##" piece) are more than that.
        """
        logger.info("learning the %s vocabulary%s (%s) from %s...", split,
                    "" if name == "tokenizer" else f" of the {name.replace('_', ' ')}",
                    f"up to {max_tokens:,} tokens" if max_tokens else "every token",
                    f"{len(texts):,} texts" if hasattr(texts, "__len__") else "the texts")
        probe = cls([], split="word" if split == "word-piece" else split,
                    lowercase=lowercase, name=name)
        counts = collections.Counter()
        batch = []
        for text in texts:
            batch.append(text)
            if len(batch) == 4096:
                counts.update(probe._pieces(batch))
                batch = []
        if batch:
            counts.update(probe._pieces(batch))
        if split == "word-piece":
            return cls(cls._learn_word_pieces(counts, max_tokens, min_count), split=split,
                       lowercase=lowercase, name=name)
        keep = max_tokens - len(SPECIAL_TOKENS) if max_tokens else None
        ranked = [t for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                  if c >= min_count and t not in SPECIAL_TOKENS]
        return cls(ranked[:keep], split=split, lowercase=lowercase, name=name)

    @staticmethod
    def _learn_word_pieces(counts, max_tokens, min_count):
        from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or \
                max_tokens <= len(SPECIAL_TOKENS):
            raise ValueError("word-piece mode needs `max_tokens`, an int > "
                             f"{len(SPECIAL_TOKENS)}, got max_tokens={max_tokens!r}.")
        if not counts:
            raise ValueError("`texts` hold no words to learn word pieces from.")
        reserved = [t for t in SPECIAL_TOKENS if t]  # the learner cannot hold "" (padding)
        vocabulary = wordpiece_tokenizer_learner_lib.learn(
            sorted(counts.items()), vocab_size=max_tokens - 1, reserved_tokens=reserved,
            lower_thresh=max(1, int(min_count)), include_joiner_token=True, joiner=JOINER)
        vocabulary = [t for t in vocabulary if t not in SPECIAL_TOKENS]
        # The learner may overshoot `max_tokens` a little. Trim longer pieces only: every
        # character seen (alone and as a "##" piece) stays, so every word can still be spelled.
        single = {t for t in vocabulary if len(t.removeprefix(JOINER)) == 1}
        longer = [t for t in vocabulary if t not in single]
        keep = set(longer[:max(0, max_tokens - len(SPECIAL_TOKENS) - len(single))])
        return [t for t in vocabulary if t in single or t in keep]

    def _pieces(self, texts):
        ragged = self.split_text(tf.constant(texts))
        return [t.decode("utf-8") for t in ragged.flat_values.numpy()]

    def get_config(self):
        return {"vocabulary": list(self.tokens[4:]), "split": self.split,
                "lowercase": self.lowercase}

    @property
    def vocabulary_size(self):
        return len(self.tokens)

    def token_id(self, token):
        return self.tokens.index(token)

    # ---- text -> ids -----------------------------------------------------------
    def standardize(self, texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        texts = tf.strings.regex_replace(texts, _ODD_SPACES, " ")
        if self.split != "character":
            texts = tf.strings.regex_replace(texts, _PUNCT, r" \1 ")
        texts = tf.strings.regex_replace(texts, r"\s+", " ")
        return tf.strings.strip(texts)

    def split_text(self, texts):
        """Standardized tokens (words in word-piece mode), a `tf.RaggedTensor` `[B, None]`."""
        texts = self.standardize(tf.convert_to_tensor(texts, tf.string))
        if self.split != "character":
            return tf.strings.split(texts)
        return tf.strings.unicode_split(texts, "UTF-8")

    def tokenize(self, texts, sequence_length=None, add_start_end=False):
        """Ids of `[B]` strings: ragged `[B, (tokens)]`, or int32 `[B, sequence_length]`
        (cut, right-padded with 0) when `sequence_length` is given; `add_start_end` wraps
        each row in [START] ... [END] (within `sequence_length`)."""
        if sequence_length is None:
            pieces = self.split_text(texts)
            if self.split == "word-piece":
                ids = tf.cast(self._word_pieces.tokenize(pieces).merge_dims(1, 2), tf.int32)
            else:
                ids = tf.cast(self._table.lookup(pieces), tf.int32)
            if add_start_end:
                ids = tf.concat([tf.fill([ids.nrows(), 1], 2), ids,
                                 tf.fill([ids.nrows(), 1], 3)], axis=1)
            return ids
        max_length = sequence_length
        if not isinstance(max_length, int) or max_length <= 2:
            raise ValueError("`sequence_length` must be None or an int > 2, got "
                             f"sequence_length={max_length!r}.")
        pieces = self.split_text(texts)
        if self.split == "word-piece":
            ids = self._word_pieces.tokenize(pieces)  # ragged [B, words, pieces]
            ids = tf.cast(ids.merge_dims(1, 2), tf.int32)  # ragged [B, None]
        else:
            ids = tf.cast(self._table.lookup(pieces), tf.int32)  # ragged [B, None]
        if add_start_end:
            ids = ids[:, : max_length - 2]
            batch = ids.nrows()
            start = tf.fill([batch, 1], 2)
            end = tf.fill([batch, 1], 3)
            ids = tf.concat([tf.RaggedTensor.from_tensor(start), ids,
                             tf.RaggedTensor.from_tensor(end)], axis=1)
        ids = ids[:, :max_length]
        return ids.to_tensor(default_value=0, shape=[None, max_length])

    # ---- ids -> text -----------------------------------------------------------
    def detokenize(self, ids):
        """Ids `[B, L]` → strings `[B]`: stops at [END], drops special tokens, rejoins."""
        ids = tf.convert_to_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        is_end = tf.cast(tf.equal(ids, 3), tf.int32)
        before_end = tf.equal(tf.cumsum(is_end, axis=1), 0)
        keep = tf.logical_and(before_end, ids > 3)
        keep = tf.logical_or(keep, tf.logical_and(before_end, tf.equal(ids, 1)))
        ids = tf.where(keep, ids, 0)
        tokens = tf.gather(self._id_to_token, tf.clip_by_value(ids, 0, len(self.tokens) - 1))
        tokens = tf.ragged.boolean_mask(tokens, keep)
        sep = "" if self.split == "character" else " "
        text = tf.strings.reduce_join(tokens, axis=1, separator=sep)
        if self.split == "word-piece":  # glue "##" pieces onto the piece before them
            text = tf.strings.regex_replace(text, " " + JOINER, "")
            text = tf.strings.regex_replace(text, "^" + JOINER, "")
        if self.split != "character":
            text = tf.strings.regex_replace(text, r" ([.,!?;:»)])", r"\1")
            text = tf.strings.regex_replace(text, r"([¿¡«(]) ", r"\1")
        return text
