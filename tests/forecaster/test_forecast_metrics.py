"""Baselines, errors and the Gaussian NLL against hand-made numbers and NumPy."""

import math

import numpy as np
import pytest

from keras_seq.metrics import forecast_metrics as fm
from keras_seq.models.rnn_forecaster import gaussian_nll


def test_mae_rmse_by_hand():
    assert fm.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert fm.rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    with pytest.raises(ValueError, match="same non-empty shape"):
        fm.mae([1, 2], [1, 2, 3])


def test_persistence_and_seasonal_naive_on_a_hand_made_series():
    y = np.array([1, 2, 3, 4, 10, 20, 30, 40, 100, 200], "float64")  # season m = 4
    origins = np.array([7, 8])
    np.testing.assert_array_equal(fm.persistence_forecast(y, origins, 2), [[40, 40],
                                                                           [100, 100]])
    # t=7: y_8 <- y_4 = 10, y_9 <- y_5 = 20; t=8: y_9 <- y_5, y_10 <- y_6
    np.testing.assert_array_equal(fm.seasonal_naive_forecast(y, origins, 2, 4), [[10, 20],
                                                                                [20, 30]])
    # h > m: k = ceil(h/m) seasons back, never a value after the origin
    np.testing.assert_array_equal(fm.seasonal_naive_forecast(y, [5], 3, 2), [[10, 20, 10]])
    np.testing.assert_array_equal(fm.targets(y, [7], 2), [[100, 200]])
    with pytest.raises(ValueError, match="needs 4 values before the first origin 1"):
        fm.seasonal_naive_forecast(y, [1], 1, 4)
    with pytest.raises(ValueError, match="season"):
        fm.seasonal_naive_forecast(y, origins, 1, 0)


def test_compare_forecasts_ratios_and_verdicts():
    truth = np.array([[1.0], [2.0], [3.0], [4.0]])
    out = fm.compare_forecasts(truth, {"model": truth + 0.5, "persistence": truth - 1.0,
                                       "seasonal_naive": truth + np.array([[0.1], [0.1], [0.1],
                                                                           [2.0]])})
    assert out["points"] == 4 and out["model_mae"] == pytest.approx(0.5)
    assert out["mae_ratio_to_persistence"] == pytest.approx(0.5) and out["beats_persistence"]
    assert out["seasonal_naive_mae"] == pytest.approx(0.575)
    assert out["seasonal_naive_rmse"] == pytest.approx(math.sqrt((3 * 0.01 + 4) / 4))
    # 0.5 < 0.575 (MAE) and 0.5 < 1.004 (RMSE): it beats seasonal naive too
    assert out["beats_seasonal_naive"] and out["beats_both_baselines"]
    worse = fm.compare_forecasts(truth, {"model": truth + 2, "persistence": truth - 1})
    assert not worse["beats_persistence"] and not worse["beats_both_baselines"]
    assert worse["per_horizon_mae"]["model"] == [2.0]


def test_gaussian_nll_loss_matches_numpy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 3)).astype("float32")
    mean = rng.normal(size=(4, 3)).astype("float32")
    log_var = rng.normal(size=(4, 3)).astype("float32")
    expected = np.mean(0.5 * (np.log(2 * np.pi) + log_var + (y - mean) ** 2 / np.exp(log_var)))
    got = float(gaussian_nll(y, np.stack([mean, log_var], -1)))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(np.mean(fm.gaussian_nll_numpy(y, mean, log_var))) == pytest.approx(expected,
                                                                                  rel=1e-6)
    # at s = log((y-μ)²) the NLL is minimal in s
    s_best = np.log((y - mean) ** 2)
    best = float(gaussian_nll(y, np.stack([mean, s_best], -1)))
    assert best < float(gaussian_nll(y, np.stack([mean, s_best + 0.3], -1)))
    assert best < float(gaussian_nll(y, np.stack([mean, s_best - 0.3], -1)))
