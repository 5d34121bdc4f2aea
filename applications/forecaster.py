"""Time-series forecasting: a window of W past values -> the next H values, with a stacked
GRU/LSTM, compared with the persistence and seasonal-naive baselines on a held-out final period.

Run it as `keras-seq train forecaster [options]` or `python applications/forecaster.py`.
Without options it trains on the daily minimum temperatures (Melbourne) when the shared
datasets are found (`--data-dir`, $KERAS_SEQ_DATA_DIR, ../shared/datasets, the download
cache or a verified download) and otherwise on a generated seasonal series (said loudly).
`--series` picks daily-min-temperatures, monthly-sunspots, airline-passengers or generated;
`--csv FILE --value-column COL` any CSV with a header row.

The split is chronological: train, validation (early stopping), then the final test period
(e.g. the last 2 years of temperatures, the last 24 months of passengers). The scaling
(log1p for the airline series, then standardization) is fit on the training part only. The
model, persistence (ŷ_{t+h} = y_t) and seasonal naive (ŷ_{t+h} = y_{t+h-m}) are scored with
MAE and RMSE on the original scale over the SAME test points. The run folder holds
TensorBoard logs (loss, validation MAE/RMSE on the original scale, learning rate, a
forecast-vs-truth image), backups, task.kseq, the SavedModel (`serving_default` takes
comma-separated histories as strings; `forecast` takes float32 [None, W]), config.json,
metrics.json and forecast_vs_truth.png.
"""

import dataclasses
import sys

import numpy as np

from keras_seq.lifecycle import (AppConfig, Application, entry_points, fraction, option,
                                 positive_int)

SERIES_CHOICES = ("auto", "daily-min-temperatures", "monthly-sunspots", "airline-passengers",
                  "generated")


@dataclasses.dataclass
class ForecasterConfig(AppConfig):
    """The options of `keras-seq train forecaster`."""

    APP = "forecaster"

    series: str = option("auto", "data", "auto: the daily minimum temperatures when the "
                         "shared data are found (or downloadable), else the generated series "
                         "(said loudly)", choices=SERIES_CHOICES)
    csv: str = option(None, "data", "any CSV with a header row (first column: dates) instead "
                      "of --series")
    value_column: str = option(None, "data", "column of --csv holding the values: name or "
                               "0-based index (default: the last column)")
    data_dir: str = option(None, "data", "folder holding the series' CSV (or "
                           "timeseries/NAME.csv). Default: $KERAS_SEQ_DATA_DIR, "
                           "../shared/datasets, the cache, or a download")
    no_download: bool = option(False, "data", "never try to download")
    test_periods: int = option(None, "data", "length of the held-out final test period "
                               "(default per series: 730 days, 282 months of sunspots, 24 "
                               "months of passengers; 10%% of a CSV)", type=positive_int)
    val_periods: int = option(None, "data", "length of the validation period just before it "
                              "(default per series)", type=positive_int)
    season: int = option(None, "data", "season m of the seasonal-naive baseline (default per "
                         "series: 365, 132, 12; 12 for a CSV)", type=positive_int)
    transform: str = option("auto", "data", "log: log1p before standardizing (auto: log for "
                            "the airline series)", choices=("auto", "none", "log"))
    window: int = option(None, "model", "W, past values the model reads (default per series: "
                         "30, 48, 24)", type=positive_int)
    horizon: int = option(1, "model", "H, values forecast at once (direct multi-step)",
                          type=positive_int)
    rnn: str = option("gru", "model", "recurrent cell", choices=("gru", "lstm"))
    hidden_dim: int = option(64, "model", "units per recurrent layer", type=positive_int, quick=16,
                             renamed_from="units")
    layers: int = option(1, "model", "stacked recurrent layers", type=positive_int)
    dropout: float = option(0.0, "model", "dropout rate", type=fraction)
    loss: str = option("mse", "model", "mse: point forecast; gaussian: mean and log-variance "
                       "per step trained with the Gaussian negative log-likelihood (95%% "
                       "intervals)", choices=("mse", "gaussian"))
    target: str = option("auto", "model", "delta: the network predicts the change from the "
                         "last value; seasonal-delta: the change from the value one season "
                         "earlier (needs --window >= --season); level: the value itself; "
                         "auto: seasonal-delta for the airline series, delta otherwise",
                         choices=("auto", "delta", "seasonal-delta", "level"))
    patience: int = option(15, "model", "early stopping on validation loss, best weights "
                           "restored (0 = off)", type=int)
    epochs: int = option(100, "training", "passes over the training data", type=positive_int,
                         quick=3)
    batch_size: int = option(32, "training", "global batch size", type=positive_int)


class ForecasterApplication(Application):
    """Trains the `forecaster` task, scores the test period against two baselines, exports."""

    config_class = ForecasterConfig
    description = "Train, evaluate and export a time-series forecaster."

    def resolve(self, config):
        if config.patience < 0:
            raise ValueError(f"`--patience` must be >= 0 (0 = off), got {config.patience}.")
        return config

    def load_data(self, config, log):
        from keras_seq.data.timeseries import load_series, split_windows
        from keras_seq.metrics import forecast_metrics as fm

        values, info = load_series(config.series, csv_file=config.csv,
                                   value_column=config.value_column, data_dir=config.data_dir,
                                   download=not config.no_download, log=log)
        settings = resolve_settings(values, info, config)
        data = split_windows(values, settings["window"], config.horizon,
                             settings["test_periods"], settings["val_periods"])
        h, m, origins = config.horizon, settings["season"], data["test"]["origins"]
        data.update(values=values, settings=settings,
                    persistence=fm.persistence_forecast(values, origins, h))
        try:  # the baselines only look back: check now that the season fits
            data["seasonal"] = fm.seasonal_naive_forecast(values, origins, h, m)
        except ValueError as error:
            raise ValueError(f"--season {m}: {error}") from None
        labels = info.pop("labels", None)
        n, train_end, val_end = len(values), data["train_end"], data["val_end"]
        info.update(points=n, train_points=train_end, validation_points=val_end - train_end,
                    test_points=n - val_end, settings=settings,
                    test_first_label=labels[val_end] if labels else None,
                    test_last_label=labels[-1] if labels else None,
                    description="the GENERATED seasonal series (not real data) - see "
                    "--series/--data-dir/--csv" if info["dataset"] == "generated" else
                    f"{info['dataset']} from {info.get('path')}")
        self.info = info
        self.history_text = ", ".join(f"{v:g}" for v in values[-settings["window"]:])
        return data, info

    def build_task(self, config, data, run_dir, log):
        from keras_seq.tasks import Forecaster

        s, self.run_dir = data["settings"], run_dir
        task = Forecaster.from_series(
            data["values"][:data["train_end"]], window=s["window"], horizon=config.horizon,
            transform=s["transform"], target=s["target"], season=s["season"], rnn=config.rnn,
            hidden_dim=config.hidden_dim, num_layers=config.layers, dropout=config.dropout,
            loss=config.loss)
        train, val = data["train"], data["validation"]
        train_ds, _ = task.dataset(train["x"], train["truth"], config.batch_size, shuffle=True,
                                   seed=config.seed)
        val_ds, _ = task.dataset(val["x"], val["truth"], 256)
        log(f"Series {self.info['dataset']}: {self.info['points']} points, train "
            f"{data['train_end']} / validation {self.info['validation_points']} / test "
            f"{self.info['test_points']} (final period); window W={s['window']}, horizon "
            f"H={config.horizon}, season m={s['season']}, transform {s['transform']}; "
            f"{len(train['x'])} training windows. Model: {config.rnn} x{config.layers}, "
            f"{config.hidden_dim} units, loss {config.loss}, target {s['target']}.")
        return task, train_ds, val_ds, None

    def callbacks(self, task, config, data, run_dir):
        import keras

        from keras_seq.callbacks.forecast_evaluation import ForecastEvaluation

        val, scaler = data["validation"], task.preprocessor.scaler
        self.evaluation = ForecastEvaluation(run_dir.logs, scaler.transform_values(val["x"]),
                                             val["truth"], scaler.inverse, val["origins"] + 1)
        if not config.patience:
            return [self.evaluation]
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, min_lr=1e-5,
                                                  patience=max(2, config.patience // 3)),
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                              restore_best_weights=True),
                self.evaluation]

    def evaluate(self, task, config, data, history, run_dir, log):
        from keras_seq.metrics import forecast_metrics as fm

        s, h, test, val = data["settings"], config.horizon, data["test"], data["validation"]
        out = task.predict(test["x"])
        self.test_forecast = out["forecast"]
        comparison = fm.compare_forecasts(test["truth"], {
            "model": out["forecast"], "persistence": data["persistence"],
            "seasonal_naive": data["seasonal"]})
        values, m = data["values"], s["season"]
        val_forecasts = {"model": task.predict(val["x"])["forecast"],
                         "persistence": fm.persistence_forecast(values, val["origins"], h)}
        if val["origins"].min() + 1 - m >= 0:
            val_forecasts["seasonal_naive"] = fm.seasonal_naive_forecast(
                values, val["origins"], h, m)
        band = None
        if task.gaussian:
            scaled = task.preprocessor.scaler.transform_values
            raw = np.asarray(task.network.predict(scaled(test["x"]), verbose=0), "float64")
            comparison["test_gaussian_nll_scaled"] = float(np.mean(fm.gaussian_nll_numpy(
                scaled(test["truth"]), raw[..., 0], raw[..., 1])))
            comparison["test_coverage_95"] = float(np.mean(
                (test["truth"] >= out["lower_95"]) & (test["truth"] <= out["upper_95"])))
            band = (out["lower_95"][:, -1], out["upper_95"][:, -1], "model 95% interval")
        self._figure(data, config, comparison, out["forecast"], band, run_dir,
                     len(history.history.get("loss", [])))
        return {"horizon": h, "window": s["window"], "season": m,
                "evaluation": f"{h}-step direct forecasts from every origin t whose targets "
                              f"t+1..t+{h} lie in the test period; MAE/RMSE on the original "
                              "scale over all (t, h) pairs, the same points for the model and "
                              "the baselines",
                "test": comparison, "validation": fm.compare_forecasts(val["truth"],
                                                                       val_forecasts),
                "test_mae": comparison["model_mae"], "test_rmse": comparison["model_rmse"],
                "beats_both_baselines": comparison["beats_both_baselines"],
                "parameters": int(task.network.count_params()),
                "validation_original_scale_history": self.evaluation.history}

    def _figure(self, data, config, comparison, forecast, band, run_dir, epochs_run):
        """forecast_vs_truth.png (and its TensorBoard image): H-step forecasts, test period."""
        from keras_seq.callbacks.forecast_evaluation import forecast_figure_png, write_png_summary

        s, h, test, values = data["settings"], config.horizon, data["test"], data["values"]
        w, m, val_end = s["window"], s["season"], data["val_end"]
        start = max(0, val_end - 3 * max(w, m if m <= 60 else w))
        png = forecast_figure_png(
            test["origins"] + h, test["truth"][:, -1],
            {f"model ({h}-step) MAE {comparison['model_mae']:.3g}": forecast[:, -1],
             f"persistence MAE {comparison['persistence_mae']:.3g}":
                 data["persistence"][:, -1],
             f"seasonal naive (m={m}) MAE {comparison['seasonal_naive_mae']:.3g}":
                 data["seasonal"][:, -1]},
            f"{self.info['dataset']}: {h}-step-ahead forecasts over the held-out test period",
            band=band, history=(np.arange(start, val_end), values[start:val_end]),
            ylabel=self.info.get("unit") or "value", path=run_dir.file("forecast_vs_truth.png"))
        write_png_summary(run_dir.logs / "validation", "forecast_vs_truth/test", png,
                          max(0, epochs_run - 1))

    def examples(self, config):
        return [self.history_text]

    def check_export(self, task, config, data, serving):
        import tensorflow as tf

        loaded = tf.saved_model.load(str(self.run_dir.export))
        exported = loaded.signatures["forecast"](
            values=tf.constant(data["test"]["x"], tf.float32))["forecast"].numpy()
        served = serving(text=tf.constant([self.history_text]))["forecast_text"].numpy()[0]
        return {"export_max_abs_diff": float(np.max(np.abs(exported - self.test_forecast))),
                "forecast_after_series_end": served.decode()}

    def summary(self, config, metrics, run_dir):
        test, m, info = metrics["test"], metrics["season"], self.info
        lines = [f"Test period: {info['test_points']} points"
                 + (f" ({info['test_first_label']} .. {info['test_last_label']})"
                    if info["test_first_label"] else "")
                 + f"; {test['points']} (origin, step) pairs, H={config.horizon}.",
                 f"  {'forecast':<22}{'MAE':>10}{'RMSE':>10}"]
        for key, name in (("model", f"model ({config.rnn})"), ("persistence", "persistence"),
                          ("seasonal_naive", f"seasonal naive m={m}")):
            lines.append(f"  {name:<22}{test[key + '_mae']:>10.4f}{test[key + '_rmse']:>10.4f}")
        for b in ("persistence", "seasonal_naive"):
            lines.append(f"  model / {b}: MAE x{test['mae_ratio_to_' + b]:.3f}, RMSE "
                         f"x{test['rmse_ratio_to_' + b]:.3f} -> "
                         f"{'beats it' if test['beats_' + b] else 'does NOT beat it'}")
        if "test_coverage_95" in test:
            lines.append(f"  95% interval coverage on the test period: "
                         f"{test['test_coverage_95']:.1%}")
        return lines + [f"Figure: {run_dir.file('forecast_vs_truth.png')}; max |export - "
                        f"keras| = {metrics['export_max_abs_diff']:.2e}; next {config.horizon} "
                        f"value(s) after the series: {metrics['forecast_after_series_end']}"]


def resolve_settings(values, info, config):
    """The window, season, periods and transform: the options, else the series' defaults."""
    n = len(values)
    settings = dict(
        window=config.window or info.get("window") or min(24, max(2, n // 10)),
        season=config.season or info.get("season") or 12,
        test_periods=int(config.test_periods or info.get("test_periods") or max(1, n // 10)),
        val_periods=int(config.val_periods or info.get("val_periods") or max(1, n // 10)),
        horizon=config.horizon,
        transform=info.get("transform", "none") if config.transform == "auto"
        else config.transform,
        target=info.get("target", "delta") if config.target == "auto" else config.target)
    if settings["target"] == "seasonal-delta" and settings["window"] < settings["season"]:
        raise ValueError(f"--target seasonal-delta needs --window >= --season, got --window "
                         f"{settings['window']} and --season {settings['season']}.")
    return settings


APPLICATION = ForecasterApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
