"""The ELMo SavedModel runs in a process that imports only TensorFlow and equals the model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from keras import ops

from keras_seq.export.elmo_lm_module import ElmoLMServingModule
from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
from keras_seq.tasks import ElmoLM

TEXT = "the time traveller said , the machine is ready .\nwe saw the time machine ."
TEXTS = ["The time machine!", "we saw the traveller , and the machine is ready", ""]

PLAIN_TF = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    texts = json.loads(sys.argv[2])
    emb = loaded.signatures["embed"](text=tf.constant(texts))
    serve = loaded.signatures["serving_default"](text=tf.constant(texts))
    print(json.dumps({
        "embeddings": emb["embeddings"].numpy().tolist(),
        "mask": emb["mask"].numpy().tolist(),
        "tokens": [[t.decode() for t in row] for row in emb["tokens"].numpy()],
        "sentence": serve["sentence_embedding"].numpy().tolist(),
        "next": [w.decode() for w in serve["next_word"].numpy()],
        "previous": [w.decode() for w in serve["previous_word"].numpy()],
        "signatures": sorted(loaded.signatures),
        "imported_keras_seq": any(m.startswith("keras_seq") for m in sys.modules),
        "imported_keras": "keras" in sys.modules,
    }))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    task = ElmoLM.from_text(TEXT, vocabulary_size=52, max_sequence_length=6,
                            embedding_dim=6, hidden_dim=8, num_layers=2)
    model, tokenizer = task.network, task.preprocessor.tokenizer
    path = tmp_path_factory.mktemp("export") / "elmo"
    ElmoLMServingModule(task).save(path)
    env = dict(os.environ, PYTHONPATH="")  # a process that cannot import keras_seq
    proc = subprocess.run([sys.executable, "-c", PLAIN_TF, str(path), json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=str(path.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, tokenizer, json.loads(proc.stdout.strip().splitlines()[-1])


def test_embed_signature_equals_the_keras_model_in_plain_tensorflow(exported):
    model, tokenizer, out = exported
    assert not out["imported_keras_seq"]
    assert out["signatures"] == ["embed", "serving_default"]
    ids = tokenizer.tokenize(TEXTS).to_tensor(default_value=0).numpy()[:, :6]
    emb, mask = model.embed(ids)
    got = np.array(out["embeddings"], "float32")
    assert got.shape == (3, 6, 16)  # cut to max_length=6
    np.testing.assert_allclose(got, ops.convert_to_numpy(emb), atol=1e-5)
    assert np.array_equal(np.array(out["mask"]), ops.convert_to_numpy(mask))
    assert out["tokens"][0] == ["the", "time", "machine", "!", "", ""]
    assert out["tokens"][2] == [""] * 6 and not any(out["mask"][2])


def test_serving_default_sentence_embedding_and_neighbour_words(exported):
    model, tokenizer, out = exported
    emb = np.array(out["embeddings"])
    mask = np.array(out["mask"], bool)
    expected = (emb * mask[..., None]).sum(1) / np.maximum(mask.sum(1), 1)[:, None]
    np.testing.assert_allclose(np.array(out["sentence"]), expected, atol=1e-5)
    vocab = tokenizer.get_vocabulary()
    assert all(w in vocab[2:] for w in out["next"] + out["previous"])
    ids = tokenizer.tokenize(TEXTS[:1]).to_tensor().numpy()
    logits = ops.convert_to_numpy(model(ids)["forward"])[0, -1]
    assert out["next"][0] == vocab[2 + int(np.argmax(logits[2:]))]


def test_mismatched_tokenizer_is_refused():
    task = ElmoLM.from_text("a b", embedding_dim=4, hidden_dim=4, num_layers=1)
    model = BidirectionalLanguageModel(10, embedding_dim=4, hidden_dim=4, num_layers=1)
    with pytest.raises(ValueError, match="vocabulary_size"):
        ElmoLM(model, task.preprocessor)
