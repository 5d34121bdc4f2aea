"""The task's SavedModel loads in plain TensorFlow (no keras_seq) and equals the Keras model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_seq.data.timeseries import SeriesScaler
from keras_seq.models.rnn_forecaster import RNNForecaster
from keras_seq.tasks import Forecaster, ForecasterPreprocessor

W, H = 6, 3
PLAIN_TF = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    windows = np.array(json.loads(sys.argv[1]), "float32")
    texts = json.loads(sys.argv[2])
    results = {}
    for path in sys.argv[3:]:
        loaded = tf.saved_model.load(path)
        served = loaded.signatures["serving_default"](text=tf.constant(texts))
        direct = loaded.signatures["forecast"](values=tf.constant(windows))
        try:
            loaded.signatures["serving_default"](text=tf.constant(["1, 2"]))
            short = "accepted"
        except tf.errors.InvalidArgumentError as error:
            short = error.message
        results[path] = {
            "signatures": sorted(loaded.signatures),
            "served": {k: v.numpy().tolist() for k, v in served.items()
                       if k != "forecast_text"},
            "text": [s.decode() for s in served["forecast_text"].numpy()],
            "direct": {k: v.numpy().tolist() for k, v in direct.items()},
            "short": short}
    results["imported_keras_seq"] = any(m.startswith("keras_seq") for m in sys.modules)
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Both heads exported, then loaded by ONE plain-TensorFlow process."""
    rng = np.random.default_rng(0)
    history = 100 + 20 * rng.random(40)
    scaler = SeriesScaler("log").fit(history[:30])
    root = tmp_path_factory.mktemp("export")
    models, paths = {}, []
    for gaussian in (False, True):
        model = RNNForecaster(horizon=H, hidden_dim=5, head="gaussian" if gaussian else "mse")
        model(np.zeros((1, W), "float32"))
        path = root / ("gaussian" if gaussian else "mse")
        Forecaster(model, ForecasterPreprocessor(W, H, **scaler.get_config())).export(path)
        models[gaussian] = (model, str(path))
        paths.append(str(path))
    windows = np.stack([history[i:i + W] for i in (0, 10, 30)]).astype("float32")
    texts = [", ".join(f"{v:.6f}" for v in history[:W]),
             " ".join(f"{v:.6f}" for v in history[:10 + W]),  # longer: its last W are used
             ";".join(f"{v:.6f}" for v in history[30 - 4:30 + W]) + ",\n"]
    env = dict(os.environ, PYTHONPATH="")  # a process that cannot import keras_seq
    proc = subprocess.run([sys.executable, "-c", PLAIN_TF, json.dumps(windows.tolist()),
                           json.dumps(texts), *paths],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(root))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return models, scaler, windows, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(params=[False, True], ids=["mse", "gaussian"])
def exported(request, exports):
    models, scaler, windows, results = exports
    model, path = models[request.param]
    assert not results["imported_keras_seq"]
    return request.param, model, scaler, windows, results[path]


def test_export_equals_the_keras_model_in_plain_tensorflow(exported):
    gaussian, model, scaler, windows, out = exported
    assert out["signatures"] == ["forecast", "serving_default"]
    raw = np.asarray(model(scaler.transform_values(windows)), "float64")
    mean = raw[..., 0] if gaussian else raw
    expected = scaler.inverse(mean)
    np.testing.assert_allclose(out["direct"]["forecast"], expected, rtol=1e-4)
    # text histories: ", " / spaces / ";" separated, longer than W -> the last W values
    np.testing.assert_allclose(out["served"]["forecast"], expected, rtol=1e-4)
    assert [float(v) for v in out["text"][0].split(", ")] == pytest.approx(
        expected[0], rel=1e-3)
    if gaussian:
        sigma = np.exp(0.5 * raw[..., 1])
        np.testing.assert_allclose(out["direct"]["lower_95"],
                                   scaler.inverse(mean - 1.959964 * sigma), rtol=1e-4)
        assert np.all(np.array(out["served"]["upper_95"]) > expected)
    else:
        assert set(out["direct"]) == {"forecast"}
    assert f"at least {W} comma-separated values" in out["short"]


def test_task_rejects_bad_settings():
    model = RNNForecaster(horizon=1, hidden_dim=2)
    with pytest.raises(ValueError, match="transform"):
        ForecasterPreprocessor(3, 1, transform="sqrt")
    with pytest.raises(ValueError, match="window"):
        ForecasterPreprocessor(0, 1)
    with pytest.raises(ValueError, match="forecasts 1 steps but the preprocessor's horizon is 2"):
        Forecaster(model, ForecasterPreprocessor(3, 2))
