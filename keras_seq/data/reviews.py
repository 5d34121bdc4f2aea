"""Choosing and loading the review corpus of the sentiment application."""

import numpy as np

from keras_seq.data import imdb
from keras_seq.data.synthetic_reviews import generate_reviews

DATASETS = ("auto", "imdb", "synthetic")


def load_reviews(dataset="auto", data_dir=None, download=True, seed=0,
                 synthetic_sizes=(20000, 5000), log=print):
    """Loads train and test reviews: the real IMDB data, or the generated corpus.

    Args:
        dataset: "imdb" (the real data; an error when it cannot be found or downloaded),
            "synthetic" (the generated corpus), or "auto" (the real data when it is found
            or can be downloaded, else a loud message and the generated corpus).
        data_dir: directory holding the real data (`--data-dir`); see `imdb.find_imdb`.
        download: whether to try downloading when no local copy is found.
        seed: seed of the generated corpus.
        synthetic_sizes: `(train, test)` sizes of the generated corpus.
        log: function called with status lines.

    Returns:
        `(splits, info)`: `splits` is `{"train": TextSplit, "test": TextSplit}`; `info` a
        JSON-able dict saying which data was used (`dataset`, `format`, `path`, `where`).

    Raises:
        ValueError: bad `dataset`, a `data_dir` without the data, or `dataset="imdb"`
            when the data can neither be found nor downloaded.
    """
    if dataset not in DATASETS:
        raise ValueError(f"`--dataset` must be one of {DATASETS}, got dataset={dataset!r}.")
    if dataset in ("auto", "imdb"):
        found = imdb.find_imdb(data_dir)  # raises when data_dir lacks the data
        if found is None and download:
            try:
                path = imdb.download_imdb(progress=log)
                found = ("aclImdb", path, "download")
            except (OSError, ValueError) as error:
                message = (
                    "Could not find or download the IMDB Large Movie Review Dataset "
                    f"({imdb.IMDB_URL}): {error}. Searched: "
                    + ", ".join(f"{w}={p}" for w, p in imdb.candidate_dirs(data_dir))
                    + ". Download and extract it elsewhere and pass --data-dir DIR "
                    "(a folder holding aclImdb/, or the JSONL form), or set KERAS_SEQ_DATA_DIR."
                )
                if dataset == "imdb":
                    raise ValueError(message) from error
                log("!" * 78)
                log("WARNING: " + message)
                log("WARNING: falling back to the GENERATED synthetic review corpus "
                    "(--dataset synthetic). Accuracy on it says nothing about IMDB.")
                log("!" * 78)
        elif found is None and dataset == "imdb":
            raise ValueError(
                "Could not find the IMDB dataset and downloads are off; pass --data-dir DIR "
                f"(the original layout from {imdb.IMDB_URL}, or the JSONL form)."
            )
        if found is not None:
            fmt, path, where = found
            splits = imdb.read_imdb(fmt, path)
            info = {"dataset": "imdb", "format": fmt, "path": str(path), "where": where,
                    "train_size": len(splits["train"]), "test_size": len(splits["test"])}
            log(f"Data: IMDB Large Movie Review Dataset ({fmt} form) from {path} [{where}], "
                f"{len(splits['train'])} train / {len(splits['test'])} test reviews.")
            return splits, info
    train_size, test_size = synthetic_sizes
    splits = {"train": generate_reviews(int(train_size), seed=seed),
              "test": generate_reviews(int(test_size), seed=seed + 1_000_003)}
    info = {"dataset": "synthetic", "format": "generated", "path": None, "where": "generated",
            "seed": seed, "train_size": train_size, "test_size": test_size}
    log(f"Data: GENERATED synthetic review corpus (seed {seed}), {train_size} train / "
        f"{test_size} test reviews - NOT the IMDB dataset.")
    return splits, info


def split_validation(train, fraction, seed):
    """Carves a seeded validation split off `train`.

    Args:
        train: a `TextSplit`.
        fraction: share of `train` that goes to validation, in (0, 1).
        seed: integer seed of the permutation.

    Returns:
        `(train, validation)` `TextSplit`s.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"`--val-fraction` must be in (0, 1), got val_fraction={fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(train))
    n_val = max(1, int(round(len(train) * fraction)))
    return train.take(order[n_val:]), train.take(order[:n_val])


def sample(split, size, seed):
    """A seeded sample of `size` reviews of `split` (all of it when `size` is None or larger).

    The sample keeps the split's order (sorted indices), so it reads like the original.
    """
    if size is None or size >= len(split):
        return split
    order = np.random.default_rng(seed).permutation(len(split))[:size]
    return split.take(np.sort(order))
