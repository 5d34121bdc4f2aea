"""IMDB Large Movie Review Dataset (Maas et al., 2011): find, verify, download and read it.

Three on-disk forms are read:

* the original layout, `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt` (a directory that
  holds `aclImdb/`, or the `aclImdb/` directory itself);
* the JSON-Lines form of `shared/datasets/imdb/` (`train.jsonl.gz`, `test.jsonl.gz`, one
  `{"id", "rating", "label", "text"}` object per line, label 1 = positive);
* the original archive, downloaded from `IMDB_URL` into a cache directory, checked against
  `IMDB_SHA256` and extracted (temp path, then rename).

Where the data is looked for: `data_dir` (`--data-dir`), else `$KERAS_SEQ_DATA_DIR` (the
dataset itself or a folder holding `imdb/`), else `../shared/datasets/imdb` next to the
repository or the working directory, else the cache (`$KERAS_SEQ_CACHE` or
`~/.keras/datasets/keras_seq`), else a download into the cache.
"""

import dataclasses
import gzip
import json
import logging
import os
import pathlib
import shutil
import tarfile
import tempfile
import urllib.request
import zlib

import numpy as np
from keras_seq.data.dataset_files import cache_dir, sha256_of  # noqa: F401 (public here too)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# sha256 and size of aclImdb_v1.tar.gz as registered by TensorFlow Datasets in
# tensorflow_datasets/url_checksums/imdb_reviews.txt (read from the tensorflow/datasets
# repository, commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5). Not re-downloaded here: this
# machine has no internet access, so the download path is tested on local archives only.
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SIZE = 84125825
SPLITS = ("train", "test")
logger = logging.getLogger(__name__)  # progress lines; `run_main` prints them


@dataclasses.dataclass
class TextSplit:
    """Texts and integer labels of one split (label 1 = positive, 0 = negative)."""

    texts: list
    labels: np.ndarray

    def __len__(self):
        return len(self.texts)

    def take(self, indices):
        """Returns the sub-split at `indices` (an integer array)."""
        return TextSplit([self.texts[i] for i in indices], self.labels[indices])


def repo_root():
    """The repository root (the folder above the `keras_seq` package)."""
    return pathlib.Path(__file__).resolve().parents[2]


def detect_format(path):
    """Names the IMDB form found at `path`, or None.

    Args:
        path: a directory.

    Returns:
        `("aclImdb", root)` where `root/{train,test}/{pos,neg}` exist,
        `("jsonl", path)` where `path/{train,test}.jsonl.gz` exist, or None.
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        return None
    if all((path / f"{split}.jsonl.gz").is_file() for split in SPLITS):
        return ("jsonl", path)
    for root in (path, path / "aclImdb"):
        if all((root / s / c).is_dir() for s in SPLITS for c in ("pos", "neg")):
            return ("aclImdb", root)
    return None


def candidate_dirs(data_dir=None):
    """The places searched for the dataset, in order, as `(where, path)` pairs."""
    if data_dir is not None:
        return [("--data-dir", pathlib.Path(data_dir))]
    out = []
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    if env:
        out += [("$KERAS_SEQ_DATA_DIR", pathlib.Path(env) / "imdb"),
                ("$KERAS_SEQ_DATA_DIR", pathlib.Path(env))]
    for base in (repo_root(), pathlib.Path.cwd()):
        out.append(("../shared/datasets", base.parent / "shared" / "datasets" / "imdb"))
    out.append(("cache", cache_dir() / "imdb"))
    return out


def find_imdb(data_dir=None):
    """Finds a local copy of the dataset.

    Args:
        data_dir: optional directory given by the user (`--data-dir`). When given, it must
            hold the dataset: nothing else is searched.

    Returns:
        `(format, path, where)`, or None when no local copy exists (and `data_dir` is None).

    Raises:
        ValueError: `data_dir` is given but holds none of the known forms.
    """
    for where, path in candidate_dirs(data_dir):
        found = detect_format(path)
        if found:
            return found[0], found[1], where
    if data_dir is not None:
        raise ValueError(
            f"`--data-dir` must hold the IMDB dataset, got data_dir={str(data_dir)!r}, which "
            "has neither aclImdb/{train,test}/{pos,neg}/*.txt (the original layout, from "
            f"{IMDB_URL}) nor train.jsonl.gz and test.jsonl.gz."
        )
    return None


def download_imdb(url=None, sha256=None, cache=None, progress=print):
    """Downloads, verifies and extracts the archive into `cache/imdb/aclImdb`.

    The archive goes to a temporary file in the cache folder and is renamed to its final
    name only after its sha256 matched; extraction goes to a temporary folder renamed to
    `aclImdb` at the end. A failure leaves neither behind.

    Args:
        url: where to fetch `aclImdb_v1.tar.gz` (default `IMDB_URL`; `file://` works too).
        sha256: the expected hex digest of the archive (default `IMDB_SHA256`).
        cache: the cache root (default: `cache_dir()`).
        progress: a function called with status lines.

    Returns:
        The path of the extracted `aclImdb` directory.

    Raises:
        ValueError: the download's sha256 differs from `sha256`.
        OSError: the download failed (e.g. offline).
    """
    url = url or IMDB_URL
    sha256 = sha256 or IMDB_SHA256
    target = pathlib.Path(cache or cache_dir()) / "imdb"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "aclImdb_v1.tar.gz"
    if not archive.is_file():
        progress(f"Downloading the IMDB dataset from {url} ...")
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".download-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
            got = sha256_of(tmp)
            if got != sha256:
                raise ValueError(
                    f"Checksum mismatch for the IMDB archive downloaded from {url}: sha256 "
                    f"received {got}, expected {sha256}. The file was deleted; retry, or "
                    "pass --data-dir with a local copy."
                )
            os.replace(tmp, archive)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    elif sha256_of(archive) != sha256:
        got = sha256_of(archive)
        archive.unlink()
        raise ValueError(
            f"Checksum mismatch for the cached IMDB archive {archive}: sha256 received {got}, "
            f"expected {sha256}. The file was deleted; run again to download it anew."
        )
    final = target / "aclImdb"
    if not final.is_dir():
        tmp_dir = pathlib.Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = [m for m in tar.getmembers() if _wanted_member(m.name)]
                tar.extractall(tmp_dir, members=members, filter="data")
            if detect_format(tmp_dir) is None:
                raise ValueError(
                    f"The archive {archive} does not hold aclImdb/{{train,test}}/{{pos,neg}}."
                )
            os.replace(tmp_dir / "aclImdb", final)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return final


def _wanted_member(name):
    parts = pathlib.PurePosixPath(name).parts
    # aclImdb/{train,test}/{pos,neg}/*.txt (skip train/unsup and the .feat files).
    return (
        len(parts) >= 3
        and parts[0] == "aclImdb"
        and parts[1] in SPLITS
        and (len(parts) == 3 and parts[2] in ("pos", "neg") or len(parts) == 4
             and parts[2] in ("pos", "neg") and parts[3].endswith(".txt"))
    ) or parts in (("aclImdb",), ("aclImdb", "train"), ("aclImdb", "test"))


def read_aclimdb_split(root, split):
    """Reads `root/split/{neg,pos}/*.txt`, sorted by (label, id).

    Returns:
        A `TextSplit` (label 1 for `pos/`, 0 for `neg/`).
    """
    texts, labels = [], []
    for label, folder in ((0, "neg"), (1, "pos")):
        files = sorted(
            pathlib.Path(root, split, folder).glob("*.txt"),
            key=lambda p: (int(p.stem.split("_")[0]) if p.stem.split("_")[0].isdigit() else 0,
                           p.name),
        )
        for f in files:
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    if not texts:
        raise ValueError(f"No reviews found under {root}/{split}/{{neg,pos}}/*.txt.")
    return TextSplit(texts, np.asarray(labels, "int32"))


def read_jsonl_split(path):
    """Reads one `*.jsonl.gz` file of `{"id", "rating", "label", "text"}` lines.

    Raises:
        ValueError: the file is no gzip file, is truncated or corrupt, holds a line that is
            not UTF-8 JSON, or a row without label 0/1 and a string text; the message names
            the file (and the line).
    """
    texts, labels = [], []
    number = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or row.get("label") not in (0, 1) or \
                        not isinstance(row.get("text"), str):
                    got = row if not isinstance(row, dict) else \
                        f"label={row.get('label')!r}, text of type {type(row.get('text')).__name__}"
                    raise ValueError(
                        f"{path}, line {number}: expected 'label' 0 or 1 and a string 'text', "
                        f"got {got}.")
                texts.append(row["text"])
                labels.append(row["label"])
    except gzip.BadGzipFile as error:
        raise ValueError(f"{path} is not a gzip file ({error}); expected the IMDB reviews as "
                         "gzip-compressed JSON lines (train.jsonl.gz, test.jsonl.gz).") from None
    except (EOFError, zlib.error) as error:
        raise ValueError(f"{path} is truncated or corrupt after line {number} "
                         f"({type(error).__name__}: {error}); download or copy it again.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}, line {number + 1}: not UTF-8 text ({error.reason}).") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg}).") from None
    return TextSplit(texts, np.asarray(labels, "int32"))


def read_imdb(fmt, path):
    """Reads both splits of a local copy found by `find_imdb`.

    Returns:
        `{"train": TextSplit, "test": TextSplit}`.

    Raises:
        ValueError: `fmt` is unknown, or a file is unreadable (see `read_jsonl_split`).
    """
    if fmt in ("jsonl", "aclImdb"):
        logger.info("reading the IMDB reviews (train and test) from %s ...", path)
    if fmt == "jsonl":
        return {s: read_jsonl_split(pathlib.Path(path) / f"{s}.jsonl.gz") for s in SPLITS}
    if fmt == "aclImdb":
        return {s: read_aclimdb_split(path, s) for s in SPLITS}
    raise ValueError(f"`fmt` must be 'jsonl' or 'aclImdb', got fmt={fmt!r}.")
