"""Tutorial: time-series forecasting — windows, baselines, an RNN forecaster, uncertainty.

Run it (`--quick` for a smaller smoke run):

    python tutorials/time_series_forecasting.py

It uses the three classic series of ../shared/datasets/timeseries (daily minimum temperatures
in Melbourne, monthly sunspots, monthly airline passengers; the generated seasonal series
when they are absent), trains through the `forecaster` application, prints each step and
writes figures to `tutorials/figures/`:

1. The series and the chronological split train / validation / held-out final test period;
   the scaling (log1p for the airline series, then standardization) is fit on the training
   part only — `forecasting_series_split.png`.
2. Windows (x_{t-W+1..t} -> y_{t+1..t+H}) and the two baselines every model must beat:
   persistence ŷ_{t+h} = y_t and seasonal naive ŷ_{t+h} = y_{t+h-m}; their MAE/RMSE on the
   test period.
3. A GRU forecaster h_t = GRU(x_{t-W+1..t}), ŷ_{t+1..t+H} = r + W h_t + b (r: the last value
   or the value one season earlier — the network learns the change), trained with the MSE;
   forecast vs truth against both baselines — `forecasting_vs_baselines.png`.
4. The Gaussian head: μ and s = log σ² per step trained with the negative log-likelihood
   ½(log 2π + s + (y-μ)² e^{-s}); a 12-month forecast with its 95 % band and the band's
   coverage on the test period — `forecasting_uncertainty.png`.
5. The SavedModel: comma-separated history in, the next values out, in plain TensorFlow.
"""

import argparse
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"
REAL = ("daily-min-temperatures", "monthly-sunspots", "airline-passengers")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(values):
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _app():
    from keras_seq.cli import app_parser

    return app_parser("forecaster")


def _load_all():
    from keras_seq.data.timeseries import load_series

    series = {}
    for name in REAL:
        try:
            values, info = load_series(name, download=False, log=lambda line: None)
        except ValueError:
            continue
        series[name] = (values, info)
    if not series:
        print("NOTE: the shared series are not here: the tutorial uses the GENERATED series "
              "(trend + season + noise), not real data.")
        values, info = load_series("generated", log=lambda line: None)
        series["generated"] = (values, info)
    return series


def step1_series_and_split(args, series):
    from keras_seq.data.timeseries import SeriesScaler, chronological_split

    print("\n== 1. The series and the chronological split ==")
    print("A forecaster is judged on the FUTURE: the last part of each series is held out, the")
    print("part before it picks the epoch (early stopping), and nothing of either is used to")
    print("fit the scaling z = (f(y) - mean_train) / std_train (f = log1p where the variance")
    print("grows with the level, as for the airline passengers).")
    plt = _pyplot()
    fig, axes = plt.subplots(len(series), 1, figsize=(11, 2.6 * len(series)), squeeze=False)
    for ax, (name, (values, info)) in zip(axes[:, 0], series.items()):
        train_end, val_end = chronological_split(len(values), info["test_periods"],
                                                 info["val_periods"])
        scaler = SeriesScaler(info["transform"]).fit(values[:train_end])
        print(f"  {name:<24} {len(values):5d} points: train {train_end}, validation "
              f"{val_end - train_end}, test {len(values) - val_end} (final period); season "
              f"m={info['season']}; transform {info['transform']}, train mean of f(y) "
              f"{scaler.mean:.3f}, std {scaler.std:.3f}")
        t = np.arange(len(values))
        ax.plot(t, values, color="black", lw=0.6)
        ax.axvspan(train_end, val_end, color="tab:orange", alpha=0.2, label="validation")
        ax.axvspan(val_end, len(values), color="tab:red", alpha=0.2, label="test (held out)")
        ax.set_title(f"{name} ({info.get('unit') or 'value'}): train | validation | test",
                     fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.figures_dir / "forecasting_series_split.png", dpi=90)
    plt.close(fig)


def step2_windows_and_baselines(args, series):
    from keras_seq.data.timeseries import chronological_split, forecast_origins, make_windows
    from keras_seq.metrics import forecast_metrics as fm

    print("\n== 2. Windows and the baselines to beat ==")
    values, info = next(iter(series.values()))
    x, y = make_windows(values, np.array([info["window"] - 1]), info["window"], 3)
    print(f"A window: x = y[t-W+1..t] (W={info['window']}) -> targets y[t+1..t+H]; e.g. the "
          f"first one ends with {_fmt(x[0, -3:])} -> {_fmt(y[0])}")
    print("Baselines, from the same origins t over the same test points (original scale):")
    print("  persistence     ŷ_{t+h} = y_t")
    print("  seasonal naive  ŷ_{t+h} = y_{t+h-m·k}, k = ceil(h/m)")
    print(f"  {'series':<24}{'H':>3} {'persistence MAE/RMSE':>22} {'seasonal naive MAE/RMSE':>25}")
    for name, (values, info) in series.items():
        _, val_end = chronological_split(len(values), info["test_periods"], info["val_periods"])
        for h in (1, info["multi_horizon"]):
            origins = forecast_origins(val_end, len(values), h)
            truth = fm.targets(values, origins, h)
            p = fm.persistence_forecast(values, origins, h)
            s = fm.seasonal_naive_forecast(values, origins, h, info["season"])
            print(f"  {name:<24}{h:>3} {fm.mae(truth, p):>11.3f}/{fm.rmse(truth, p):<10.3f} "
                  f"{fm.mae(truth, s):>12.3f}/{fm.rmse(truth, s):<10.3f}")


def _train(args, name, *options):
    module, parser = _app()
    base = pathlib.Path(args.runs_root) / "forecaster"
    base.mkdir(parents=True, exist_ok=True)
    run = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    argv = ["--series", name, "--run-dir", str(run), "--verbose", "0", "--no-download",
            *options]
    if args.quick:
        argv.append("--quick")
    metrics = module.run(parser.parse_args(argv), log=lambda line: None)
    return metrics, run


def _exported_forecasts(run, values, origins, window):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(run / "export"))
    windows = values[origins[:, None] + np.arange(-window + 1, 1)[None, :]]
    out = loaded.signatures["forecast"](values=tf.constant(windows, tf.float32))
    return {k: v.numpy() for k, v in out.items()}


def step3_gru_vs_baselines(args, series):
    from keras_seq.data.timeseries import chronological_split, forecast_origins
    from keras_seq.metrics import forecast_metrics as fm

    print("\n== 3. A GRU forecaster against both baselines ==")
    print("h_t = GRU(x_{t-W+1..t});  ŷ_{t+1..t+H} = r + W h_t + b, trained with the MSE; r is")
    print("the last value (the net learns the change from persistence) or, for the airline")
    print("series, the value one season earlier (the change from seasonal naive).")
    names = [n for n in ("daily-min-temperatures", "airline-passengers") if n in series]
    names = names or list(series)
    if args.quick:
        names = names[-1:]
    plt = _pyplot()
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 3.6 * len(names)), squeeze=False)
    print(f"  {'series':<24}{'model MAE':>10}{'persist.':>10}{'s-naive':>10}  beats both?")
    for ax, name in zip(axes[:, 0], names):
        values, info = series[name]
        metrics, run = _train(args, name)
        t = metrics["test"]
        print(f"  {name:<24}{t['model_mae']:>10.3f}{t['persistence_mae']:>10.3f}"
              f"{t['seasonal_naive_mae']:>10.3f}  {t['beats_both_baselines']} "
              f"(MAE x{t['mae_ratio_to_persistence']:.2f} / x{t['mae_ratio_to_seasonal_naive']:.2f}"
              f", {metrics['epochs_run_this_call']} epochs)")
        _, val_end = chronological_split(len(values), info["test_periods"], info["val_periods"])
        origins = forecast_origins(val_end, len(values), 1)[-120:]  # the last 120 points
        model = _exported_forecasts(run, values, origins, metrics["window"])["forecast"][:, 0]
        x = origins + 1
        ax.plot(x, values[x], color="black", lw=1.4, label="truth")
        ax.plot(x, model, color="tab:blue", lw=1.3, label=f"GRU (MAE {t['model_mae']:.3g})")
        ax.plot(x, fm.persistence_forecast(values, origins, 1)[:, 0], color="tab:orange",
                ls="--", lw=1, label=f"persistence ({t['persistence_mae']:.3g})")
        ax.plot(x, fm.seasonal_naive_forecast(values, origins, 1, info["season"])[:, 0],
                color="tab:green", ls=":", lw=1,
                label=f"seasonal naive m={info['season']} ({t['seasonal_naive_mae']:.3g})")
        ax.set_title(f"{name}: one-step forecasts, the last {len(origins)} test points "
                     "(MAE over the whole test period)", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", ncol=4)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.figures_dir / "forecasting_vs_baselines.png", dpi=90)
    plt.close(fig)


def step4_gaussian_head(args, series):
    from keras_seq.data.timeseries import chronological_split

    print("\n== 4. The Gaussian head: a forecast with its uncertainty ==")
    print("The head outputs μ and s = log σ² for every step; the loss is the Gaussian negative")
    print("log-likelihood ½(log 2π + s + (y-μ)² e^{-s}) — the MSE is its special case with a")
    print("fixed σ. The 95 % interval is μ ± 1.96 σ, mapped back through the scaling.")
    name = "airline-passengers" if "airline-passengers" in series else next(iter(series))
    values, info = series[name]
    h = info["multi_horizon"]
    metrics, run = _train(args, name, "--loss", "gaussian", "--horizon", str(h))
    t = metrics["test"]
    print(f"  {name}, H={h}: model MAE {t['model_mae']:.3f} vs persistence "
          f"{t['persistence_mae']:.3f}, seasonal naive {t['seasonal_naive_mae']:.3f}; "
          f"95 % interval coverage on the test period {t['test_coverage_95']:.0%} "
          f"({t['points']} (origin, step) pairs)")
    _, val_end = chronological_split(len(values), info["test_periods"], info["val_periods"])
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, origin in zip(axes, (val_end - 1, len(values) - 1 - h)):
        out = _exported_forecasts(run, values, np.array([origin]), metrics["window"])
        past = np.arange(max(0, origin - 3 * h), origin + 1)
        future = np.arange(origin + 1, origin + 1 + h)
        ax.plot(past, values[past], color="0.4", label="history")
        ax.plot(future, values[future], color="black", lw=1.4, label="truth")
        ax.plot(future, out["forecast"][0], color="tab:blue", label="μ (forecast)")
        ax.fill_between(future, out["lower_95"][0], out["upper_95"][0], color="tab:blue",
                        alpha=0.2, label="95 % interval")
        ax.set_title(f"{name}: {h}-step forecast from t={origin}", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.figures_dir / "forecasting_uncertainty.png", dpi=90)
    plt.close(fig)
    return run, metrics, values


def step5_export(run, metrics, values):
    import tensorflow as tf

    print("\n== 5. The SavedModel: comma-separated history in, forecasts out ==")
    loaded = tf.saved_model.load(str(run / "export"))
    history = ", ".join(f"{v:g}" for v in values[-metrics["window"]:])
    out = loaded.signatures["serving_default"](text=tf.constant([history]))
    print(f"signatures: {sorted(loaded.signatures)}")
    print(f"serving_default(text=['{history[:40]}...']) ->")
    print(f"  forecast_text: {out['forecast_text'].numpy()[0].decode()}")
    print(f"Same from the shell: keras-seq predict {run / 'export'} \"{history[:30]}...\"")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "tutorial_forecasting"))
    parser.add_argument("--figures-dir", default=str(FIGURES))
    args = parser.parse_args(argv)
    args.figures_dir = pathlib.Path(args.figures_dir)
    args.figures_dir.mkdir(parents=True, exist_ok=True)
    import keras

    keras.utils.set_random_seed(1337)
    series = _load_all()
    step1_series_and_split(args, series)
    step2_windows_and_baselines(args, series)
    step3_gru_vs_baselines(args, series)
    run, metrics, values = step4_gaussian_head(args, series)
    step5_export(run, metrics, values)
    print(f"\nFigures in {args.figures_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
