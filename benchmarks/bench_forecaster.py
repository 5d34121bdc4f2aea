"""Benchmark: the forecaster vs persistence vs seasonal naive on the three shared series.

    python benchmarks/bench_forecaster.py [--series NAME ...] [--horizons 1 multi]
        [--epochs 40] [--patience 8] [--runs-root /tmp/bench_runs]

For each series (daily minimum temperatures, monthly sunspots, airline passengers) and each
horizon (1 = one-step; "multi" = the series' multi-step horizon: 7 days, 12 months, 12 months)
it trains the `forecaster` application with its defaults (GRU, 64 units, window 30/48/24,
early stopping on the validation period) and scores the model and both baselines with MAE
and RMSE on the ORIGINAL scale over the same (origin, step) pairs of the held-out final
period (the last 730 days / 282 months / 24 months). A horizon-H row averages the errors of
steps 1..H from every origin whose H targets lie in the test period (a fair comparison: the
baselines forecast the same points from the same origin). Prints a table and writes
benchmarks/out/forecaster.json. Nothing is hard-coded: every number comes from the runs.
"""

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SERIES = ("daily-min-temperatures", "monthly-sunspots", "airline-passengers")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=SERIES, default=list(SERIES))
    parser.add_argument("--horizons", nargs="+", choices=("1", "multi"), default=["1", "multi"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--loss", choices=("mse", "gaussian"), default="mse")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--runs-root", default="/tmp/bench_forecaster_runs")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "forecaster.json"))
    args = parser.parse_args(argv)

    from bench_common import machine_info
    from keras_seq.cli import app_parser
    from keras_seq.data.timeseries import SERIES as SPECS

    module, app = app_parser("forecaster")
    rows, started = [], time.time()
    for name in args.series:
        for horizon in args.horizons:
            h = 1 if horizon == "1" else SPECS[name]["multi_horizon"]
            options = ["--series", name, "--horizon", str(h), "--epochs", str(args.epochs),
                       "--patience", str(args.patience), "--loss", args.loss,
                       "--seed", str(args.seed), "--runs-root", args.runs_root,
                       "--no-download", "--verbose", "0"]
            t0 = time.time()
            metrics = module.run(app.parse_args(options), log=lambda line: None)
            test = metrics["test"]
            rows.append({
                "series": name, "horizon": h, "window": metrics["window"],
                "season": metrics["season"], "points": test["points"],
                "model_mae": test["model_mae"], "model_rmse": test["model_rmse"],
                "persistence_mae": test["persistence_mae"],
                "persistence_rmse": test["persistence_rmse"],
                "seasonal_naive_mae": test["seasonal_naive_mae"],
                "seasonal_naive_rmse": test["seasonal_naive_rmse"],
                "mae_ratio_to_persistence": test["mae_ratio_to_persistence"],
                "mae_ratio_to_seasonal_naive": test["mae_ratio_to_seasonal_naive"],
                "rmse_ratio_to_persistence": test["rmse_ratio_to_persistence"],
                "rmse_ratio_to_seasonal_naive": test["rmse_ratio_to_seasonal_naive"],
                "beats_both": test["beats_both_baselines"],
                "test_coverage_95": test.get("test_coverage_95"),
                "epochs_run": metrics["epochs_run_this_call"], "seconds": time.time() - t0,
                "command": "keras-seq train forecaster " + " ".join(options)})
            r = rows[-1]
            print(f"{name:<24} H={h:<3} model MAE {r['model_mae']:8.3f} | persistence "
                  f"{r['persistence_mae']:8.3f} | seasonal naive {r['seasonal_naive_mae']:8.3f}"
                  f" | beats both: {r['beats_both']} ({r['seconds']:.0f} s)", flush=True)
    header = (f"{'series':<24}{'H':>3}{'pts':>6} | {'model MAE':>9}{'RMSE':>9} | "
              f"{'persist MAE':>11}{'RMSE':>9} | {'s-naive MAE':>11}{'RMSE':>9} | "
              f"{'MAE ratio p/s':>14} | beats both")
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['series']:<24}{r['horizon']:>3}{r['points']:>6} | {r['model_mae']:>9.3f}"
              f"{r['model_rmse']:>9.3f} | {r['persistence_mae']:>11.3f}"
              f"{r['persistence_rmse']:>9.3f} | {r['seasonal_naive_mae']:>11.3f}"
              f"{r['seasonal_naive_rmse']:>9.3f} | {r['mae_ratio_to_persistence']:>6.3f}/"
              f"{r['mae_ratio_to_seasonal_naive']:<7.3f} | {r['beats_both']}")
    total = time.time() - started
    print(f"\nTotal wall time {total:.0f} s.")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "machine": machine_info(), "options": vars(args),
                               "wall_seconds": total, "rows": rows}, indent=2) + "\n")
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
