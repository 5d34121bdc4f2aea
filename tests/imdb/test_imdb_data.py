"""IMDB data: loaders for both layouts, verified download, generated corpus, tf.data pipeline."""

import gzip
import hashlib
import json

import numpy as np
import pytest

from tests.shared_data import missing_data
import tensorflow as tf

from keras_seq.data import imdb
from keras_seq.data.pipeline import bucket_lengths, count_bucketed_batches, token_id_dataset
from keras_seq.data.reviews import load_reviews, split_validation
from keras_seq.data.synthetic_reviews import generate_reviews
from keras_seq.data.text import (
    REVIEW_STANDARDIZERS, standardize_review, standardize_review_keep_marks)
from tests.imdb_helpers import (
    make_aclimdb_tarball, make_aclimdb_tree, make_jsonl, shared_imdb_dir)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, no ../shared next to a fake repo root, an empty cache."""
    monkeypatch.delenv("KERAS_SEQ_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_SEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(imdb, "repo_root", lambda: tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_aclimdb_tree_is_read_with_labels(tmp_path):
    make_aclimdb_tree(tmp_path)
    for given in (tmp_path, tmp_path / "aclImdb"):
        fmt, path, where = imdb.find_imdb(given)
        assert (fmt, where) == ("aclImdb", "--data-dir")
        splits = imdb.read_imdb(fmt, path)
        assert splits["train"].labels.tolist() == [0, 0, 1, 1]
        assert splits["train"].texts[2] == "A wonderful film.<br /><br />Loved it!"
        assert len(splits["test"]) == 2  # the unsup folder is not read


def test_jsonl_form_is_read(tmp_path):
    make_jsonl(tmp_path / "imdb")
    fmt, path, _ = imdb.find_imdb(tmp_path / "imdb")
    splits = imdb.read_imdb(fmt, path)
    assert fmt == "jsonl"
    assert splits["train"].labels.tolist() == [0, 0, 1, 1]
    assert splits["test"].texts == ["Terrible plot<br />and worse acting.", "Brilliant and moving."]


def test_jsonl_bad_label_names_line(tmp_path):
    with gzip.open(tmp_path / "train.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": 0, "rating": 1, "label": 7, "text": "x"}) + "\n")
    with pytest.raises(ValueError, match="line 1.*label"):
        imdb.read_jsonl_split(tmp_path / "train.jsonl.gz")


def test_data_dir_without_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--data-dir.*aclImdb.*jsonl"):
        imdb.find_imdb(tmp_path)


def test_env_var_is_searched(isolated, monkeypatch):
    make_jsonl(isolated / "data" / "imdb")
    monkeypatch.setenv("KERAS_SEQ_DATA_DIR", str(isolated / "data"))
    fmt, path, where = imdb.find_imdb()
    assert (fmt, where) == ("jsonl", "$KERAS_SEQ_DATA_DIR")


def test_download_verifies_checksum_and_extracts(isolated):
    archive = make_aclimdb_tarball(isolated / "src.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = imdb.download_imdb(url=archive.as_uri(), sha256=digest, cache=isolated / "cache",
                             progress=lambda s: None)
    assert out == isolated / "cache" / "imdb" / "aclImdb"
    assert imdb.detect_format(out)[0] == "aclImdb"
    # Only the final archive and folder remain: no temp files.
    assert sorted(p.name for p in out.parent.iterdir()) == ["aclImdb", "aclImdb_v1.tar.gz"]
    # The cache is found next time without a download.
    assert imdb.find_imdb()[2] == "cache"


def test_download_checksum_mismatch_leaves_nothing(isolated):
    archive = make_aclimdb_tarball(isolated / "src.tar.gz")
    with pytest.raises(ValueError, match="Checksum mismatch.*expected 0000"):
        imdb.download_imdb(url=archive.as_uri(), sha256="0" * 64, cache=isolated / "cache",
                           progress=lambda s: None)
    assert list((isolated / "cache" / "imdb").iterdir()) == []


def test_offline_auto_falls_back_to_generated_corpus_loudly(isolated, monkeypatch):
    monkeypatch.setattr(imdb, "IMDB_URL", (isolated / "missing.tar.gz").as_uri())
    lines = []
    splits, info = load_reviews("auto", seed=3, synthetic_sizes=(40, 20), log=lines.append)
    text = "\n".join(lines)
    assert info["dataset"] == "synthetic"
    assert "IMDB" in text and "--data-dir" in text and "missing.tar.gz" in text
    assert "GENERATED" in text
    assert len(splits["train"]) == 40 and len(splits["test"]) == 20
    with pytest.raises(ValueError, match="--data-dir"):
        load_reviews("imdb", log=lines.append)
    with pytest.raises(ValueError, match="--dataset"):
        load_reviews("cifar")


def test_generated_corpus_is_seeded_balanced_and_varied():
    a, b = generate_reviews(400, seed=5), generate_reviews(400, seed=5)
    assert a.texts == b.texts and generate_reviews(400, seed=6).texts != a.texts
    assert a.labels.sum() == 200
    lengths = [len(t.split()) for t in a.texts]
    assert min(lengths) < 15 and max(lengths) > 100
    assert any("<br />" in t for t in a.texts)
    assert any(" not " in t or "n't" in t for t in a.texts)
    with pytest.raises(ValueError, match="num_reviews"):
        generate_reviews(0)


def test_validation_split_is_seeded_and_disjoint():
    data = generate_reviews(100, seed=0)
    train, val = split_validation(data, 0.2, seed=1)
    train2, val2 = split_validation(data, 0.2, seed=1)
    assert len(train) == 80 and len(val) == 20 and val.texts == val2.texts
    assert not set(train.texts) & set(val.texts) - set(train.texts)
    with pytest.raises(ValueError, match="val-fraction"):
        split_validation(data, 1.5, seed=1)


def test_standardize_review():
    out = standardize_review(tf.constant(["Great!<br /><br />Loved IT.", b"bad \xff x", "Été"]))
    assert out.numpy()[0].split() == [b"great", b"loved", b"it"]
    assert out.numpy()[1].split()[0] == b"bad"  # invalid UTF-8 does not fail
    assert out.numpy()[2].decode() == "été"


def test_standardize_review_keep_marks():
    out = standardize_review_keep_marks(tf.constant(["Great!!<br />Why, oh why? 7/10 don't"]))
    assert out.numpy()[0].split() == [b"great", b"!", b"!", b"why", b"oh", b"why", b"?", b"7",
                                      b"10", b"don", b"t"]
    assert REVIEW_STANDARDIZERS["marks"] is standardize_review_keep_marks
    assert REVIEW_STANDARDIZERS["strip"] is standardize_review


def test_bucketed_pipeline_keeps_every_example_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 300, size=257)
    rows = [list(range(1, n + 1)) for n in lengths]
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    labels = rng.integers(0, 2, size=257)
    ds = token_id_dataset(ids, labels, batch_size=16, shuffle=True, seed=0, max_length=300)
    widths, total, label_sum, batches = set(), 0, 0, 0
    for x, y in ds:
        widths.add(int(x.shape[1]))
        assert x.dtype == tf.int32 and y.dtype == tf.float32
        total += int(x.shape[0])
        label_sum += int(tf.reduce_sum(y))
        batches += 1
        assert int(tf.reduce_max(tf.reduce_sum(tf.cast(x > 0, tf.int32), 1))) <= x.shape[1]
    assert total == 257 and label_sum == labels.sum()
    assert widths <= set(bucket_lengths(300))
    assert batches == int(ds.cardinality()) == count_bucketed_batches(
        lengths, bucket_lengths(300), 16)
    with pytest.raises(ValueError, match="batch_size"):
        token_id_dataset(ids, labels, batch_size=0)


def test_real_shared_jsonl_if_present():
    path = shared_imdb_dir()
    if path is None:
        missing_data("shared IMDB data not found ($KERAS_SEQ_DATA_DIR or ../shared/datasets/imdb)")
    test = imdb.read_jsonl_split(path / "train.jsonl.gz")
    assert len(test) == 25000 and int(test.labels.sum()) == 12500
    assert test.texts[0].startswith("Story of a man who has unnatural feelings for a pig")
