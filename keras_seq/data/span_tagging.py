"""A generated character-level span-tagging task (numbers and dates), users' JSONL, tf.data.

Each example is a sentence of filler words with numbers ("42", "3.5", "1,200", "-7") and dates
("12 March 1998", "2021-03-04", "March 4th, 2020", "04/03/2021") embedded in it. Every
character gets one BIO tag over the span types NUM and DATE:

    text:  "Paid 12 on 12 March 1998."
    tags:   OOOOOBIOOOBIIIIIIIIIIIIIO      (B-NUM I-NUM ... B-DATE I-DATE ...)

The task is built so that the left context is not enough: "12" alone is NUM but "12 March
1998" is a DATE; "2021" alone is NUM but "2021-03-04" is a DATE; "-7" is NUM but the "-" of
"2021-03-04" is inside a DATE; "3/4" is NUM (a fraction) but "04/03/2021" is a DATE. At the
first digit a left-to-right RNN cannot know which tag is right; a bidirectional one can.

Data format of users' own data (`read_jsonl`, the application's `--data-file`): one JSON object
per line, `{"text": "...", "spans": [[start, end, "TYPE"], ...]}` with character offsets,
`end` exclusive (`text[start:end]` is the span); spans may also be objects
`{"start": s, "end": e, "type": "TYPE"}`. Any type names are allowed; spans must not overlap.

Character ids: 0 = padding, 1 = any character outside printable ASCII, 2..96 = the printable
ASCII characters (code point - 30). The same mapping runs in TensorFlow (`char_ids_tf`) inside
the exported SavedModel, so no vocabulary file is needed.
"""

import json
import pathlib

import numpy as np

PAD_ID = 0
UNKNOWN_ID = 1
VOCABULARY_SIZE = 97  # 0 padding, 1 unknown, 2..96 = code points 32..126
DEFAULT_TYPES = ("NUM", "DATE")
SPLIT_NAMES = ("train", "validation", "test")

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
FILLER = (
    "the", "a", "we", "they", "paid", "saw", "sold", "counted", "about", "only", "nearly",
    "report", "said", "shipment", "items", "boxes", "on", "in", "at", "by", "until", "from",
    "after", "before", "meeting", "invoice", "price", "was", "were", "is", "and", "then",
    "total", "units", "people", "rose", "fell", "to", "of", "for", "with", "since", "budget",
    "order", "room", "page", "score", "points", "km", "kg", "times", "march", "may", "dated",
    "due", "signed", "opened", "closed", "around", "exactly", "new", "old", "next", "last")
# Left context words that often precede both numbers and dates (no shortcut from the word).
CONNECTORS = ("on", "by", "from", "until", "since", "about", "at", "then", "and", "was",
              "to", "after", "before", "only", "nearly", "exactly")


def tag_names(types=DEFAULT_TYPES):
    """The tag vocabulary: `["O", "B-T1", "I-T1", "B-T2", "I-T2", ...]` (id = list index).

    Args:
        types: span type names, in order.

    Returns:
        list of str; tag id 2k+1 is B of `types[k]`, 2k+2 is I of it.
    """
    names = ["O"]
    for t in types:
        names += [f"B-{t}", f"I-{t}"]
    return names


def encode_chars(text):
    """Character ids of one string as an int32 array (see the module docstring)."""
    cps = np.fromiter((ord(c) for c in text), dtype=np.int64, count=len(text))
    ids = np.where((cps >= 32) & (cps <= 126), cps - 30, UNKNOWN_ID)
    return ids.astype("int32")


def char_ids_tf(text):
    """TensorFlow version of `encode_chars` for a batch: `tf.string [n]` -> ragged int32 ids.

    Decodes UTF-8 into Unicode characters (invalid bytes become U+FFFD, i.e. unknown), so one
    id is one character, like Python's `str`.
    """
    import tensorflow as tf

    cps = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
    ids = tf.where((cps.flat_values >= 32) & (cps.flat_values <= 126),
                   cps.flat_values - 30, UNKNOWN_ID)
    return cps.with_flat_values(tf.cast(ids, tf.int32))


def spans_to_tags(text, spans, types=DEFAULT_TYPES):
    """Character BIO tag ids of `text` from its spans.

    Args:
        text: the string.
        spans: iterable of `(start, end, type)`, `end` exclusive, not overlapping.
        types: the span type names (`tag_names(types)` gives the ids).

    Returns:
        int32 array `[len(text)]` of tag ids.

    Raises:
        ValueError: a span is out of range, empty, overlaps another or has an unknown type.
    """
    tags = np.zeros(len(text), "int32")
    index = {t: k for k, t in enumerate(types)}
    for start, end, kind in spans:
        if kind not in index:
            raise ValueError(f"span type must be one of {list(types)}, got {kind!r}.")
        if not (0 <= start < end <= len(text)):
            raise ValueError(f"span [{start}, {end}) must satisfy 0 <= start < end <= "
                             f"{len(text)} (the text length), got start={start}, end={end}.")
        if tags[start:end].any():
            raise ValueError(f"spans must not overlap, got [{start}, {end}, {kind!r}] "
                             f"overlapping another span of {text!r}.")
        tags[start] = 2 * index[kind] + 1
        tags[start + 1:end] = 2 * index[kind] + 2
    return tags


# ---- the generator -------------------------------------------------------------------------
def _ordinal(day):
    if day % 10 == 1 and day != 11:
        return f"{day}st"
    if day % 10 == 2 and day != 12:
        return f"{day}nd"
    if day % 10 == 3 and day != 13:
        return f"{day}rd"
    return f"{day}th"


def _number(rng):
    kind = rng.integers(7)
    if kind == 0:  # a small int, the same shape as a day of month
        return str(int(rng.integers(1, 32)))
    if kind == 1:  # a year-like int, the same shape as the year of an ISO date
        return str(int(rng.integers(1950, 2031)))
    if kind == 2:
        return str(int(rng.integers(0, 1000)))
    if kind == 3:
        return f"{int(rng.integers(0, 100))}.{int(rng.integers(0, 100))}"
    if kind == 4:
        return f"{int(rng.integers(1, 100))},{int(rng.integers(0, 1000)):03d}"
    if kind == 5:
        return f"-{int(rng.integers(1, 100))}"
    return f"{int(rng.integers(1, 10))}/{int(rng.integers(2, 13))}"  # a fraction, like 04/03/..


def _date(rng):
    year, month, day = int(rng.integers(1950, 2031)), int(rng.integers(1, 13)), \
        int(rng.integers(1, 29))
    kind = rng.integers(4)
    if kind == 0:
        return f"{day} {MONTHS[month - 1]} {year}"
    if kind == 1:
        return f"{year}-{month:02d}-{day:02d}"
    if kind == 2:
        return f"{MONTHS[month - 1]} {_ordinal(day)}, {year}"
    return f"{day:02d}/{month:02d}/{year}"


def generate_example(rng, max_length=96):
    """One sentence with 1-3 numbers/dates: `{"text": str, "spans": [[start, end, type]]}`.

    Args:
        rng: a `numpy.random.Generator`.
        max_length: the text has at most this many characters (>= 40).

    Returns:
        dict as described above.
    """
    while True:
        words, entities = [], int(rng.integers(1, 4))
        for _ in range(entities):
            # 0-3 filler words and a connector before each entity: two entities can be as
            # close as "12 on 12 March 1998".
            words += [str(w) for w in rng.choice(FILLER, size=int(rng.integers(0, 4)))]
            words.append(str(rng.choice(CONNECTORS)))
            words.append(("DATE", _date(rng)) if rng.random() < 0.5 else ("NUM", _number(rng)))
            if rng.random() < 0.2:  # punctuation right after the entity (not part of it)
                words.append(("", str(rng.choice((",", ";", ":")))))
            if rng.random() < 0.3:  # a unit word after the number or date
                words.append(str(rng.choice(("people", "boxes", "units", "times", "km"))))
        words += [str(w) for w in rng.choice(FILLER, size=int(rng.integers(0, 3)))]
        text, spans = "", []
        for w in words:
            if isinstance(w, tuple) and not w[0]:  # punctuation: no space before it
                text += w[1]
                continue
            if text:
                text += " "
            if isinstance(w, tuple):
                spans.append([len(text), len(text) + len(w[1]), w[0]])
                text += w[1]
            else:
                text += w
        text = text[0].upper() + text[1:] + str(rng.choice((".", ".", ".", "!", "?")))
        if len(text) <= max_length:
            return {"text": text, "spans": spans}


def generate_examples(num_examples, seed=0, max_length=96):
    """`num_examples` generated examples, the same ones for the same `(seed, max_length)`."""
    if not isinstance(num_examples, (int, np.integer)) or num_examples < 0:
        raise ValueError(f"`num_examples` must be an int >= 0, got {num_examples!r}.")
    if not isinstance(max_length, (int, np.integer)) or max_length < 40:
        raise ValueError(f"`max_length` must be an int >= 40, got max_length={max_length!r}.")
    rng = np.random.default_rng(seed)
    return [generate_example(rng, max_length) for _ in range(int(num_examples))]


def generated_splits(train_size, validation_size, test_size, seed=0, max_length=96):
    """Train/validation/test examples of the generated task.

    Each split comes from its own random stream (`SeedSequence([seed, k])`, k = 0, 1, 2), and
    validation/test sentences that also occur in the training split are replaced, so the
    three splits never share a text.

    Returns:
        `{"train": [...], "validation": [...], "test": [...]}` lists of example dicts.
    """
    out, seen = {}, set()
    for k, (name, size) in enumerate(zip(SPLIT_NAMES, (train_size, validation_size, test_size))):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), k]))
        examples = []
        while len(examples) < size:
            ex = generate_example(rng, max_length)
            if ex["text"] not in seen or name == "train":
                examples.append(ex)
        seen.update(ex["text"] for ex in examples)
        out[name] = examples
    return out


# ---- users' data ---------------------------------------------------------------------------
def _parse_spans(raw, where):
    spans = []
    if not isinstance(raw, list):
        raise ValueError(f"{where}: \"spans\" must be a list, got {type(raw).__name__}.")
    for s in raw:
        if isinstance(s, dict) and {"start", "end", "type"} <= set(s):
            s = [s["start"], s["end"], s["type"]]
        if not (isinstance(s, (list, tuple)) and len(s) == 3 and isinstance(s[0], int)
                and isinstance(s[1], int) and isinstance(s[2], str) and s[2]):
            raise ValueError(f"{where}: each span must be [start, end, \"TYPE\"] or "
                             f"{{\"start\", \"end\", \"type\"}}, got {s!r}.")
        spans.append([s[0], s[1], s[2]])
    return sorted(spans)


def read_jsonl(path, argument="--data-file"):
    """Reads tagging examples from a JSONL file (format in the module docstring).

    Args:
        path: the file.
        argument: the option name used in error messages.

    Returns:
        `(examples, types)`: list of `{"text", "spans"}` dicts, and the sorted span types.

    Raises:
        ValueError: the file is missing or empty, or a line is malformed (the message names
            `argument`, the line number and what is expected).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{argument} must be a JSONL file, got {str(path)!r} (not found).")
    examples, types = [], set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{argument} {path} line {number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not JSON ({error.msg}); expected "
                                 "{\"text\": \"...\", \"spans\": [[start, end, \"TYPE\"]]}.")
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) \
                    or not obj["text"]:
                raise ValueError(f"{where}: expected an object with a non-empty \"text\" "
                                 f"string, got {line.strip()[:80]!r}.")
            spans = _parse_spans(obj.get("spans", []), where)
            kinds = sorted({s[2] for s in spans})
            try:
                spans_to_tags(obj["text"], spans, kinds)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            types.update(kinds)
            examples.append({"text": obj["text"], "spans": spans})
    if not examples:
        raise ValueError(f"{argument} {str(path)!r} holds no examples; expected JSONL lines "
                         "{\"text\": \"...\", \"spans\": [[start, end, \"TYPE\"]]}.")
    return examples, sorted(types)


def write_jsonl(examples, path):
    """Writes examples as JSONL (the format `read_jsonl` reads)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"text": ex["text"], "spans": ex["spans"]},
                               ensure_ascii=False) + "\n")
    return path


def split_examples(examples, validation_fraction=0.1, test_fraction=0.1, seed=0):
    """Shuffles (seeded) and splits a list of examples into train/validation/test."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, int(round(len(examples) * validation_fraction)))
    n_test = max(1, int(round(len(examples) * test_fraction)))
    if len(examples) < n_val + n_test + 1:
        raise ValueError(f"the data has {len(examples)} examples; at least "
                         f"{n_val + n_test + 1} are needed for train/validation/test.")
    picked = [examples[i] for i in order]
    return {"test": picked[:n_test], "validation": picked[n_test:n_test + n_val],
            "train": picked[n_test + n_val:]}


def cut_examples(examples, max_length):
    """`(examples cut to max_length characters, how many were cut)`; spans past it dropped."""
    out, cut = [], 0
    for ex in examples:
        if len(ex["text"]) > max_length:
            cut += 1
            ex = {"text": ex["text"][:max_length],
                  "spans": [s for s in ex["spans"] if s[1] <= max_length]}
        out.append(ex)
    return out, cut


def load_splits(data_file=None, data_dir=None, sizes=(8000, 1000, 2000), max_length=96,
                seed=0, log=print):
    """The tagger application's data: a JSONL file, a folder of them, or the generated task.

    Args:
        data_file: a JSONL file (`read_jsonl`), split 80/10/10 by `seed`.
        data_dir: a folder with train.jsonl (validation.jsonl and test.jsonl, when missing,
            are taken out of train.jsonl, 10% each).
        sizes: the generated splits' sizes (train, validation, test), without either.
        max_length: texts are cut to this many characters (spans past the cut dropped).
        seed: the split and generation seed.
        log: printer.

    Returns:
        `({"train", "validation", "test"}: example lists, span types, data info dict)`.

    Raises:
        ValueError: a missing file or folder, a malformed line, or no span at all.
    """
    if data_file:
        examples, types = read_jsonl(data_file, "--data-file")
        splits = split_examples(examples, seed=seed)
        info = {"dataset": "file", "path": str(data_file)}
    elif data_dir:
        folder = pathlib.Path(data_dir)
        if not (folder / "train.jsonl").is_file():
            raise ValueError(f"--data-dir must hold train.jsonl (and validation.jsonl, "
                             f"test.jsonl), got {str(folder)!r}.")
        splits, types = {}, set()
        for name in SPLIT_NAMES:
            if (folder / f"{name}.jsonl").is_file():
                splits[name], kinds = read_jsonl(folder / f"{name}.jsonl", "--data-dir")
                types.update(kinds)
        missing = [name for name in ("validation", "test") if name not in splits]
        if missing:  # a missing split is taken out of train.jsonl (10% each)
            rest = split_examples(splits["train"], seed=seed)
            splits.update({name: rest[name] for name in ("train", *missing)})
        types, info = sorted(types), {"dataset": "dir", "path": str(folder)}
    else:
        splits = generated_splits(*sizes, seed=seed, max_length=max_length)
        types = list(DEFAULT_TYPES)
        info = {"dataset": "generated", "source": "keras_seq.data.span_tagging (numbers and "
                "dates, character BIO tags)"}
    if not types:
        raise ValueError("the data holds no spans at all; a tagger needs examples of at least "
                         "one span type.")
    cut = 0
    for name in SPLIT_NAMES:
        splits[name], n = cut_examples(splits[name], max_length)
        cut += n
    if cut:
        log(f"{cut} texts were longer than --max-length {max_length} and were cut.")
    info.update({f"{k}_examples": len(v) for k, v in splits.items()}, types=list(types),
                texts_cut=cut)
    return splits, list(types), info


# ---- arrays and tf.data --------------------------------------------------------------------
def encode_examples(examples, types=DEFAULT_TYPES):
    """Lists of char-id arrays and tag-id arrays, one pair per example."""
    ids = [encode_chars(ex["text"]) for ex in examples]
    tags = [spans_to_tags(ex["text"], ex["spans"], types) for ex in examples]
    return ids, tags


def pad_batch(arrays, length=None):
    """Right-pads int arrays with 0 into one `[n, length]` int32 matrix."""
    length = length or max([len(a) for a in arrays] + [1])
    out = np.zeros((len(arrays), length), "int32")
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a[:length]
    return out


def tagging_dataset(ids, tags, batch_size, shuffle=False, seed=None, bucket_width=32):
    """`tf.data` of `(char_ids [B, T], tag_ids [B, T], weights [B, T])` batches.

    Texts of similar length share a batch (`bucket_by_sequence_length`), padded with id 0 to
    the longest text of the bucket's range; `weights` is 1.0 on real characters and 0.0 on
    padding (the loss and the token accuracy ignore padding through it). Prefetched.

    Args:
        ids: list of int arrays (char ids per text).
        tags: list of int arrays of the same lengths (tag ids).
        batch_size: positive int.
        shuffle: reshuffle every epoch (seeded).
        seed: shuffle seed.
        bucket_width: the length buckets are `bucket_width` characters wide.

    Returns:
        A `tf.data.Dataset` with a known number of batches.
    """
    import tensorflow as tf

    from keras_seq.data.pipeline import count_bucketed_batches

    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive int, got batch_size={batch_size!r}.")
    if len(ids) != len(tags) or not ids:
        raise ValueError(f"`ids` and `tags` must be non-empty lists of equal length, got "
                         f"{len(ids)} and {len(tags)}.")
    lengths = np.array([len(a) for a in ids])
    if any(len(a) != len(t) for a, t in zip(ids, tags)):
        raise ValueError("every tag array must be as long as its id array.")
    flat_ids, flat_tags = np.concatenate(ids).astype("int32"), np.concatenate(tags).astype("int32")
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype("int64")
    n = len(ids)

    def element(i):
        a, b = splits[i], splits[i + 1]
        x = flat_ids_t[a:b]
        return x, flat_tags_t[a:b], tf.cast(x != PAD_ID, tf.float32)

    flat_ids_t, flat_tags_t = tf.constant(flat_ids), tf.constant(flat_tags)
    splits = tf.constant(splits)
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    boundaries = list(range(bucket_width, int(lengths.max()) + 1, bucket_width))
    edges = [b + 1 for b in boundaries]
    ds = ds.bucket_by_sequence_length(
        lambda x, y, w: tf.shape(x)[0], bucket_boundaries=edges or [2],
        bucket_batch_sizes=[batch_size] * (len(edges or [2]) + 1))
    batches = count_bucketed_batches(lengths, boundaries or [1], batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)
