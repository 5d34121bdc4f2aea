"""The `forecaster` task through the task harness, and its bad-input errors.

The export's `serving_default` takes histories as strings ("v1, v2, ..."), so the harness
sends strings; float windows go through `predict` and the export's `forecast` signature.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_seq.tasks import Forecaster, ForecasterPreprocessor
from tests.task_harness import run_task_test

W, H = 12, 2


@pytest.fixture(scope="module")
def series():
    t = np.arange(160)
    rng = np.random.default_rng(0)
    return (50 + 0.1 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 160)).tolist()


def _task(series, **kwargs):
    return Forecaster.from_series(series, window=W, horizon=H, hidden_dim=4, **kwargs)


def test_forecaster_harness(series, tmp_path):
    task = _task(series, loss="gaussian", transform="log")
    last = series[-W:]
    histories = [", ".join(f"{v:.4f}" for v in last),
                 " ".join(f"{v:.2f}" for v in series[-W - 7:]),  # longer: its last W
                 ";".join(f"{v:g}" for v in series[:W]) + ",\n",
                 ", ".join(["1e1"] * (W - 1) + ["-0.5"])]

    def check(inputs, outputs):
        forecast = np.asarray(outputs["forecast"])
        assert forecast.shape == (len(inputs), H) and np.isfinite(forecast).all()
        assert outputs["forecast_text"] == [", ".join(f"{v:.3f}" for v in row)
                                            for row in forecast]
        assert np.all(np.asarray(outputs["lower_95"]) < forecast)
        assert np.all(forecast < np.asarray(outputs["upper_95"]))

    run_task_test(task, series, None, tmp_path, predict_inputs=histories, check_output=check)


def test_float_windows_equal_the_forecast_signature_and_strings(series, tmp_path):
    task = _task(series)
    task.fit(series, epochs=1, verbose=0)
    windows = np.array([series[i:i + W] for i in (0, 40, 100)], "float32")
    out = task.predict(windows)
    assert sorted(out) == ["forecast", "forecast_text"] and out["forecast"].shape == (3, H)
    task.export(tmp_path / "export")
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    exported = loaded.signatures["forecast"](values=tf.constant(windows))["forecast"].numpy()
    np.testing.assert_allclose(exported, out["forecast"], rtol=0, atol=1e-5)
    texts = [", ".join(repr(float(v)) for v in row) for row in windows]
    assert task.predict(texts)["forecast_text"] == out["forecast_text"]
    longer = [[7.0, 8.0, *row] for row in windows.tolist()]  # the last W values are used
    np.testing.assert_array_equal(task.predict(longer)["forecast"], out["forecast"])


def test_fit_on_windows_and_on_a_dataset(series):
    task = _task(series, target="seasonal-delta", season=12)
    p = task.preprocessor
    origins = np.arange(W - 1, len(series) - H)
    x = np.array([series[t - W + 1:t + 1] for t in origins])
    y = np.array([series[t + 1:t + 1 + H] for t in origins])
    first = task.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    data = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("float32")))
    second = task.fit(data, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(first) and np.isfinite(second)
    # Windows of the series: the same scaled pairs as `windows(series)`.
    xs, ys = p.windows(series)
    np.testing.assert_allclose(xs, p.scaler.transform_values(x), atol=1e-6)
    np.testing.assert_allclose(ys, p.scaler.transform_values(y), atol=1e-6)


@pytest.mark.parametrize("x, message", [
    ([[1.0] * (W - 1) + [float("nan")]], "must hold finite numbers, got nan in row 0"),
    ([", ".join(["1"] * (W - 1) + ["nan"])], "must hold finite numbers"),
    ([", ".join(["1"] * (W - 1) + ["inf"])], "must hold finite numbers"),
    (["1, 2, 3"], f"at least {W} comma-separated values"),
    ([", ".join(["1"] * (W - 1) + ["abc"])], "must hold numbers, got 'abc'"),
    ("1, 2, 3", "wrap it in a list"),
    ([[1.0] * W, [1.0] * (W + 1)], "equal-length windows"),
    ([[1.0] * 3], f"at least {W} values"),
])
def test_bad_predict_input_is_one_value_error(series, x, message):
    task = _task(series)
    with pytest.raises(ValueError, match=message):
        task.predict(x)


@pytest.mark.parametrize("call, message", [
    (lambda s: Forecaster.from_series([s, s]), "1-D series"),
    (lambda s: Forecaster.from_series(s[:-1] + [float("nan")]), "NaN/Inf"),
    (lambda s: Forecaster.from_series("abc"), "series of numbers"),
    (lambda s: Forecaster.from_series(s, window=6, target="seasonal-delta"), "window >= season"),
    (lambda s: Forecaster.from_series(s, target="diff"), "`target` must be one of"),
    (lambda s: Forecaster.from_series([-2.0, *s], transform="log"), "values > -1"),
    (lambda s: _task(s).fit(s[:W + 1]), "at least window \\+ horizon"),
    (lambda s: _task(s).fit([s[:W]], [[1.0]]), f"`y` must hold {H} finite next values"),
    (lambda s: ForecasterPreprocessor(0), "`window` must be a positive int"),
    (lambda s: ForecasterPreprocessor(W, std=0.0), "std > 0"),
])
def test_bad_build_and_fit_input_is_one_value_error(series, call, message):
    with pytest.raises(ValueError, match=message):
        call(series)

