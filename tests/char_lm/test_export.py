import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_seq.data.char_tokenizer import CharTokenizer
from keras_seq.export.char_lm_module import CharLMServingModule
from keras_seq.models.char_language_model import CharLanguageModel
from tests.char_lm.helpers import TINY_TEXT

PLAIN_TF = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    serve = loaded.signatures["serving_default"]
    gen = loaded.signatures["generate"]
    greedy = serve(text=tf.constant(["the time", "Machine", ""]))
    sampled = gen(prompt=tf.constant(["the time"]), num_chars=tf.constant(25),
                  temperature=tf.constant(1.0))
    scalar = gen(prompt=tf.constant("the time"), num_chars=tf.constant(12),
                 temperature=tf.constant(0.0))
    print(json.dumps({
        "greedy": [s.decode() for s in greedy["continuation"].numpy()],
        "text": [s.decode() for s in greedy["text"].numpy()],
        "sampled": [s.decode() for s in sampled["text"].numpy()],
        "scalar": [s.decode() for s in scalar["continuation"].numpy()],
        "signatures": sorted(loaded.signatures),
        "imported_keras_seq": any(m.startswith("keras_seq") for m in sys.modules),
    }))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tokenizer = CharTokenizer("full", CharTokenizer.build_vocabulary(TINY_TEXT))
    model = CharLanguageModel(tokenizer.vocabulary_size, cell="gru", units=16, num_layers=2,
                              embedding_dim=8)
    model(np.ones((1, 2), "int32"))
    path = tmp_path_factory.mktemp("export") / "char_lm"
    CharLMServingModule(model, tokenizer, default_num_chars=20).save(path)
    env = dict(os.environ, PYTHONPATH="")  # a process that cannot import keras_seq
    proc = subprocess.run([sys.executable, "-c", PLAIN_TF, str(path)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=str(path.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, tokenizer, json.loads(proc.stdout.strip().splitlines()[-1])


def _keras_greedy(model, tokenizer, prompt, n):
    ids = tokenizer.encode_text(prompt) if prompt else tokenizer.encode_text(" ")
    out = model.generate(ids[None].astype("int32"), n)
    return tokenizer.decode(out[:, len(ids):]).numpy()[0].decode()


def test_export_loads_in_plain_tensorflow_and_matches_the_keras_model(exported):
    model, tokenizer, out = exported
    assert not out["imported_keras_seq"]
    assert out["signatures"] == ["generate", "serving_default"]
    for prompt, got in zip(["the time", "Machine", ""], out["greedy"]):
        assert got == _keras_greedy(model, tokenizer, prompt, 20)
    assert out["text"][0] == "the time" + out["greedy"][0]
    assert out["scalar"][0] == out["greedy"][0][: len(out["scalar"][0])]
    assert out["sampled"][0].startswith("the time")


def test_module_rejects_a_mismatched_tokenizer():
    model = CharLanguageModel(10, cell="gru", units=4)
    with pytest.raises(ValueError, match="tokenizer"):
        CharLMServingModule(model, CharTokenizer("d2l"))
