"""In-graph word or character tokenizer with [START]/[END], for seq2seq (TensorFlow ops)."""

import collections

import tensorflow as tf

PAD, UNK, START, END = "", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNK, START, END)
# Punctuation split off as its own token (word mode). Apostrophes stay inside words.
_PUNCT = r"([.,!?;:¿¡«»\"()])"
# Non-breaking/thin spaces that the Tatoeba French data puts before punctuation.
_ODD_SPACES = "[\u00a0\u202f\u2009]"


class SequenceTokenizer(tf.Module):
    """Text ↔ ids in the graph, so training, evaluation and the SavedModel share one code path.

    Standardization: UTF-8 lower-casing (optional), odd spaces → space, punctuation split off
    as tokens (word mode), whitespace collapsed. Ids: 0 = padding, 1 = unknown, 2 = [START],
    3 = [END], then the vocabulary (most frequent first).

    Args:
        vocabulary: list of tokens *without* the 4 special tokens.
        split: "word" (tokens are words and punctuation) or "character".
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
    >>> ids = tok.tokenize(["hello world !"], max_length=6, add_start_end=True)
    >>> tok.detokenize(ids).numpy().tolist()
    [b'hello world!']
    """

    def __init__(self, vocabulary, split="word", lowercase=True, name="tokenizer"):
        super().__init__(name=name)
        if split not in ("word", "character"):
            raise ValueError(f"`split` must be 'word' or 'character', got split={split!r}.")
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

    # ---- construction ----------------------------------------------------------
    @classmethod
    def build_from_texts(cls, texts, max_tokens=None, min_count=1, split="word",
                         lowercase=True, name="tokenizer"):
        """Counts tokens of `texts` (an iterable of str) and keeps the `max_tokens` most frequent."""
        probe = cls([], split=split, lowercase=lowercase, name=name)
        counts = collections.Counter()
        batch = []
        for text in texts:
            batch.append(text)
            if len(batch) == 4096:
                counts.update(probe._pieces(batch))
                batch = []
        if batch:
            counts.update(probe._pieces(batch))
        keep = max_tokens - len(SPECIAL_TOKENS) if max_tokens else None
        ranked = [t for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                  if c >= min_count and t not in SPECIAL_TOKENS]
        return cls(ranked[:keep], split=split, lowercase=lowercase, name=name)

    def _pieces(self, texts):
        ragged = self.split_text(tf.constant(texts))
        return [t.decode("utf-8") for t in ragged.flat_values.numpy()]

    def get_config(self):
        return {"vocabulary": list(self.tokens[4:]), "split": self.split, "lowercase": self.lowercase}

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
        if self.split == "word":
            texts = tf.strings.regex_replace(texts, _PUNCT, r" \1 ")
        texts = tf.strings.regex_replace(texts, r"\s+", " ")
        return tf.strings.strip(texts)

    def split_text(self, texts):
        """Standardized tokens, a `tf.RaggedTensor` of strings `[B, None]`."""
        texts = self.standardize(tf.convert_to_tensor(texts, tf.string))
        if self.split == "word":
            return tf.strings.split(texts)
        return tf.strings.unicode_split(texts, "UTF-8")

    def tokenize(self, texts, max_length, add_start_end=False):
        if not isinstance(max_length, int) or max_length <= 2:
            raise ValueError(f"`max_length` must be an int > 2, got max_length={max_length!r}.")
        pieces = self.split_text(texts)
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
        sep = " " if self.split == "word" else ""
        text = tf.strings.reduce_join(tokens, axis=1, separator=sep)
        if self.split == "word":
            text = tf.strings.regex_replace(text, r" ([.,!?;:»)])", r"\1")
            text = tf.strings.regex_replace(text, r"([¿¡«(]) ", r"\1")
        return text
