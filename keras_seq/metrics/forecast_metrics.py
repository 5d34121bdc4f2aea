"""Forecast errors and the two naive baselines, all on the original scale.

For a series y, forecast origins t (the last observed index) and horizons h = 1..H:

    persistence      ŷ_{t+h} = y_t
    seasonal naive   ŷ_{t+h} = y_{t+h-m·k},  k = ceil(h / m)   (m = the season)
    MAE  = mean |y - ŷ|,  RMSE = sqrt(mean (y - ŷ)²)   over every (t, h) pair

Both baselines only use values observed at the origin, so they are compared with a model
that forecasts the same (t, h) points.
"""

import math

import numpy as np


def mae(y_true, y_pred):
    """Mean absolute error over all entries (float)."""
    y_true, y_pred = np.asarray(y_true, "float64"), np.asarray(y_pred, "float64")
    _check_shapes(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true, y_pred):
    """Root mean squared error over all entries (float)."""
    y_true, y_pred = np.asarray(y_true, "float64"), np.asarray(y_pred, "float64")
    _check_shapes(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def _check_shapes(y_true, y_pred):
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"`y_true` and `y_pred` must have the same non-empty shape, got "
                         f"{y_true.shape} and {y_pred.shape}.")


def targets(values, origins, horizon):
    """The truth y_{t+h}: array `[N, H]`."""
    values = np.asarray(values, "float64")
    return values[np.asarray(origins)[:, None] + np.arange(1, horizon + 1)[None, :]]


def persistence_forecast(values, origins, horizon):
    """ŷ_{t+h} = y_t for h = 1..H: array `[N, H]`."""
    values = np.asarray(values, "float64")
    return np.repeat(values[np.asarray(origins)][:, None], horizon, axis=1)


def seasonal_naive_forecast(values, origins, horizon, season):
    """ŷ_{t+h} = y_{t+h-m·k} with k = ceil(h/m): the last observed value of the same season.

    Raises:
        ValueError: `season` is not a positive int, or an origin has less than one season of
            history.
    """
    if not isinstance(season, (int, np.integer)) or season <= 0:
        raise ValueError(f"`season` must be a positive int, got {season!r}.")
    values = np.asarray(values, "float64")
    origins = np.asarray(origins)
    h = np.arange(1, horizon + 1)
    lag = season * np.ceil(h / season).astype("int64")  # m·k >= h
    index = origins[:, None] + h[None, :] - lag[None, :]
    if index.min() < 0:
        raise ValueError(f"the seasonal-naive forecast with season {season} needs {season} "
                         f"values before the first origin {int(origins.min())}.")
    return values[index]


def compare_forecasts(truth, forecasts, reference=("persistence", "seasonal_naive")):
    """MAE and RMSE of each forecast and the model's ratios to the baselines.

    Args:
        truth: array `[N, H]` on the original scale.
        forecasts: dict name -> array `[N, H]` (must hold "model" for the ratios).
        reference: the baseline names the ratios are taken against.

    Returns:
        Dict with `{name}_mae`, `{name}_rmse` per forecast, `mae_ratio_to_{b}` /
        `rmse_ratio_to_{b}` (model / baseline; < 1 means the model is better),
        `beats_{b}` (both ratios < 1), `beats_both_baselines`, `points` (N·H) and
        `per_horizon_mae` (name -> list of H values).
    """
    out = {"points": int(np.asarray(truth).size), "per_horizon_mae": {}}
    for name, pred in forecasts.items():
        out[f"{name}_mae"] = mae(truth, pred)
        out[f"{name}_rmse"] = rmse(truth, pred)
        out["per_horizon_mae"][name] = [float(v) for v in
                                        np.mean(np.abs(np.asarray(truth) - pred), axis=0)]
    if "model" in forecasts:
        beats = []
        for b in reference:
            if b not in forecasts:
                continue
            for m in ("mae", "rmse"):
                base = out[f"{b}_{m}"]
                out[f"{m}_ratio_to_{b}"] = out[f"model_{m}"] / base if base > 0 else math.inf
            out[f"beats_{b}"] = bool(out[f"mae_ratio_to_{b}"] < 1 and
                                     out[f"rmse_ratio_to_{b}"] < 1)
            beats.append(out[f"beats_{b}"])
        out["beats_both_baselines"] = bool(beats) and all(beats)
    return out


def gaussian_nll_numpy(y, mean, log_variance):
    """Per-entry Gaussian negative log-likelihood ½(log 2π + s + (y-μ)² e^{-s}) in NumPy."""
    y, mean, s = (np.asarray(a, "float64") for a in (y, mean, log_variance))
    return 0.5 * (np.log(2 * np.pi) + s + (y - mean) ** 2 * np.exp(-s))
