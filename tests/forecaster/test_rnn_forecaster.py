"""RNNForecaster: shapes, the residual (persistence) form, config and saving, a fit step."""

import numpy as np
import pytest

import keras

from keras_seq.models.rnn_forecaster import RNNForecaster, gaussian_nll


@pytest.mark.parametrize("rnn,layers,head,shape", [
    ("gru", 1, "mse", (3, 4)), ("lstm", 2, "mse", (3, 4)), ("gru", 2, "gaussian", (3, 4, 2))])
def test_output_shapes(rnn, layers, head, shape):
    model = RNNForecaster(horizon=4, rnn=rnn, hidden_dim=6, num_layers=layers, head=head)
    x = np.random.default_rng(0).normal(size=(3, 10)).astype("float32")
    assert tuple(model(x).shape) == shape
    assert tuple(model(x[..., None]).shape) == shape  # [B, W, 1] works too
    assert tuple(model.forecast_mean(x).shape) == (3, 4)
    assert model.compute_output_shape((3, 10)) == shape


def test_residual_form_is_persistence_when_the_head_is_zero():
    model = RNNForecaster(horizon=3, hidden_dim=5, head="gaussian")
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    model(x)
    model.mean_head.set_weights([np.zeros_like(w) for w in model.mean_head.get_weights()])
    out = np.asarray(model(x))
    np.testing.assert_allclose(out[..., 0], np.repeat(x[:, -1:], 3, axis=1), atol=1e-6)
    seasonal = RNNForecaster(horizon=3, hidden_dim=5, residual="seasonal", season=2)
    seasonal(x)
    seasonal.mean_head.set_weights([np.zeros_like(w) for w in seasonal.mean_head.get_weights()])
    # h=1 -> x_{t-1}, h=2 -> x_t, h=3 -> x_{t+3-4} = x_{t-1} (the last observed of its season)
    np.testing.assert_allclose(np.asarray(seasonal(x)), x[:, [6, 7, 6]], atol=1e-6)
    with pytest.raises(ValueError, match="W >= the season m=9"):
        RNNForecaster(horizon=1, hidden_dim=2, residual="seasonal", season=9)(x)
    level = RNNForecaster(horizon=3, hidden_dim=5, residual="none")
    level(x)
    level.mean_head.set_weights([np.zeros_like(w) for w in level.mean_head.get_weights()])
    np.testing.assert_allclose(np.asarray(level(x)), 0.0, atol=1e-6)


def test_config_round_trip_and_keras_file(tmp_path):
    model = RNNForecaster(horizon=2, rnn="lstm", hidden_dim=4, num_layers=2, dropout=0.1,
                          head="gaussian", residual="seasonal", season=3, name="fc")
    x = np.ones((2, 6), "float32")
    expected = np.asarray(model(x))
    config = model.get_config()
    assert {k: config[k] for k in ("horizon", "rnn", "hidden_dim", "num_layers", "dropout", "head",
                                   "residual")} == dict(horizon=2, rnn="lstm", hidden_dim=4,
                                                        num_layers=2, dropout=0.1,
                                                        head="gaussian", residual="seasonal")
    path = tmp_path / "fc.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"gaussian_nll": gaussian_nll})
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-6)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(horizon=0), "horizon"), (dict(rnn="rnn"), "rnn"), (dict(hidden_dim=0), "hidden_dim"),
    (dict(num_layers=0), "num_layers"), (dict(dropout=1.0), "dropout"), (dict(head="l1"), "head"),
    (dict(residual=True), "residual"), (dict(residual="seasonal"), "season")])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        RNNForecaster(**kwargs)


def test_fit_learns_a_sine_better_than_persistence():
    t = np.arange(600, dtype="float32")
    series = np.sin(2 * np.pi * t / 20)
    idx = np.arange(20, 598)
    x = series[idx[:, None] + np.arange(-19, 1)]
    y = series[idx[:, None] + 1]
    model = RNNForecaster(horizon=1, hidden_dim=16)
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    pred = np.asarray(model.forecast_mean(x))
    persistence = np.mean((x[:, -1:] - y) ** 2)
    assert np.mean((pred - y) ** 2) < 0.3 * persistence
