"""keras_seq.data.flickr8k: reading the official splits, locating, downloading (no network)."""

import io
import json
import os
import pathlib
import zipfile

import pytest

from tests.shared_data import missing_data
from PIL import Image

from keras_seq.data import flickr8k
from keras_seq.data.flickr8k import (
    DOWNLOADS, download_flickr8k, flickr8k_info, locate_flickr8k, read_flickr8k)
from keras_seq.data.translation_pairs import sha256_of

TRAIN = ["t2.jpg", "t1.jpg", "t3.jpg"]  # deliberately not sorted: the file's order counts
DEV = ["d1.jpg"]
TEST = ["e2.jpg", "e1.jpg"]
UNSPLIT = ["u1.jpg"]
ALL = TRAIN + DEV + TEST + UNSPLIT


def _jpeg(color=(120, 60, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buffer, "JPEG")
    return buffer.getvalue()


def _captions(name):
    return [f"Caption {i} of {name} ." for i in range(5)]


def _text_files(names=ALL, train=TRAIN, dev=DEV, test=TEST):
    """{file name: text} of a tiny Flickr8k: captions #4..#0 reversed for the first image."""
    lines = []
    for k, name in enumerate(names):
        order = range(4, -1, -1) if k == 0 else range(5)
        lines += [f"{name}#{i}\t  {_captions(name)[i]}  " for i in order]
    # The full token file names an image that is in no split and has no file.
    lines.append("2258277193_586949ec62.jpg.1#0\tA ghost caption .")
    return {
        "Flickr8k.token.txt": "\n".join(lines) + "\n",
        "Flickr_8k.trainImages.txt": "\n".join(train) + "\n",
        "Flickr_8k.devImages.txt": "\n".join(dev) + "\n",
        "Flickr_8k.testImages.txt": "\n".join(test) + "\n\n",
    }


def make_layout(root, image_folder="Flicker8k_Dataset", images=ALL, **splits):
    root = pathlib.Path(root)
    (root / image_folder).mkdir(parents=True)
    for name in images:
        (root / image_folder / name).write_bytes(_jpeg())
    for name, text in _text_files(**splits).items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("folder", ["Flicker8k_Dataset", "Images", "images"])
def test_read_splits_captions_and_order(tmp_path, folder):
    root = make_layout(tmp_path / "flickr", image_folder=folder)
    splits = read_flickr8k(root)
    assert list(splits) == ["train", "validation", "test", "unsplit"]
    names = {k: [pathlib.Path(p).name for p, _ in v] for k, v in splits.items()}
    assert names == {"train": TRAIN, "validation": DEV, "test": TEST, "unsplit": UNSPLIT}
    for items in splits.values():
        for path, captions in items:
            assert os.path.isabs(path) and os.path.isfile(path)
            assert pathlib.Path(path).parent.name == folder
            assert captions == _captions(pathlib.Path(path).name)  # ordered by #n, stripped


def test_read_accepts_a_relative_root(tmp_path, monkeypatch):
    make_layout(tmp_path / "flickr")
    monkeypatch.chdir(tmp_path)
    path, _ = read_flickr8k("flickr")["train"][0]
    assert path == str(tmp_path / "flickr" / "Flicker8k_Dataset" / TRAIN[0])


def test_info_counts(tmp_path):
    info = flickr8k_info(read_flickr8k(make_layout(tmp_path)))
    assert info == {
        "images": {"train": 3, "validation": 1, "test": 2, "unsplit": 1},
        "captions": {"train": 15, "validation": 5, "test": 10, "unsplit": 5},
        "captions_per_image": {"min": 5, "max": 5},
    }
    assert flickr8k_info({"train": []})["captions_per_image"] == {"min": None, "max": None}


def test_missing_images_are_listed(tmp_path):
    root = make_layout(tmp_path, images=["t1.jpg", "d1.jpg", "u1.jpg"])
    with pytest.raises(ValueError, match=r"4 Flickr8k image\(s\).*t2.jpg, t3.jpg, e2.jpg, e1.jpg"):
        read_flickr8k(root)


def test_malformed_token_line_names_file_and_line(tmp_path):
    root = make_layout(tmp_path)
    token = root / "Flickr8k.token.txt"
    lines = token.read_text().splitlines()
    lines[2] = "t2.jpg has no tab and no number"
    token.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"Flickr8k\.token\.txt:3: expected"):
        read_flickr8k(root)
    lines[2] = "t2.jpg#x\tA caption with a bad number ."
    token.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"Flickr8k\.token\.txt:3: expected"):
        read_flickr8k(root)
    lines[2] = "t2.jpg#2\t   "
    token.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"Flickr8k\.token\.txt:3: expected"):
        read_flickr8k(root)


def test_missing_split_file_is_named(tmp_path):
    root = make_layout(tmp_path)
    (root / "Flickr_8k.devImages.txt").unlink()
    with pytest.raises(ValueError, match=r"lacks Flickr_8k\.devImages\.txt"):
        read_flickr8k(root)


def test_split_image_without_captions_names_file_and_line(tmp_path):
    root = make_layout(tmp_path, test=["e2.jpg", "nocaption.jpg"])
    with pytest.raises(ValueError, match=r"Flickr_8k\.testImages\.txt:2: .*nocaption\.jpg"):
        read_flickr8k(root)


def test_image_in_two_splits_is_an_error(tmp_path):
    root = make_layout(tmp_path, dev=["d1.jpg", "t1.jpg"])
    with pytest.raises(ValueError, match=r"devImages\.txt:2: .*t1\.jpg.*trainImages\.txt:2"):
        read_flickr8k(root)


def test_missing_image_folder(tmp_path):
    root = make_layout(tmp_path, image_folder="photos")
    with pytest.raises(ValueError, match="Flicker8k_Dataset"):
        read_flickr8k(root)


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No shared copy, an empty cache, no KERAS_SEQ_DATA_DIR."""
    monkeypatch.setattr(flickr8k, "_shared_dirs", lambda: [])
    monkeypatch.setenv("KERAS_SEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERAS_SEQ_DATA_DIR", raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("sub", ["", "Flickr8k", "captions"])
def test_locate_with_data_dir(tmp_path, sub, nowhere):
    root = make_layout(tmp_path / "data" / sub)
    assert locate_flickr8k(data_dir=tmp_path / "data", download=False) == root


def test_locate_with_empty_data_dir_mentions_data_dir(tmp_path, nowhere):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="--data-dir.*Flickr8k.token.txt"):
        locate_flickr8k(data_dir=tmp_path / "empty")


def test_locate_with_env_var(tmp_path, monkeypatch, nowhere):
    root = make_layout(tmp_path / "datasets" / "captions")
    monkeypatch.setenv("KERAS_SEQ_DATA_DIR", str(tmp_path / "datasets"))
    assert locate_flickr8k(download=False) == root


def test_locate_finds_the_shared_copy_and_the_cache(tmp_path, monkeypatch, nowhere):
    cached = make_layout(nowhere / "flickr8k")
    assert locate_flickr8k(download=False) == cached
    shared = make_layout(tmp_path / "shared" / "datasets" / "captions")
    monkeypatch.setattr(flickr8k, "_shared_dirs", lambda: [tmp_path / "shared"])
    assert locate_flickr8k(download=False) == shared


def test_offline_with_nothing_says_what_to_do(nowhere):
    with pytest.raises(ValueError) as error:
        locate_flickr8k(download=False)
    message = str(error.value)
    assert "Flickr8k" in message and "--data-dir" in message
    for spec in DOWNLOADS.values():
        assert spec["url"] in message


def test_failed_download_says_what_to_do(nowhere, monkeypatch):
    def refuse(url, timeout=None):
        raise OSError("no network here")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    logged = []
    with pytest.raises(ValueError, match="--data-dir"):
        locate_flickr8k(log=logged.append)
    assert any("no network here" in line for line in logged)
    assert [p.name for p in nowhere.iterdir()] == []  # no temp folder left behind


def make_zips(folder, nested_text=False, drop_image=None):
    """The two archives as the mirrors ship them (with macOS junk); returns {zip name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in DOWNLOADS}
    with zipfile.ZipFile(paths["Flickr8k_Dataset.zip"], "w") as z:
        for name in ALL:
            if name != drop_image:
                z.writestr(f"Flicker8k_Dataset/{name}", _jpeg())
        z.writestr("__MACOSX/Flicker8k_Dataset/._t1.jpg", b"junk")
    with zipfile.ZipFile(paths["Flickr8k_text.zip"], "w") as z:
        for name, text in _text_files().items():
            z.writestr(("Flickr8k_text/" if nested_text else "") + name, text)
        z.writestr("readme.txt", "Flickr8k text files")
    return paths


def serve(monkeypatch, paths):
    """Makes urllib.request.urlopen return the local zips; records the URLs asked for."""
    asked = []

    def fake_urlopen(url, timeout=None):
        asked.append(url)
        return open(paths[url.rsplit("/", 1)[-1]], "rb")

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return asked


@pytest.mark.parametrize("nested_text", [False, True])
def test_download_extracts_verifies_and_records_checksums(tmp_path, monkeypatch, nowhere,
                                                          nested_text):
    zips = make_zips(tmp_path / "server", nested_text=nested_text)
    asked = serve(monkeypatch, zips)
    logged = []
    root = locate_flickr8k(log=logged.append)
    assert root == nowhere / "flickr8k"
    assert asked == [spec["url"] for spec in DOWNLOADS.values()]
    assert sorted(p.name for p in nowhere.iterdir()) == ["flickr8k"]  # temp folder gone
    assert not (root / "__MACOSX").exists() and not list(root.glob("*.zip"))
    splits = read_flickr8k(root)
    assert [pathlib.Path(p).name for p, _ in splits["train"]] == TRAIN
    recorded = json.loads((root / "checksums.json").read_text())
    for name, path in zips.items():
        assert recorded[name]["sha256"] == sha256_of(path)
        assert recorded[name]["url"] == DOWNLOADS[name]["url"]
        assert recorded[name]["verified"] == "trust on first use"
    assert any("sha256" in line for line in logged)
    # Found in the cache next time: no second download.
    assert locate_flickr8k(log=logged.append) == root and len(asked) == 2


def test_redownload_must_match_the_recorded_checksums(tmp_path, monkeypatch, nowhere):
    serve(monkeypatch, make_zips(tmp_path / "server"))
    root = download_flickr8k(log=lambda message: None)
    before = (root / "checksums.json").read_text()
    serve(monkeypatch, make_zips(tmp_path / "other", drop_image="u1.jpg"))  # different bytes
    with pytest.raises(ValueError, match="Checksum mismatch for Flickr8k_Dataset.zip"):
        download_flickr8k(log=lambda message: None)
    assert (root / "checksums.json").read_text() == before  # the old copy is untouched
    serve(monkeypatch, make_zips(tmp_path / "server"))
    assert download_flickr8k(log=lambda message: None) == root


def test_download_with_a_bad_layout_leaves_nothing(tmp_path, monkeypatch, nowhere):
    serve(monkeypatch, make_zips(tmp_path / "server", drop_image="t1.jpg"))
    with pytest.raises(ValueError, match="t1.jpg"):
        locate_flickr8k(log=lambda message: None)
    assert list(nowhere.iterdir()) == []


def test_pinned_checksum_is_enforced(tmp_path, monkeypatch, nowhere):
    serve(monkeypatch, make_zips(tmp_path / "server"))
    monkeypatch.setitem(DOWNLOADS, "Flickr8k_text.zip",
                        dict(DOWNLOADS["Flickr8k_text.zip"], sha256="0" * 64))
    with pytest.raises(ValueError, match="Checksum mismatch for Flickr8k_text.zip"):
        locate_flickr8k(log=lambda message: None)


def _shared_copy():
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    repo = pathlib.Path(__file__).resolve().parents[2]
    for root in ([pathlib.Path(env) / "captions"] if env else []) + [
            repo.parent / "shared" / "datasets" / "captions"]:
        if (root / "Flickr8k.token.txt").is_file():
            return root
    return None


def test_real_shared_copy():
    root = _shared_copy()
    if root is None:
        missing_data("the shared Flickr8k copy ($KERAS_SEQ_DATA_DIR/captions or "
                     "../shared/datasets/captions) is not here")
    assert locate_flickr8k(data_dir=root, download=False) == root
    splits = read_flickr8k(root)
    info = flickr8k_info(splits)
    assert info["images"] == {"train": 306, "validation": 43, "test": 50, "unsplit": 1}
    assert info["captions_per_image"] == {"min": 5, "max": 5}
    assert [pathlib.Path(p).name for p, _ in splits["unsplit"]] == ["1155138244_859fd6e079.jpg"]
    first_train = (root / "Flickr_8k.trainImages.txt").read_text().split()[0]
    assert pathlib.Path(splits["train"][0][0]).name == first_train
    captions = dict((pathlib.Path(p).name, c) for p, c in splits["train"] + splits["test"]
                    + splits["validation"])
    assert captions["1000268201_693b08cb0e.jpg"][1] == "A girl going into a wooden building ."
