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
forecast-vs-truth image), backups, the SavedModel (`serving_default` takes comma-separated
histories as strings; `forecast` takes float32 [None, W]), config.json, metrics.json and
forecast_vs_truth.png.
"""

import argparse
import os
import sys
import time

import numpy as np


from keras_seq.app_args import (
    add_run_arguments, apply_quick, float_in, model_scope, positive_int, resolve_jit,
    restore_run_options, run_main)

APP_NAME = "forecaster"
SERIES_CHOICES = ("auto", "daily-min-temperatures", "monthly-sunspots", "airline-passengers",
                  "generated")
QUICK = {"epochs": 3, "units": 16}
RESIDUALS = {"delta": "last", "seasonal-delta": "seasonal", "level": "none"}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    g.add_argument("--series", choices=SERIES_CHOICES, default="auto",
                   help="auto: the daily minimum temperatures when the shared data are found "
                        "(or downloadable), else the generated series (said loudly)")
    g.add_argument("--csv", default=None,
                   help="any CSV with a header row (first column: dates) instead of --series")
    g.add_argument("--value-column", default=None,
                   help="column of --csv holding the values: name or 0-based index "
                        "(default: the last column)")
    g.add_argument("--data-dir", default=None,
                   help="folder holding the series' CSV (or timeseries/NAME.csv). Default: "
                        "$KERAS_SEQ_DATA_DIR, ../shared/datasets, the cache, or a download")
    g.add_argument("--no-download", action="store_true", help="never try to download")
    g.add_argument("--test-periods", type=positive_int("--test-periods"), default=None,
                   help="length of the held-out final test period (default per series: 730 "
                        "days, 282 months of sunspots, 24 months of passengers; 10%% of a CSV)")
    g.add_argument("--val-periods", type=positive_int("--val-periods"), default=None,
                   help="length of the validation period just before it (default per series)")
    g.add_argument("--season", type=positive_int("--season"), default=None,
                   help="season m of the seasonal-naive baseline (default per series: 365, "
                        "132, 12; 12 for a CSV)")
    g.add_argument("--transform", choices=("auto", "none", "log"), default="auto",
                   help="log: log1p before standardizing (auto: log for the airline series)")
    g = parser.add_argument_group("model")
    g.add_argument("--window", type=positive_int("--window"), default=None,
                   help="W, past values the model reads (default per series: 30, 48, 24)")
    g.add_argument("--horizon", type=positive_int("--horizon"), default=1,
                   help="H, values forecast at once (direct multi-step; default 1)")
    g.add_argument("--rnn", choices=("gru", "lstm"), default="gru")
    g.add_argument("--units", type=positive_int("--units"), default=64)
    g.add_argument("--layers", type=positive_int("--layers"), default=1,
                   help="stacked recurrent layers")
    g.add_argument("--dropout", type=float_in("--dropout", 0, 1), default=0.0)
    g.add_argument("--loss", choices=("mse", "gaussian"), default="mse",
                   help="mse: point forecast; gaussian: mean and log-variance per step "
                        "trained with the Gaussian negative log-likelihood (95%% intervals)")
    g.add_argument("--target", choices=("auto", "delta", "seasonal-delta", "level"),
                   default="auto",
                   help="delta: the network predicts the change from the last value; "
                        "seasonal-delta: the change from the value one season earlier "
                        "(needs --window >= --season); level: the value itself; auto: "
                        "seasonal-delta for the airline series, delta otherwise")
    g.add_argument("--patience", type=int, default=15,
                   help="early stopping on validation loss, best weights restored (0 = off)")
    add_run_arguments(parser, default_epochs=100, default_batch_size=32,
                      quick_help=f"smoke run: {QUICK['epochs']} epochs, {QUICK['units']} units")
    return parser


RESUMED_OPTIONS = (
    "series", "csv", "value_column", "data_dir", "no_download", "test_periods", "val_periods",
    "season", "transform", "window", "horizon", "rnn", "units", "layers", "dropout", "loss",
    "target", "patience", "epochs", "batch_size", "learning_rate", "seed", "quick")


def _apply_quick(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    if args.patience < 0:
        raise ValueError(f"`--patience` must be >= 0 (0 = off), got {args.patience}.")
    return args


def resolve_settings(values, info, args):
    """The window, season, periods and transform: the options, else the series' defaults."""
    n = len(values)
    test = args.test_periods or info.get("test_periods") or max(1, n // 10)
    val = args.val_periods or info.get("val_periods") or max(1, n // 10)
    settings = dict(
        window=args.window or info.get("window") or min(24, max(2, n // 10)),
        season=args.season or info.get("season") or 12,
        test_periods=int(test), val_periods=int(val), horizon=args.horizon,
        transform=info.get("transform", "none") if args.transform == "auto" else args.transform,
        target=info.get("target", "delta") if args.target == "auto" else args.target)
    if settings["target"] == "seasonal-delta" and settings["window"] < settings["season"]:
        raise ValueError(f"--target seasonal-delta needs --window >= --season, got --window "
                         f"{settings['window']} and --season {settings['season']}.")
    return settings


def prepare_data(values, settings):
    """Split, scaling and windows. Returns a dict of arrays (see the keys below)."""
    from keras_seq.data.timeseries import (SeriesScaler, chronological_split, forecast_origins,
                                           make_windows)

    n, w, h = len(values), settings["window"], settings["horizon"]
    train_end, val_end = chronological_split(n, settings["test_periods"],
                                             settings["val_periods"])
    scaler = SeriesScaler(settings["transform"]).fit(values[:train_end])
    scaled = scaler.transform_values(values)
    parts = {"train": (w, train_end), "validation": (train_end, val_end), "test": (val_end, n)}
    data = {"scaler": scaler, "scaled": scaled, "train_end": train_end, "val_end": val_end}
    for name, (start, end) in parts.items():
        origins = forecast_origins(start, end, h)
        origins = origins[origins >= w - 1]
        if len(origins) == 0:
            raise ValueError(
                f"the {name} part [{start}, {end}) of the series ({n} points) holds no window: "
                f"--window {w} and --horizon {h} need at least {h} {name} points and {w} "
                "values before them. Use a smaller --window/--horizon or longer periods "
                "(--test-periods, --val-periods).")
        x, y = make_windows(scaled, origins, w, h)
        data[name] = {"origins": origins, "x": x, "y": y,
                      "truth": values[origins[:, None] + np.arange(1, h + 1)[None, :]]}
    return data


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates on the test period, exports; returns the metrics dict.

    Args:
        args: `argparse.Namespace` from a parser filled by `add_arguments`.
        extra_callbacks: more Keras callbacks for `fit`.
        log: function called with the printed lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from keras_seq.app_args import open_run, training_callbacks
    from keras_seq.callbacks.forecast_evaluation import (ForecastEvaluation,
                                                         forecast_figure_png, write_png_summary)
    from keras_seq.data.timeseries import load_series, windows_dataset
    from keras_seq.export.forecaster_module import ForecasterServingModule
    from keras_seq.metrics import forecast_metrics as fm
    from keras_seq.models.rnn_forecaster import RNNForecaster, gaussian_nll

    args = _apply_quick(restore_run_options(args, RESUMED_OPTIONS, log), log)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    jit = resolve_jit(args.jit_compile)

    # ---- data ---------------------------------------------------------------------------
    values, info = load_series(args.series, csv_file=args.csv, value_column=args.value_column,
                               data_dir=args.data_dir, download=not args.no_download, log=log)
    settings = resolve_settings(values, info, args)
    data = prepare_data(values, settings)
    scaler, h, w, m = data["scaler"], settings["horizon"], settings["window"], settings["season"]
    test = data["test"]
    # The baselines only look back; check now that the season fits before the test period.
    persistence = fm.persistence_forecast(values, test["origins"], h)
    try:
        seasonal = fm.seasonal_naive_forecast(values, test["origins"], h, m)
    except ValueError as error:
        raise ValueError(f"--season {m}: {error}") from None
    train_ds = windows_dataset(data["train"]["x"], data["train"]["y"], args.batch_size,
                               shuffle=True, seed=args.seed)
    val_ds = windows_dataset(data["validation"]["x"], data["validation"]["y"], 256)
    labels = info.pop("labels", None)
    data_info = dict(info, points=int(len(values)), train_points=data["train_end"],
                     validation_points=data["val_end"] - data["train_end"],
                     test_points=int(len(values) - data["val_end"]),
                     test_first_label=labels[data["val_end"]] if labels else None,
                     test_last_label=labels[-1] if labels else None)
    run_dir = open_run(APP_NAME, args, data_info, log, settings=settings, jit_compile_resolved=jit,
                       scaler=scaler.get_config())
    run_dir.write_json("scaler.json", scaler.get_config())

    # ---- model --------------------------------------------------------------------------
    gaussian = args.loss == "gaussian"
    with model_scope():  # the --strategy scope (a no-op without one)
        model = RNNForecaster(horizon=h, rnn=args.rnn, units=args.units, num_layers=args.layers,
                              dropout=args.dropout, head="gaussian" if gaussian else "mse",
                              residual=RESIDUALS[settings["target"]], season=m)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
                      loss=gaussian_nll if gaussian else "mse", jit_compile=jit)
        model(data["train"]["x"][:1])
    log(f"Series {info['dataset']}: {len(values)} points, train {data['train_end']} / "
        f"validation {data['val_end'] - data['train_end']} / test "
        f"{len(values) - data['val_end']} (final period); window W={w}, horizon H={h}, "
        f"season m={m}, transform {settings['transform']}; {len(data['train']['x'])} training "
        f"windows. Model: {args.rnn} x{args.layers}, {args.units} units, "
        f"{model.count_params():,} parameters, loss {args.loss}, target {settings['target']}.")

    evaluation = ForecastEvaluation(run_dir.logs, data["validation"]["x"],
                                    data["validation"]["truth"], scaler.inverse,
                                    data["validation"]["origins"] + 1)
    app_callbacks = [evaluation]
    if args.patience:
        app_callbacks.insert(0, keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True))
        app_callbacks.insert(0, keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(2, args.patience // 3), min_lr=1e-5))
    callbacks, budget = training_callbacks(run_dir, args, app_callbacks, extra_callbacks, log)
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose, shuffle=False)
    fit_seconds = time.time() - fit_started
    epochs_run = len(history.history.get("loss", []))

    # ---- test period: model vs persistence vs seasonal naive, original scale ------------
    out = np.asarray(model.predict(test["x"], verbose=0, batch_size=256), "float64")
    model_pred = scaler.inverse(out[..., 0] if gaussian else out)
    comparison = fm.compare_forecasts(test["truth"], {
        "model": model_pred, "persistence": persistence, "seasonal_naive": seasonal})
    val = data["validation"]
    val_out = np.asarray(model.predict(val["x"], verbose=0, batch_size=256), "float64")
    val_forecasts = {"model": scaler.inverse(val_out[..., 0] if gaussian else val_out),
                     "persistence": fm.persistence_forecast(values, val["origins"], h)}
    if val["origins"].min() + 1 - m >= 0:
        val_forecasts["seasonal_naive"] = fm.seasonal_naive_forecast(values, val["origins"], h, m)
    val_comparison = fm.compare_forecasts(val["truth"], val_forecasts)
    band = None
    if gaussian:
        sigma = np.exp(0.5 * out[..., 1])
        lower = scaler.inverse(out[..., 0] - 1.959964 * sigma)
        upper = scaler.inverse(out[..., 0] + 1.959964 * sigma)
        comparison["test_gaussian_nll_scaled"] = float(np.mean(fm.gaussian_nll_numpy(
            test["y"], out[..., 0], out[..., 1])))
        comparison["test_coverage_95"] = float(np.mean((test["truth"] >= lower) &
                                                       (test["truth"] <= upper)))
        band = (lower[:, -1], upper[:, -1], "model 95% interval")

    # ---- figure: the H-step-ahead forecasts over the test period ------------------------
    unit = info.get("unit") or "value"
    t_index = test["origins"] + h
    start = max(0, data["val_end"] - 3 * max(w, m if m <= 60 else w))
    png = forecast_figure_png(
        t_index, test["truth"][:, -1],
        {f"model ({h}-step) MAE {comparison['model_mae']:.3g}": model_pred[:, -1],
         f"persistence MAE {comparison['persistence_mae']:.3g}": persistence[:, -1],
         f"seasonal naive (m={m}) MAE {comparison['seasonal_naive_mae']:.3g}": seasonal[:, -1]},
        f"{info['dataset']}: {h}-step-ahead forecasts over the held-out test period",
        band=band, history=(np.arange(start, data["val_end"]), values[start:data["val_end"]]),
        ylabel=unit, path=run_dir.file("forecast_vs_truth.png"))
    write_png_summary(run_dir.logs / "validation", "forecast_vs_truth/test", png,
                      max(0, epochs_run - 1))

    # ---- export and check it against the Keras model ------------------------------------
    module = ForecasterServingModule(model, scaler.get_config(), w, h, gaussian=gaussian)
    module.save(run_dir.export)
    loaded = tf.saved_model.load(str(run_dir.export))
    raw_windows = values[test["origins"][:, None] + np.arange(-w + 1, 1)[None, :]]
    exported = loaded.signatures["forecast"](values=tf.constant(raw_windows, tf.float32))
    export_diff = float(np.max(np.abs(exported["forecast"].numpy() - model_pred)))
    history_text = ", ".join(f"{v:g}" for v in values[-w:])
    served = loaded.signatures["serving_default"](text=tf.constant([history_text]))
    next_values = served["forecast_text"].numpy()[0].decode()

    metrics = {
        "dataset": info["dataset"], "horizon": h, "window": w, "season": m,
        "evaluation": f"{h}-step direct forecasts from every origin t whose targets "
                      f"t+1..t+{h} lie in the test period; MAE/RMSE on the original scale "
                      "over all (t, h) pairs, the same points for the model and the baselines",
        "test": comparison, "validation": val_comparison,
        "test_mae": comparison["model_mae"], "test_rmse": comparison["model_rmse"],
        "beats_both_baselines": comparison["beats_both_baselines"],
        "export_max_abs_diff": export_diff, "forecast_after_series_end": next_values,
        "epochs": args.epochs, "epochs_run_this_call": epochs_run,
        "stopped_by_time_budget": bool(budget and budget.stopped_at is not None),
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "parameters": int(model.count_params()),
        "validation_original_scale_history": evaluation.history,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    if info["dataset"] == "generated":
        log("DATA: the GENERATED seasonal series (not real data) - see --series/--data-dir/--csv.")
    else:
        log(f"DATA: {info['dataset']} from {info.get('path')}")
    log(f"Test period: {len(values) - data['val_end']} points"
        + (f" ({data_info['test_first_label']} .. {data_info['test_last_label']})"
           if labels else "") + f"; {comparison['points']} (origin, step) pairs, H={h}.")
    log(f"  {'forecast':<22}{'MAE':>10}{'RMSE':>10}")
    for key, name in (("model", f"model ({args.rnn})"), ("persistence", "persistence"),
                      ("seasonal_naive", f"seasonal naive m={m}")):
        log(f"  {name:<22}{comparison[key + '_mae']:>10.4f}{comparison[key + '_rmse']:>10.4f}")
    for b in ("persistence", "seasonal_naive"):
        log(f"  model / {b}: MAE x{comparison['mae_ratio_to_' + b]:.3f}, RMSE "
            f"x{comparison['rmse_ratio_to_' + b]:.3f} -> "
            f"{'beats it' if comparison['beats_' + b] else 'does NOT beat it'}")
    if gaussian:
        log(f"  95% interval coverage on the test period: {comparison['test_coverage_95']:.1%}")
    log(f"Epochs run {epochs_run}, fit {fit_seconds:.0f} s. Figure: "
        f"{run_dir.file('forecast_vs_truth.png')}")
    log(f"Export (signatures serving_default, forecast): {run_dir.export}; max |export - keras| "
        f"= {export_diff:.2e}")
    log(f"Next {h} value(s) after the series: {next_values}")
    log(f"Predict: keras-seq predict {run_dir.export} \"{history_text}\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="forecaster", description="Train, evaluate and export a time-series forecaster.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/forecaster.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
