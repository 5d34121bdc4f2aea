"""Flickr8k captions: finding the dataset, reading its official splits, counting them.

Layout (as in the original `Flickr8k_text.zip` + `Flickr8k_Dataset.zip`, extracted together):

- `Flickr8k.token.txt`: lines `<image>.jpg#<0-4><TAB><caption>`, 5 captions per image;
- `Flickr_8k.trainImages.txt`, `Flickr_8k.devImages.txt`, `Flickr_8k.testImages.txt`: one
  image name per line (the official 6000/1000/1000 split; "dev" is our "validation");
- the image folder, a subfolder next to the token file: `Flicker8k_Dataset/` (the original
  zip's misspelling), `Flickr8k_Dataset/`, `Images/` or `images/`.

Where it comes from, in order: `--data-dir` (the folder, or its `Flickr8k/` or `captions/`
subfolder), `$KERAS_SEQ_DATA_DIR/captions`, `../shared/datasets/captions` (next to the repo or
the working directory), the cache (`$KERAS_SEQ_CACHE` or `~/.keras/datasets/keras_seq`, folder
`flickr8k/`), or a download (see `download_flickr8k`). This module needs no TensorFlow.
"""

import json
import os
import pathlib
import shutil
import tempfile
import urllib.request
import zipfile

from keras_seq.data.translation_pairs import cache_dir, sha256_of

TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "validation": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
IMAGE_DIRS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images")
CHECKSUMS_FILE = "checksums.json"

# The mirrors most tutorials use. Their sha256 is not known here (written offline): None means
# "record it on first download" (trust on first use, see `download_flickr8k`).
DOWNLOADS = {
    "Flickr8k_Dataset.zip": {
        "url": "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
               "Flickr8k_Dataset.zip",
        "sha256": None,
    },
    "Flickr8k_text.zip": {
        "url": "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
               "Flickr8k_text.zip",
        "sha256": None,
    },
}


def _candidates(data_dir):
    if data_dir:
        d = pathlib.Path(data_dir).expanduser()
        yield from (d, d / "Flickr8k", d / "captions")
        return
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    if env:
        yield pathlib.Path(env).expanduser() / "captions"
    for shared in _shared_dirs():
        yield shared / "datasets" / "captions"
    yield cache_dir() / "flickr8k"


def _shared_dirs():
    """`shared/` next to the repository and next to the working directory."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    return [repo.parent / "shared", pathlib.Path.cwd().parent / "shared"]


def locate_flickr8k(data_dir=None, download=True, log=print):
    """Finds the Flickr8k root (the folder holding `Flickr8k.token.txt`), or downloads it.

    Args:
        data_dir: the `--data-dir` folder (or None to search the usual places, see the module
            docstring). Looked at as is, then its `Flickr8k/` and `captions/` subfolders.
        download: whether to download into the cache when nothing is found.
        log: function taking a message (progress and download failures).

    Returns:
        `pathlib.Path` of the root; the image folder is one of its subfolders.

    Raises:
        ValueError: naming Flickr8k, its URLs and `--data-dir` when nothing is found (or
            `data_dir` was given and holds no token file).

    Example:
        >>> root = locate_flickr8k(download=False)  # doctest: +SKIP
        >>> sorted(p.name for p in root.iterdir())[:2]  # doctest: +SKIP
        ['Flickr8k.token.txt', 'Flickr_8k.devImages.txt']
    """
    for root in _candidates(data_dir):
        if (root / TOKEN_FILE).is_file():
            return root
    if data_dir:
        raise ValueError(
            f"--data-dir {str(data_dir)!r} holds no Flickr8k {TOKEN_FILE} (looked in the "
            f"folder and its Flickr8k/ and captions/ subfolders). Point it at the folder that "
            f"holds {TOKEN_FILE}, the Flickr_8k.*Images.txt split files and the image folder.")
    urls = " and ".join(spec["url"] for spec in DOWNLOADS.values())
    if download:
        try:
            return download_flickr8k(log=log)
        except OSError as error:
            log(f"Download of Flickr8k failed: {error}")
    raise ValueError(
        f"The Flickr8k captions dataset is not here and could not be downloaded. Download "
        f"{urls}, unzip both into one folder (it then holds {TOKEN_FILE}, the split files and "
        f"Flicker8k_Dataset/) and pass --data-dir pointing at it (or set KERAS_SEQ_DATA_DIR "
        f"to a folder with a captions/ subfolder).")


def image_dir(root):
    """The image folder of a Flickr8k root (first of `IMAGE_DIRS` that exists).

    Args:
        root: the dataset root.

    Returns:
        `pathlib.Path` of the image folder.

    Raises:
        ValueError: when none of the expected folders exists.
    """
    root = pathlib.Path(root)
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    raise ValueError(f"{root} has no Flickr8k image folder (looked for {', '.join(IMAGE_DIRS)}).")


def read_captions(path):
    """Reads a `Flickr8k.token.txt` file into `{image name: [captions]}`.

    Captions are stripped of surrounding whitespace, otherwise kept as written, and ordered
    by their `#n` number (file order for equal numbers). Blank lines are skipped.

    Args:
        path: the token file.

    Returns:
        dict from image file name to its list of captions, in order of first appearance.

    Raises:
        ValueError: `<file>:<line>: ...` for a line that is not `<image>#<n><TAB><caption>`.

    Example:
        >>> read_captions("Flickr8k.token.txt")["1000268201_693b08cb0e.jpg"][1]  # doctest: +SKIP
        'A girl going into a wooden building .'
    """
    numbered = {}
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            name, hash_, index = key.strip().rpartition("#")
            if not (tab and hash_ and name and index.isdigit() and caption.strip()):
                raise ValueError(
                    f"{path}:{number}: expected '<image>.jpg#<0-4><TAB><caption>', "
                    f"got {line[:80]!r}.")
            numbered.setdefault(name, []).append((int(index), caption.strip()))
    if not numbered:
        raise ValueError(f"{path} holds no captions.")
    return {name: [c for _, c in sorted(items, key=lambda item: item[0])]
            for name, items in numbered.items()}


def _read_split(path, captions, seen):
    names = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            if name in seen:
                raise ValueError(
                    f"{path}:{number}: image {name!r} is listed twice (also at {seen[name]}).")
            if name not in captions:
                raise ValueError(f"{path}:{number}: image {name!r} has no captions in "
                                 f"{TOKEN_FILE}.")
            seen[name] = f"{path.name}:{number}"
            names.append(name)
    return names


def read_flickr8k(root):
    """Reads the official Flickr8k splits with their captions.

    Args:
        root: the dataset root (see `locate_flickr8k`).

    Returns:
        dict with keys "train", "validation" (the official "dev" list), "test" and
        "unsplit", each a list of `(image_path: str, [captions])` pairs; `image_path` is
        absolute. The three splits follow their split file's order. "unsplit" holds the
        images that have captions and an image file but are in no split file (one image in
        the shared 400-image copy; a few in the full dataset), in token-file order; it is
        not a split to train on. Captioned names that are in no split and have no image
        file (the full token file lists `2258277193_586949ec62.jpg.1`) are left out.

    Raises:
        ValueError: a missing token or split file (named), a malformed line or an image
            listed twice or without captions (`<file>:<line>: ...`), a missing image folder,
            or split images missing from the image folder (the count and the first few).

    Example:
        >>> splits = read_flickr8k(locate_flickr8k(download=False))  # doctest: +SKIP
        >>> path, captions = splits["train"][0]  # doctest: +SKIP
        >>> len(captions)  # doctest: +SKIP
        5
    """
    root = pathlib.Path(root).expanduser().absolute()
    missing_files = [name for name in [TOKEN_FILE, *SPLIT_FILES.values()]
                     if not (root / name).is_file()]
    if missing_files:
        raise ValueError(f"Flickr8k folder {root} lacks {', '.join(missing_files)}.")
    captions = read_captions(root / TOKEN_FILE)
    images = image_dir(root)
    seen = {}
    splits = {split: _read_split(root / file, captions, seen)
              for split, file in SPLIT_FILES.items()}
    missing = [name for names in splits.values() for name in names
               if not (images / name).is_file()]
    if missing:
        raise ValueError(
            f"{len(missing)} Flickr8k image(s) listed in the split files are missing from "
            f"{images}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    splits["unsplit"] = [name for name in captions
                         if name not in seen and (images / name).is_file()]
    return {split: [(str(images / name), captions[name]) for name in names]
            for split, names in splits.items()}


def flickr8k_info(splits):
    """Counts for metrics.json: images and captions per split, captions per image.

    Args:
        splits: a `read_flickr8k` result (any dict of lists of `(path, captions)`).

    Returns:
        dict with "images" and "captions" (each `{split: count}`) and "captions_per_image"
        (`{"min": ..., "max": ...}` over all images; None when there are none).

    Example:
        >>> info = flickr8k_info({"train": [("a.jpg", ["x", "y"]), ("b.jpg", ["z"])],
        ...                       "test": []})
        >>> info["images"], info["captions"], info["captions_per_image"]
        ({'train': 2, 'test': 0}, {'train': 3, 'test': 0}, {'min': 1, 'max': 2})
    """
    counts = [len(caps) for items in splits.values() for _, caps in items]
    return {
        "images": {split: len(items) for split, items in splits.items()},
        "captions": {split: sum(len(caps) for _, caps in items)
                     for split, items in splits.items()},
        "captions_per_image": {"min": min(counts, default=None),
                               "max": max(counts, default=None)},
    }


def _safe_extract(archive, destination):
    """Extracts a zip, skipping macOS metadata and refusing paths that leave `destination`."""
    destination = pathlib.Path(destination).resolve()
    with zipfile.ZipFile(archive) as z:
        for member in z.infolist():
            parts = pathlib.PurePosixPath(member.filename).parts
            if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
                continue
            target = (destination / member.filename).resolve()
            if destination not in target.parents and target != destination:
                raise ValueError(f"{archive} member {member.filename!r} leaves the folder.")
            z.extract(member, destination)


def _normalise_layout(folder):
    """Moves the token/split files and the image folder to the top of `folder` if nested."""
    tokens = [p for p in folder.rglob(TOKEN_FILE) if p.is_file()]
    if not tokens:
        raise ValueError(f"The downloaded Flickr8k archives hold no {TOKEN_FILE}.")
    text_dir = tokens[0].parent
    if text_dir != folder:
        for path in text_dir.iterdir():
            if path.is_file() and not (folder / path.name).exists():
                os.replace(path, folder / path.name)
    if not any((folder / name).is_dir() for name in IMAGE_DIRS):
        nested = [p for name in IMAGE_DIRS for p in folder.rglob(name) if p.is_dir()]
        if nested:
            os.replace(nested[0], folder / nested[0].name)


def download_flickr8k(log=print):
    """Downloads both Flickr8k zips, verifies the layout and moves it into the cache.

    Checksums, honestly: the sha256 of the mirrors' zips is not known to this code (it was
    written without internet), so on the first download the sha256 (and size) of each zip is
    recorded in `checksums.json` next to the extracted data ("trust on first use"). A later
    download into the same cache folder (e.g. after images were deleted) must match the
    recorded values, as must any sha256 filled into `DOWNLOADS`. What is always verified is
    the extracted layout: the token file parses, the split files exist and every split
    image is present (`read_flickr8k`). Writes go to a temporary folder inside the cache,
    moved into place with `os.replace`, so an interrupted download leaves nothing behind.

    Args:
        log: function taking a message.

    Returns:
        `pathlib.Path` of the root, `cache_dir()/flickr8k`.

    Raises:
        OSError: when a download fails.
        ValueError: on a checksum mismatch or a bad layout.

    Example:
        >>> root = download_flickr8k()  # doctest: +SKIP
        Downloading https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/...
    """
    target = cache_dir() / "flickr8k"
    target.parent.mkdir(parents=True, exist_ok=True)
    pinned = {name: spec["sha256"] for name, spec in DOWNLOADS.items()}
    if (target / CHECKSUMS_FILE).is_file():
        recorded = json.loads((target / CHECKSUMS_FILE).read_text())
        pinned.update({name: entry["sha256"] for name, entry in recorded.items()
                       if name in pinned and not pinned[name]})
    with tempfile.TemporaryDirectory(dir=target.parent, prefix="flickr8k-") as tmp:
        tmp = pathlib.Path(tmp)
        data = tmp / "flickr8k"
        data.mkdir()
        checksums = {}
        for name, spec in DOWNLOADS.items():
            archive = tmp / name
            log(f"Downloading {spec['url']} ...")
            with urllib.request.urlopen(spec["url"], timeout=60) as response, \
                    open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
            digest = sha256_of(archive)
            if pinned[name] and digest != pinned[name]:
                raise ValueError(
                    f"Checksum mismatch for {name} from {spec['url']}: expected sha256 "
                    f"{pinned[name]}, got {digest}.")
            checksums[name] = {"url": spec["url"], "sha256": digest,
                               "bytes": archive.stat().st_size,
                               "verified": "pinned" if pinned[name] else "trust on first use"}
            _safe_extract(archive, data)
            archive.unlink()
        _normalise_layout(data)
        splits = read_flickr8k(data)
        (data / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=2) + "\n")
        sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        for name, entry in checksums.items():
            log(f"{name}: sha256 {entry['sha256']} ({entry['verified']}).")
        if target.exists():
            log(f"Replacing the incomplete {target}.")
            shutil.rmtree(target)
        os.replace(data, target)
    log(f"Flickr8k is in {target} ({sizes} images).")
    return target
