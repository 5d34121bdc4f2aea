"""The fill-mask SavedModel: loads with tensorflow (+ tensorflow_text) only, matches the model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_seq.export.bert_mlm_module import BertMLMServingModule, fill_mask
from keras_seq.models.masked_language_model import MaskedLanguageModel
from keras_seq.tasks import BertMLM, BertMLMPreprocessor
from tests.bert_mlm.helpers import tiny_vocabulary

# The task harness (test_bert_mlm_task.py) runs the same export through plain TensorFlow
# against predict (one fill-mask graph for both signatures); these repeats are slow.
pytestmark = pytest.mark.slow

SEED_EXAMPLE = "Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce"

PLAIN_TF = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers the word-piece tokenizer's ops
    loaded = tf.saved_model.load(sys.argv[1])
    texts = tf.constant([sys.argv[2], "the time [MASK] was", "no mask here"])
    serve = loaded.signatures["serving_default"](text=texts)
    top3 = loaded.signatures["fill_mask"](text=texts, k=tf.constant(3))
    print(json.dumps({
        "signatures": sorted(loaded.signatures),
        "filled": [s.decode() for s in serve["filled"].numpy()],
        "num_masks": serve["num_masks"].numpy().tolist(),
        "candidates": [[[c.decode() for c in m] for m in row]
                       for row in serve["candidates"].numpy()],
        "probabilities": serve["probabilities"].numpy().tolist(),
        "top3_shape": list(top3["candidates"].shape),
        "imported_keras_seq": any(m.startswith("keras_seq") for m in sys.modules),
    }))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    vocab = list(tiny_vocabulary())
    model = MaskedLanguageModel(len(vocab), sequence_length=32, num_layers=1, num_heads=2,
                                embedding_dim=16, intermediate_dim=32)
    task = BertMLM(model, BertMLMPreprocessor(vocab, sequence_length=32), top_k=4)
    module = BertMLMServingModule(task)
    path = tmp_path_factory.mktemp("export") / "bert"
    module.save(path)
    env = dict(os.environ, PYTHONPATH="")  # a process that cannot import keras_seq
    proc = subprocess.run([sys.executable, "-c", PLAIN_TF, str(path), SEED_EXAMPLE],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=str(path.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, vocab, module, path, json.loads(proc.stdout.strip().splitlines()[-1])


def test_export_loads_in_plain_tensorflow(exported):
    _, _, _, _, out = exported
    assert not out["imported_keras_seq"]
    assert out["signatures"] == ["fill_mask", "serving_default"]
    assert out["num_masks"] == [2, 1, 0]
    assert out["top3_shape"] == [3, 2, 3]
    # the lecture's pair: two [MASK]s, each with 4 candidates, [SEP] kept in the filled text
    assert len(out["candidates"][0]) == 2 and all(len(c) == 4 for c in out["candidates"][0])
    assert "[SEP]" in out["filled"][0] and "[MASK]" not in out["filled"][0]
    assert out["filled"][0].startswith("let ' s make ")
    # no [MASK]: the documented empty answer
    assert out["filled"][2] == "no mask here"
    assert out["candidates"][2] == [["", "", "", ""], ["", "", "", ""]]
    assert out["probabilities"][2] == [[0.0] * 4, [0.0] * 4]
    probs = np.array(out["probabilities"][0])
    assert (np.diff(probs, axis=-1) <= 1e-7).all() and (probs > 0).all()


def test_export_matches_the_keras_model(exported):
    model, vocab, module, _, out = exported
    # the Keras model run on the same packed ids gives the same top candidates
    ids = [2] + [vocab.index(t) for t in ["the", "time"]] + [4] + [vocab.index("was"), 3]
    x = {"token_ids": np.array([ids + [0] * (32 - len(ids))], "int32"),
         "segment_ids": np.zeros((1, 32), "int32"),
         "padding_mask": np.array([[1] * len(ids) + [0] * (32 - len(ids))], bool),
         "mask_positions": np.array([[3]], "int32")}
    logits = np.array(model(x))[0, 0]
    logits[:7] = -np.inf  # reserved tokens are never proposed
    best = [vocab[i] for i in np.argsort(-logits)[:4]]
    assert out["candidates"][1][0] == best
    p = np.exp(logits - logits.max())
    p /= p.sum()
    np.testing.assert_allclose(out["probabilities"][1][0], np.sort(p)[::-1][:4], rtol=1e-4)


def test_python_fill_mask_helper(exported):
    _, _, module, path, out = exported
    got = fill_mask(module, SEED_EXAMPLE, k=4)
    assert [[t for t, _ in m] for m in got] == out["candidates"][0]
    assert fill_mask(str(path), SEED_EXAMPLE, k=2)[1][0][0] == out["candidates"][0][1][0]
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        fill_mask(module, "no mask here")
    with pytest.raises(ValueError, match="`k`"):
        fill_mask(module, "the [MASK]", k=0)

