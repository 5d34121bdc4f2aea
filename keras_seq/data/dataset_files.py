"""Where dataset files are found and cached, and their checksums (shared by every loader).

Every loader looks, in order, in `--data-dir` (only there when given), else
`$KERAS_SEQ_DATA_DIR`, the `shared/datasets` folder next to the repository or the working
directory, and last the download cache. The cache is `$KERAS_SEQ_CACHE` (the older
`$KERAS_SEQ_CACHE_DIR` is still read), else `~/.keras/datasets/keras_seq`.
"""

import hashlib
import os
import pathlib


def sha256_of(path, chunk=1 << 20):
    """Hex sha256 of a file, read in `chunk`-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir():
    """Download cache: `$KERAS_SEQ_CACHE`, `$KERAS_SEQ_CACHE_DIR` or ~/.keras/datasets/keras_seq."""
    root = os.environ.get("KERAS_SEQ_CACHE") or os.environ.get("KERAS_SEQ_CACHE_DIR")
    if root:
        return pathlib.Path(root).expanduser()
    return pathlib.Path.home() / ".keras" / "datasets" / "keras_seq"


def dataset_roots(data_dir=None):
    """Folders that may hold datasets: `[data_dir]` when given, else the env var and shared/."""
    if data_dir is not None:
        return [pathlib.Path(data_dir)]
    roots = []
    if os.environ.get("KERAS_SEQ_DATA_DIR"):
        roots.append(pathlib.Path(os.environ["KERAS_SEQ_DATA_DIR"]))
    repo = pathlib.Path(__file__).resolve().parents[2]
    roots += [repo.parent / "shared" / "datasets", pathlib.Path.cwd().parent / "shared" /
              "datasets", pathlib.Path.cwd() / "shared" / "datasets"]
    return roots


def candidate_paths(file_name, subfolder, data_dir=None, cache_subfolder=""):
    """Where `file_name` is looked for: `root/file_name` and `root/subfolder/file_name` for
    each of `dataset_roots(data_dir)`, then (without `data_dir`) the cache."""
    paths = []
    for root in dataset_roots(data_dir):
        paths += [root / file_name, root / subfolder / file_name]
    if data_dir is None:
        paths.append(cache_dir() / cache_subfolder / file_name)
    return paths


def first_existing(paths):
    """The first path of `paths` that is a file, or None."""
    for path in paths:
        if path.is_file():
            return path
    return None
