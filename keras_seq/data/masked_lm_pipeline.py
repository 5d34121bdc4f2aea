"""BERT-style masked-LM data: sentence pairs [CLS] A [SEP] B [SEP], the 80/10/10 masker (TF only).

From a text to training batches:

1. `split_sentences(text)`: sentences in reading order (split after ".", "!", "?" followed by
   space; blank lines end a sentence too; whitespace normalized).
2. `sentence_pairs(sentences)`: consecutive pairs (s_i, s_{i+1}), i = 0, 1, 2, ... (every
   sentence is an A once and a B once; there is no next-sentence-prediction task, so no
   random B: RoBERTa-style MLM only, with BERT's input format).
3. `pack_pairs`: word-piece ids, then `[CLS] A [SEP] B [SEP]` truncated to `sequence_length`
   (round robin: the longer segment loses tokens first), padded with 0; segment ids 0 for
   [CLS] A [SEP], 1 for B [SEP], 0 for padding.
4. `mask_tokens` (the masker; tf ops on a batch): among the selectable tokens (not padding,
   not a reserved token such as [CLS]/[SEP]) of each row it selects

       n_sel = min(max_selections, max(1, round(rate * n_selectable)))   (0 if n_selectable = 0)

   positions uniformly at random, and replaces each selected token by [MASK] with
   probability 0.8, by a random non-reserved token with probability 0.1, and keeps it with
   probability 0.1. Labels are the ORIGINAL ids at the selected positions.

Why not `keras_hub.layers.MaskedLMMaskGenerator`: its random replacement draws from all ids
(including [PAD]/[CLS]/[MASK]) and its randomness is a stateful op, so validation masks would
change from epoch to epoch; ours draws replacements from the non-reserved ids only and takes a
stateless seed per batch (`masked_lm_dataset` gives the validation set the same masks every
epoch and the training set new ones every epoch: dynamic masking).
"""

import re

import tensorflow as tf

from keras_seq.data.word_pieces import CLS_ID, MASK_ID, RESERVED_TOKENS, SEP_ID

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")


def split_sentences(text, min_words=1):
    """Splits a text into sentences (Python, in reading order).

    A sentence ends after ".", "!" or "?" (and closing quotes/brackets) followed by white space
    and an upper-case letter or digit, or at a blank line. Inner white space becomes one space.

    Args:
        text: str.
        min_words: drop sentences with fewer words.

    Returns:
        list of str.

    Example:

    >>> split_sentences("It was late. The Time Traveller smiled!  'Are you sure?' he said.")
    ['It was late.', 'The Time Traveller smiled!', "'Are you sure?' he said."]
    """
    if not isinstance(text, str):
        raise ValueError(f"`text` must be a str, got {type(text).__name__}.")
    out = []
    for part in _SENTENCE_END.split(text):
        s = " ".join(part.split())
        if s and len(s.split()) >= min_words:
            out.append(s)
    return out


def sentence_pairs(sentences):
    """Consecutive sentence pairs `(s_i, s_{i+1})` for i = 0..n-2.

    Args:
        sentences: list of str (at least 2).

    Returns:
        `(first, second)`: two lists of str of length n - 1.

    Example:

    >>> sentence_pairs(["A.", "B.", "C."])
    (['A.', 'B.'], ['B.', 'C.'])
    """
    if len(sentences) < 2:
        raise ValueError("sentence pairs need at least 2 sentences, got "
                         f"{len(sentences)}; give a longer text.")
    return list(sentences[:-1]), list(sentences[1:])


def split_by_position(sentences, validation_fraction=0.1):
    """Splits sentences by position: the first (1 - f) of the characters train, the rest validate.

    Args:
        sentences: list of str in reading order.
        validation_fraction: float in (0, 1).

    Returns:
        `(train_sentences, validation_sentences)`.

    Example:

    >>> split_by_position(["aaaa.", "bbbb.", "cccc.", "dddd."], 0.25)
    (['aaaa.', 'bbbb.', 'cccc.'], ['dddd.'])
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("`--val-fraction` must be in (0, 1), got "
                         f"{validation_fraction!r}.")
    total = sum(len(s) for s in sentences)
    seen, cut = 0, len(sentences)
    for i, s in enumerate(sentences):
        if seen >= (1.0 - validation_fraction) * total:
            cut = i
            break
        seen += len(s)
    return list(sentences[:cut]), list(sentences[cut:])


def pack_pairs(tokenizer, first, second, sequence_length):
    """`[CLS] A [SEP] B [SEP]` ids and segment ids for string tensors `first`/`second`.

    Args:
        tokenizer: a word-piece tokenizer (`make_word_piece_tokenizer`, no sequence_length).
        first: `tf.string` `[B]`, the A sentences.
        second: `tf.string` `[B]` or None (single segments: `[CLS] A [SEP]`).
        sequence_length: int, total length after truncation/padding.

    Returns:
        `(token_ids, segment_ids)`, int32 `[B, sequence_length]`.
    """
    import keras_hub

    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=sequence_length, start_value=CLS_ID, end_value=SEP_ID, pad_value=0,
        truncate="round_robin")
    segments = (tokenizer(first),) if second is None else (tokenizer(first), tokenizer(second))
    token_ids, segment_ids = packer(segments)
    return tf.cast(token_ids, tf.int32), tf.cast(segment_ids, tf.int32)


def mask_tokens(token_ids, seed, vocabulary_size, mask_rate=0.15, max_selections=None,
                mask_token_rate=0.8, random_token_rate=0.1,
                num_reserved=len(RESERVED_TOKENS), mask_token_id=MASK_ID):
    """BERT's masker on a batch (TensorFlow ops; deterministic for a given `seed`).

    Args:
        token_ids: int `[B, T]`, 0 = padding, ids < `num_reserved` are never selected.
        seed: int32/int64 `[2]`, the stateless seed of this batch.
        vocabulary_size: int; random replacements are drawn from [num_reserved, vocabulary_size).
        mask_rate: share of the selectable tokens selected per row (0.15).
        max_selections: P, the width of the outputs (default `ceil(1.5 * rate * T) + 1`).
        mask_token_rate: share of the selected tokens replaced by [MASK] (0.8).
        random_token_rate: share replaced by a random token (0.1); the rest (0.1) is kept.
        num_reserved: ids below this are special (padding, [CLS], [SEP], [MASK], ...).
        mask_token_id: the id of [MASK].

    Returns:
        dict: `token_ids` (masked input, int32 `[B, T]`), `mask_positions` (int32 `[B, P]`,
        sorted, 0 where unused), `mask_ids` (original ids, int32 `[B, P]`, 0 where unused),
        `mask_weights` (float32 `[B, P]`, 1 = a real selection).

    Example:

    >>> import tensorflow as tf
    >>> out = mask_tokens(tf.constant([[2, 9, 10, 11, 12, 3, 0]]), tf.constant([1, 2]), 20,
    ...                   mask_rate=0.5)
    >>> int(tf.reduce_sum(out["mask_weights"]))
    2
    """
    if not 0.0 < mask_rate < 1.0:
        raise ValueError(f"`--mask-rate` must be in (0, 1), got {mask_rate!r}.")
    if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1:
        raise ValueError("`mask_token_rate` and `random_token_rate` must be >= 0 with a sum <= 1, "
                         f"got {mask_token_rate!r} and {random_token_rate!r}.")
    if vocabulary_size <= num_reserved:
        raise ValueError(f"`vocabulary_size` must exceed num_reserved={num_reserved}, got "
                         f"{vocabulary_size!r}.")
    token_ids = tf.cast(token_ids, tf.int32)
    length = token_ids.shape[1]
    if max_selections is None:
        if length is None:
            raise ValueError("`max_selections` is needed when the sequence length is dynamic.")
        max_selections = int(-(-1.5 * mask_rate * length // 1)) + 1
    max_selections = min(int(max_selections), length) if length else int(max_selections)
    seed = tf.cast(seed, tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch = tf.shape(token_ids)[0]
    selectable = token_ids >= num_reserved  # (B, T): not padding, not [CLS]/[SEP]/...
    n_selectable = tf.reduce_sum(tf.cast(selectable, tf.float32), axis=1)  # (B,)
    n_select = tf.where(n_selectable > 0,
                        tf.maximum(1.0, tf.round(mask_rate * n_selectable)), 0.0)
    n_select = tf.minimum(tf.cast(n_select, tf.int32), max_selections)  # (B,)
    # Uniform choice without replacement: the top-n of random scores among selectable tokens.
    scores = tf.random.stateless_uniform(tf.shape(token_ids), seeds[0])
    scores = tf.where(selectable, scores, -1.0)
    _, order = tf.math.top_k(scores, k=max_selections)  # (B, P)
    used = tf.range(max_selections)[None, :] < n_select[:, None]  # (B, P)
    big = tf.shape(token_ids)[1]
    positions = tf.sort(tf.where(used, order, big), axis=1)  # used ones first, ascending
    used = positions < big
    positions = tf.where(used, positions, 0)
    labels = tf.where(used, tf.gather(token_ids, positions, batch_dims=1), 0)  # (B, P)
    # What each selection becomes: [MASK] (u < 0.8), a random token (u < 0.9), itself.
    u = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    random_ids = tf.random.stateless_uniform(tf.shape(positions), seeds[2], minval=num_reserved,
                                             maxval=vocabulary_size, dtype=tf.int32)
    new = tf.where(u < mask_token_rate, mask_token_id,
                   tf.where(u < mask_token_rate + random_token_rate, random_ids, labels))
    # Scatter the replacements into the sequence (unused slots write nothing).
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions))
    index = tf.stack([rows, positions], axis=-1)  # (B, P, 2)
    index = tf.boolean_mask(index, used)
    masked = tf.tensor_scatter_nd_update(token_ids, index, tf.boolean_mask(new, used))
    return {"token_ids": masked, "mask_positions": tf.cast(positions, tf.int32),
            "mask_ids": tf.cast(labels, tf.int32),
            "mask_weights": tf.cast(used, tf.float32)}


def masked_lm_dataset(first, second, tokenizer, vocabulary_size, sequence_length, batch_size,
                      mask_rate=0.15, max_selections=None, shuffle=True, seed=0,
                      fixed_masks=False, drop_remainder=False):
    """A tf.data pipeline of BERT masked-LM batches.

    Each element is `(features, mask_ids, mask_weights)` with features `token_ids`,
    `segment_ids` (int32 `[B, T]`), `padding_mask` (bool `[B, T]`, True = real token) and
    `mask_positions` (int32 `[B, P]`); `mask_ids` are the labels and `mask_weights` the
    sample weights (0 for unused selection slots), both `[B, P]`.

    Args:
        first: list of str, the A sentences.
        second: list of str (same length), the B sentences, or None (single segments).
        tokenizer: the word-piece tokenizer (`make_word_piece_tokenizer`).
        vocabulary_size: number of ids (random replacements are drawn below it).
        sequence_length: T.
        batch_size: B.
        mask_rate: share of tokens selected (0.15).
        max_selections: P (default from `mask_tokens`).
        shuffle: shuffle the pairs every epoch.
        seed: seed of the shuffle and of the masks.
        fixed_masks: True = the same masks every epoch (validation); False = new masks every
            epoch (training).
        drop_remainder: drop the last smaller batch.

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> from keras_seq.data.word_pieces import (
    ...     train_word_piece_vocabulary, make_word_piece_tokenizer)
    >>> vocab = train_word_piece_vocabulary(["the time machine", "the time traveller"] * 10, 40)
    >>> ds = masked_lm_dataset(["the time machine"], ["the time traveller"],
    ...                        make_word_piece_tokenizer(vocab), len(vocab), 16, 1)
    >>> x, y, w = next(iter(ds))
    >>> tuple(x["token_ids"].shape), tuple(y.shape)
    ((1, 16), (1, 5))
    """
    if second is not None and len(second) != len(first):
        raise ValueError(
            f"`second` must be as long as `first`, got {len(second)} and {len(first)}.")
    if not first:
        raise ValueError("no sentences: the text is too short for masked-LM training.")
    if max_selections is None:
        max_selections = int(-(-1.5 * mask_rate * sequence_length // 1)) + 1
    # Tokenize and pack every pair once (eagerly, in chunks); only the masks change per epoch.
    packed = [pack_pairs(tokenizer, tf.constant(first[i:i + 1024]),
                         None if second is None else tf.constant(second[i:i + 1024]),
                         sequence_length)
              for i in range(0, len(first), 1024)]
    token_ids = tf.concat([p[0] for p in packed], axis=0)  # (N, T)
    segment_ids = tf.concat([p[1] for p in packed], axis=0)  # (N, T)
    ds = tf.data.Dataset.from_tensor_slices((token_ids, segment_ids))
    if shuffle:
        ds = ds.shuffle(len(first), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return mask_batches(ds, vocabulary_size, mask_rate=mask_rate, max_selections=max_selections,
                        seed=seed, fixed_masks=fixed_masks, cache=fixed_masks and not shuffle)


def mask_batches(packed, vocabulary_size, mask_rate=0.15, max_selections=None, seed=0,
                 fixed_masks=False, cache=False):
    """Masks a dataset of packed batches: `(token_ids, segment_ids)` → masked-LM batches.

    Each batch gets its own stateless seed from `tf.data.Dataset.random(seed)`: the same
    masks every epoch when `fixed_masks` (validation), new ones every epoch otherwise
    (training: dynamic masking).

    Args:
        packed: a `tf.data.Dataset` of `(token_ids, segment_ids)`, int32 `[B, T]` each.
        vocabulary_size: number of ids (random replacements are drawn below it).
        mask_rate: share of tokens selected.
        max_selections: P (default from `mask_tokens`: 1.5 * mask_rate * T + 1).
        seed: seed of the masks.
        fixed_masks: the same masks every epoch.
        cache: cache the masked batches (only right when `packed` has a fixed order).

    Returns:
        A `tf.data.Dataset` of `(features, mask_ids, mask_weights)` as `masked_lm_dataset`.

    Example:

    >>> import tensorflow as tf
    >>> ids = tf.constant([[2, 9, 10, 11, 12, 3, 0, 0]])
    >>> packed = tf.data.Dataset.from_tensors((ids, tf.zeros_like(ids)))
    >>> x, y, w = next(iter(mask_batches(packed, 20, mask_rate=0.5, seed=1)))
    >>> int(tf.reduce_sum(w)), sorted(x)
    (2, ['mask_positions', 'padding_mask', 'segment_ids', 'token_ids'])
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not fixed_masks).batch(2)
    ds = tf.data.Dataset.zip((packed, seeds))

    def make(packed_batch, batch_seed):
        token_ids, segment_ids = packed_batch
        out = mask_tokens(token_ids, batch_seed, vocabulary_size, mask_rate=mask_rate,
                          max_selections=max_selections)
        features = {"token_ids": out["token_ids"], "segment_ids": segment_ids,
                    "padding_mask": token_ids != 0, "mask_positions": out["mask_positions"]}
        return features, out["mask_ids"], out["mask_weights"]

    ds = ds.map(make, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()  # identical every epoch: compute the masks once
    return ds.prefetch(tf.data.AUTOTUNE)
