"""`import keras_seq` alone registers every serializable class and exposes the public modules."""

import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np

import keras_seq
from keras_seq import layers, losses, models


def test_import_keras_seq_exposes_the_public_modules():
    for name in ("layers", "models", "generation", "losses", "tasks", "load"):
        assert hasattr(keras_seq, name), name
    assert keras_seq.tasks.ImdbClassifier.stem == "imdb"


def test_every_public_class_is_registered_with_keras():
    classes = [obj for module in (layers, models, losses) for obj in vars(module).values()
               if inspect.isclass(obj) and issubclass(obj, (keras.layers.Layer,
                                                            keras.losses.Loss))]
    assert len(classes) > 20
    # Seq2SeqModel is the encoder-decoders' abstract base: its subclasses are what is saved.
    for cls in [c for c in classes if c is not models.Seq2SeqModel]:
        name = keras.saving.get_registered_name(cls)
        assert name.startswith("keras_seq>"), cls
        assert keras.saving.get_registered_object(name) is cls


def test_dot_keras_file_loads_in_a_fresh_process_after_import_keras_seq(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    x = layers.PositionalEmbedding(50, 16, 8)(inputs)
    x = layers.TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(x)
    x = layers.BidirectionalMeanPooledRNN(keras.layers.GRU(4))(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    ids = np.array([[3, 4, 5, 0], [7, 0, 0, 0]], "int32")
    expected = model.predict(ids, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    code = ("import json, sys\nimport keras, numpy as np\nimport keras_seq\n"
            f"model = keras.saving.load_model({str(path)!r})\n"
            "ids = np.array(json.loads(sys.argv[1]), 'int32')\n"
            "print(json.dumps(model.predict(ids, verbose=0).tolist()))\n")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code, json.dumps(ids.tolist())],
                          capture_output=True, text=True, timeout=300, cwd=repo,
                          env={**os.environ, "PYTHONPATH": repo, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.array(json.loads(done.stdout.strip().splitlines()[-1]), "float32")
    np.testing.assert_array_equal(got, expected)
