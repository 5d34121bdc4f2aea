"""The tagger task's SavedModel runs in a process that imports only TensorFlow, like the model."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_seq.data import span_tagging as st
from keras_seq.export.tagger_module import TaggerServingModule
from keras_seq.metrics.tagging_metrics import tag_ids_to_spans
from keras_seq.models.sequence_tagger import SequenceTagger
from keras_seq.tasks import Tagger, TaggerPreprocessor

TEXTS = ["We paid 12 on 12 March 1998.", "Price 1,200 on 2021-03-04, -7 kg.", "", "x",
         "Only 3/4 came on 04/03/2021 and March 4th, 2020."]

PLAIN_TF = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    out = loaded.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
    print(json.dumps({
        "tags": [s.decode() for s in out["tags"].numpy()],
        "spans": [s.decode() for s in out["spans"].numpy()],
        "num_spans": out["num_spans"].numpy().tolist(),
        "signatures": sorted(loaded.signatures),
        "imported_keras_seq": any(m.startswith("keras_seq") for m in sys.modules),
    }))
""")


def _biased_tagger():
    """A random tagger whose head favours B-/I- tags, so spans (and invalid BIO) occur.

    The seed fixes the recurrent weights too: unseeded, some draws (about one in eight)
    tag almost nothing as a span, and the test below would have too little to compare.
    """
    keras.utils.set_random_seed(0)
    model = SequenceTagger(st.VOCABULARY_SIZE, 5, cell="gru", hidden_dim=8, num_layers=1,
                           bidirectional=True, embedding_dim=8)
    model(np.ones((1, 3), "int32"))
    kernel = np.random.default_rng(0).normal(0, 2.0, model.head.kernel.shape)
    model.head.kernel.assign(kernel.astype("float32"))
    model.head.bias.assign(np.array([0.5, 0.0, 0.3, 0.0, 0.3], "float32"))
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _biased_tagger()
    names = st.tag_names()
    path = tmp_path_factory.mktemp("export") / "tagger"
    TaggerServingModule(Tagger(model, TaggerPreprocessor())).save(path)
    env = dict(os.environ, PYTHONPATH="")  # a process that cannot import keras_seq
    proc = subprocess.run([sys.executable, "-c", PLAIN_TF, str(path), json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=str(path.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, names, json.loads(proc.stdout.strip().splitlines()[-1])


def test_export_equals_the_keras_model(exported):
    model, names, out = exported
    assert not out["imported_keras_seq"] and out["signatures"] == ["serving_default"]
    predicted = model.predict_tags(st.pad_batch([st.encode_chars(t) for t in TEXTS]))
    total = 0
    for i, text in enumerate(TEXTS):
        tags = [names[t] for t in predicted[i, :len(text)]]
        assert out["tags"][i] == " ".join(tags)
        spans = tag_ids_to_spans(predicted[i], names, len(text))
        assert out["spans"][i] == " | ".join(f"{k}:{text[a:b]}" for a, b, k in spans)
        assert out["num_spans"][i] == len(spans)
        total += len(spans)
    assert out["tags"][2] == "" and out["spans"][2] == ""
    assert total > 3  # the biased head made spans to decode


def test_export_client_predict_and_describe(tmp_path, exported):
    from keras_seq.export.client import describe_export, predict

    model, names, out = exported
    path = tmp_path / "e"
    Tagger(model, TaggerPreprocessor()).export(path)
    rows = predict(str(path), TEXTS[:2])
    assert [r["input"] for r in rows] == TEXTS[:2]
    assert [r["spans"] for r in rows] == out["spans"][:2]
    assert [r["tags"] for r in rows] == out["tags"][:2]
    described = describe_export(str(path))
    assert described[0].startswith("serving_default: text (one text per input) -> ")
    assert "tags" in described[0]


def test_task_rejects_mismatched_tags():
    model = _biased_tagger()
    with pytest.raises(ValueError, match="predicts 5 tags but the preprocessor has 3"):
        Tagger(model, TaggerPreprocessor(["NUM"]))
    with pytest.raises(ValueError, match="`types` must be"):
        TaggerPreprocessor(["NUM", "NUM"])
