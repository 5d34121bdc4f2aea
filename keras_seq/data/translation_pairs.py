"""Sentence pairs for translation: Tatoeba/ManyThings files, the generated date task, splits.

Where the English→French pairs come from, in order: `--data-dir` (a folder holding `fra.txt`
or `fra-eng/fra.txt`, or the file itself), `$KERAS_SEQ_DATA_DIR/translation/fra-eng/fra.txt`,
`../shared/datasets/translation/fra-eng/fra.txt`, the cache (`~/.keras/datasets/keras_seq`),
or a verified download. Spanish works the same with `spa`.
"""

import os
import pathlib
import random
import shutil
import tempfile
import urllib.request
import zipfile
from keras_seq.data.dataset_files import cache_dir, sha256_of  # noqa: F401 (public here too)

# The file d2l uses (same bytes as the ManyThings 2019-04-07 snapshot of fra.txt).
DATASETS = {
    "fra-eng": {
        "file": "fra.txt",
        "url": "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip",
        "member": "fra-eng/fra.txt",
        "sha256": "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104",
    },
    "spa-eng": {
        "file": "spa.txt",
        "url": "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
        "member": "spa-eng/spa.txt",
        "sha256": None,  # that snapshot may differ from ours: checked for format only
    },
}


def read_pairs(path, limit=None):
    """Reads `english<TAB>foreign[<TAB>attribution]` lines into a list of (en, foreign) pairs.

    Args:
        path: the text file.
        limit: keep only the first `limit` pairs.

    Returns:
        A list of `(source, target)` string pairs.
    """
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                raise ValueError(
                    f"{path}:{number}: expected 'english<TAB>translation', got {line[:80]!r}.")
            pairs.append((fields[0].strip(), fields[1].strip()))
            if limit and len(pairs) >= limit:
                break
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs.")
    return pairs


def _candidates(name, data_dir):
    spec = DATASETS[name]
    if data_dir:
        d = pathlib.Path(data_dir)
        yield from (d, d / spec["file"], d / name / spec["file"])
        return
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    roots = [pathlib.Path(env)] if env else []
    here = pathlib.Path(__file__).resolve().parents[2]
    roots += [here.parent / "shared" / "datasets",
              pathlib.Path.cwd().parent / "shared" / "datasets"]
    for root in roots:
        yield root / "translation" / name / spec["file"]
    yield cache_dir() / name / spec["file"]


def locate_pairs_file(name="fra-eng", data_dir=None, download=True, log=print):
    """Finds (or downloads and verifies) the pairs file of dataset `name`.

    Raises:
        ValueError: with the dataset, its URL and `--data-dir` when nothing is found.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {sorted(DATASETS)}.")
    for path in _candidates(name, data_dir):
        if path.is_file():
            return path
    spec = DATASETS[name]
    if data_dir:
        raise ValueError(
            f"--data-dir {data_dir!r} holds no {spec['file']} (looked for {data_dir}/"
            f"{spec['file']} and {data_dir}/{name}/{spec['file']}).")
    if download:
        try:
            return download_pairs(name, log=log)
        except OSError as error:
            log(f"Download of {spec['url']} failed: {error}")
    raise ValueError(
        f"The {name} sentence pairs are not here and could not be downloaded. Download "
        f"{spec['url']}, unzip it and pass --data-dir pointing at the folder with "
        f"{spec['file']} (or use --dataset dates, the generated task that needs no files).")


def download_pairs(name, log=print):
    """Downloads the zip, checks the text file's sha256, and moves it into the cache."""
    spec = DATASETS[name]
    target = cache_dir() / name / spec["file"]
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"Downloading {spec['url']} ...")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = pathlib.Path(tmp) / "data.zip"
        with urllib.request.urlopen(spec["url"], timeout=60) as response, open(archive, "wb") as f:
            shutil.copyfileobj(response, f)
        extract_member(archive, spec["member"], pathlib.Path(tmp) / spec["file"],
                       spec["sha256"])
        os.replace(pathlib.Path(tmp) / spec["file"], target)
    return target


def extract_member(archive, member, destination, sha256=None):
    """Extracts `member` of a zip to `destination`, verifying its sha256 when given."""
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        match = [n for n in names if n == member or n.endswith("/" + member.split("/")[-1])]
        if not match:
            raise ValueError(f"{archive} has no {member} (members: {names[:5]}...).")
        with z.open(match[0]) as src, open(destination, "wb") as dst:
            shutil.copyfileobj(src, dst)
    if sha256 and sha256_of(destination) != sha256:
        os.remove(destination)
        raise ValueError(
            f"Checksum mismatch for {member} from {archive}: expected sha256 {sha256}.")
    return destination


def split_pairs(pairs, test_size, validation_size, seed=0):
    """A seeded split in which no source sentence of the test split occurs in train/validation.

    Pairs are grouped by their source sentence (the same English sentence often has several
    translations); whole groups go to test, then validation, the rest to train.

    Args:
        pairs: list of (source, target).
        test_size, validation_size: at least this many pairs in each held-out split.
        seed: int.

    Returns:
        dict with "train", "validation", "test" lists of pairs.
    """
    if test_size + validation_size >= len(pairs):
        raise ValueError(
            f"test_size + validation_size ({test_size} + {validation_size}) must be smaller "
            f"than the number of pairs ({len(pairs)}).")
    groups = {}
    for pair in pairs:
        groups.setdefault(pair[0], []).append(pair)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    splits = {"test": [], "validation": [], "train": []}
    for key in keys:
        if len(splits["test"]) < test_size:
            splits["test"] += groups[key]
        elif len(splits["validation"]) < validation_size:
            splits["validation"] += groups[key]
        else:
            splits["train"] += groups[key]
    return splits
