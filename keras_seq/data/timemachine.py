"""The Time Machine (H. G. Wells) as plain text: local file, shared copy, verified download, or
an embedded generated corpus for offline runs.

Where the text comes from, in order (`load_text`):
  1. `data_file=` (any UTF-8 text file) - used as is;
  2. `data_dir=` - a folder holding `timemachine.txt` (or `timemachine/timemachine.txt`);
  3. `$KERAS_SEQ_DATA_DIR/timemachine/timemachine.txt`, then `../shared/datasets/timemachine/`
     relative to the repository and to the working directory;
  4. the download cache `~/.keras/datasets/keras_seq/timemachine.txt`, or a download from
     `URL` checked against `SHA256` (written to a temp file, then renamed);
  5. (`dataset="auto"` only) the generated corpus of `generated_corpus()`, said loudly.
"""

import hashlib
import os
import pathlib
import tempfile
import urllib.request
from keras_seq.data import dataset_files
from keras_seq.data.dataset_files import cache_dir, sha256_of  # noqa: F401 (public here too)

URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
SHA256 = "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516"
FILE_NAME = "timemachine.txt"
DATASETS = ("auto", "timemachine", "generated")


def candidate_paths(data_dir=None):
    """Where `timemachine.txt` is looked for, in order (the cache last)."""
    return dataset_files.candidate_paths(FILE_NAME, "timemachine", data_dir)


def find_timemachine(data_dir=None):
    """The first existing `timemachine.txt` of `candidate_paths`, or None."""
    return dataset_files.first_existing(candidate_paths(data_dir))


def download_timemachine(url=URL, sha256=SHA256, timeout=30):
    """Downloads the book into the cache, checks its sha256 and returns the path.

    Raises:
        OSError: no network (the message names the dataset, its URL and `--data-dir`).
        ValueError: the downloaded bytes have another sha256 (nothing is kept).
    """
    target = cache_dir() / FILE_NAME
    if target.is_file() and sha256_of(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except OSError as error:
        raise OSError(
            f"Could not download The Time Machine from {url} ({error}). Offline? Pass "
            f"--data-file FILE or --data-dir DIR (a folder with {FILE_NAME}).") from error
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ValueError(f"The download from {url} has sha256 {got}, expected {sha256}; "
                         "nothing was saved.")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{FILE_NAME}-", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return target


_SUBJECTS = ["the time traveller", "the psychologist", "the medical man", "the provincial mayor",
             "the very young man", "filby", "the editor", "the journalist", "weena",
             "the little people", "the morlocks", "the eloi", "my friend", "the machine"]
_VERBS = ["looked at", "spoke of", "thought about", "walked towards", "laughed at",
          "turned from", "remembered", "described", "touched", "feared", "watched",
          "explained", "doubted", "followed"]
_OBJECTS = ["the lamp", "the fire", "the white sphinx", "the green porcelain", "the future",
            "the fourth dimension", "the dark well", "the great hall", "the setting sun",
            "the crystal bars", "the little machine", "the palace of green porcelain",
            "the ancient ruins", "the flowers", "the night", "the dinner table"]
_ENDINGS = ["", " in silence", " with a smile", " for a long time", " once more",
            " in the twilight", " without a word", " as the hours passed"]


def generated_corpus(num_sentences=3000, seed=0):
    """A deterministic English-like text made by this project (offline default corpus).

    Sentences "subject verb object ending." from small word lists in the vocabulary of the
    book, joined into paragraphs. It is NOT The Time Machine; results on it say nothing about
    the book.

    Args:
        num_sentences: number of sentences.
        seed: seed of the generator (same seed, same text).

    Returns:
        A str (about 45 characters per sentence).
    """
    import random

    if not isinstance(num_sentences, int) or num_sentences <= 0:
        raise ValueError(f"`num_sentences` must be a positive int, got {num_sentences!r}.")
    rng = random.Random(seed)
    lines, sentences = [], []
    for i in range(num_sentences):
        s = (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
             f"{rng.choice(_ENDINGS)}.")
        sentences.append(s[0].upper() + s[1:])
        if len(sentences) == 6 or i == num_sentences - 1:
            lines.append(" ".join(sentences))
            sentences = []
    return "\n".join(lines) + "\n"


def load_text(dataset="auto", data_file=None, data_dir=None, download=True, log=print):
    """Returns `(text, info)` following the order in the module docstring.

    Args:
        dataset: "auto" (the book if found/downloadable, else the generated corpus),
            "timemachine" (the book or an error), "generated" (the generated corpus).
        data_file: path of any UTF-8 text file to use instead.
        data_dir: folder holding `timemachine.txt`.
        download: whether a download may be tried.
        log: called with progress lines.

    Returns:
        `text` (str) and `info` (dict: dataset, path, sha256, characters).

    Raises:
        ValueError: a bad argument, a missing `data_file`/`data_dir`, or (dataset
            "timemachine") no copy and no download.
    """
    if dataset not in DATASETS:
        raise ValueError(f"`--dataset` must be one of {DATASETS}, got {dataset!r}.")
    if data_file is not None:
        path = pathlib.Path(data_file)
        if not path.is_file():
            raise ValueError(f"`--data-file` must be an existing text file, got {str(path)!r}.")
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            raise ValueError(f"`--data-file` {str(path)!r} is empty; expected some text.")
        return text, {"dataset": "file", "path": str(path), "sha256": sha256_of(path),
                      "characters": len(text)}
    if dataset == "generated":
        text = generated_corpus()
        return text, {"dataset": "generated", "path": None, "characters": len(text)}
    if data_dir is not None and not pathlib.Path(data_dir).is_dir():
        raise ValueError(f"`--data-dir` must be an existing folder, got {str(data_dir)!r}.")
    path = find_timemachine(data_dir)
    if path is None and data_dir is not None:
        raise ValueError(f"`--data-dir` {str(data_dir)!r} holds no {FILE_NAME} (also looked in "
                         f"{str(pathlib.Path(data_dir) / 'timemachine')!r}).")
    if path is None and download:
        try:
            log(f"Downloading The Time Machine from {URL} ...")
            path = download_timemachine()
        except OSError as error:
            if dataset == "timemachine":
                raise ValueError(str(error)) from error
            log(f"NOTE: {error}")
    if path is None:
        if dataset == "timemachine":
            raise ValueError(
                f"The Time Machine ({FILE_NAME}, {URL}) was not found in "
                f"{[str(p) for p in candidate_paths()]} and downloading is off; pass "
                "--data-file FILE or --data-dir DIR.")
        log("NOTE: The Time Machine is not available here: using the GENERATED corpus "
            "(not the book). Pass --data-file or --data-dir for real text.")
        text = generated_corpus()
        return text, {"dataset": "generated", "path": None, "characters": len(text)}
    text = path.read_text(encoding="utf-8")
    return text, {"dataset": "timemachine", "path": str(path), "sha256": sha256_of(path),
                  "sha256_ok": sha256_of(path) == SHA256, "characters": len(text)}
