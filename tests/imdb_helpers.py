"""Shared helpers of the IMDB application tests (tiny data, tiny models, tiny exports)."""

import gzip
import io
import json
import os
import pathlib
import tarfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_imdb_dir():
    """The shared JSONL copy of IMDB: $KERAS_SEQ_DATA_DIR/imdb or ../shared/datasets/imdb."""
    env = os.environ.get("KERAS_SEQ_DATA_DIR")
    candidates = [pathlib.Path(env) / "imdb", pathlib.Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets" / "imdb")
    for path in candidates:
        if (path / "train.jsonl.gz").is_file() and (path / "test.jsonl.gz").is_file():
            return path
    return None


REVIEWS = {
    ("train", "pos"): ["A wonderful film.<br /><br />Loved it!", "Great acting, great story."],
    ("train", "neg"): ["Awful. Just awful.", "Boring and dull; a waste of time."],
    ("test", "pos"): ["Brilliant and moving."],
    ("test", "neg"): ["Terrible plot<br />and worse acting."],
}


def make_aclimdb_tree(root):
    """Writes a tiny `root/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt` tree."""
    for (split, label), texts in REVIEWS.items():
        folder = pathlib.Path(root, "aclImdb", split, label)
        folder.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            rating = 9 if label == "pos" else 2
            (folder / f"{i}_{rating}.txt").write_text(text, encoding="utf-8")
    # An unsup folder, as in the original archive (ignored by the loader).
    unsup = pathlib.Path(root, "aclImdb", "train", "unsup")
    unsup.mkdir(parents=True, exist_ok=True)
    (unsup / "0_0.txt").write_text("unlabelled", encoding="utf-8")
    return pathlib.Path(root, "aclImdb")


def make_aclimdb_tarball(path):
    """Writes a tiny `aclImdb_v1.tar.gz` with the layout of the original archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for (split, label), texts in REVIEWS.items():
            for i, text in enumerate(texts):
                data = text.encode("utf-8")
                info = tarfile.TarInfo(
                    f"aclImdb/{split}/{label}/{i}_{9 if label == 'pos' else 2}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    pathlib.Path(path).write_bytes(buf.getvalue())
    return pathlib.Path(path)


def make_jsonl(root):
    """Writes tiny `train.jsonl.gz`/`test.jsonl.gz` files in the shared-dataset form."""
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = []
        for label_name, label in (("neg", 0), ("pos", 1)):
            for i, text in enumerate(REVIEWS[(split, label_name)]):
                rows.append({"id": i, "rating": 9 if label else 2, "label": label, "text": text})
        with gzip.open(root / f"{split}.jsonl.gz", "wt", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return root


def tiny_model_and_vocabulary(texts, labels, vocabulary_size=200, max_length=40, steps=3):
    """Adapts a vectorizer, builds a tiny classifier and trains it `steps` batches."""
    import keras
    import tensorflow as tf

    from keras_seq.data.pipeline import token_id_dataset
    from keras_seq.data.text import standardize_review
    from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier

    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocabulary_size, standardize=standardize_review, ragged=True)
    vectorizer.adapt(texts)
    ids = vectorizer(tf.constant(texts))[:, :max_length]
    model = build_sentiment_classifier(len(vectorizer.get_vocabulary()), embedding_dim=8,
                                       hidden_dim=8, num_stacked=1)
    compile_sentiment_classifier(model)
    ds = token_id_dataset(ids, np.asarray(labels), 16, shuffle=True, seed=0,
                          max_length=max_length)
    model.fit(ds.take(steps), epochs=1, verbose=0, shuffle=False)
    return model, vectorizer


def tiny_task(model, vectorizer, max_length):
    """An `ImdbClassifier` around a tiny model and the vocabulary it was trained with."""
    from keras_seq.tasks import ImdbClassifier, ImdbPreprocessor

    return ImdbClassifier(model, ImdbPreprocessor(vectorizer.get_vocabulary(), max_length))
