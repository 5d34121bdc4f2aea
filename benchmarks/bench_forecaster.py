"""Benchmark: the forecaster vs persistence vs seasonal naive on the three shared series.

    python benchmarks/bench_forecaster.py [--series NAME ...] [--horizons 1 multi]
        [--losses mse gaussian] [--rnns gru] [--epochs 40] [--patience 8] [--seeds 1337 7]
    python benchmarks/bench_forecaster.py --quick      # a smoke run (airline, H 1, 2 epochs)

For each series (daily minimum temperatures, monthly sunspots, airline passengers) and each
horizon (1 = one-step; "multi" = the series' multi-step horizon: 7 days, 12 months, 12 months)
it runs the `forecaster` application (`keras-seq train forecaster`, early stopping on its
validation period) and follows the protocol of benchmarks/RESULTS.md:

  1. CHOICE ON VALIDATION. Each configuration (head `--losses` x cell `--rnns`) is trained
     with the first seed on the series CUT BEFORE its test period; the application's held-out
     final period is then the validation period (the series' own `val_periods` points just
     before the test period) and its early stopping uses the period before that. The test
     period is not in the data these runs see. The configuration with the lowest validation
     model MAE is chosen.
  2. TEST ONCE. Only the chosen configuration is trained on the whole series (train,
     validation for early stopping, test) once per `--seeds` and scored on the test period
     (the last 730 days / 282 months / 24 months): MAE and RMSE on the ORIGINAL scale over the
     same (origin, step) pairs for the model and both baselines; mean and min-max over seeds.

A horizon-H row averages the errors of steps 1..H from every origin whose H targets lie in
the scored period (the baselines forecast the same points from the same origin). Prints a
table and writes benchmarks/out/forecaster.json. Nothing is hard-coded.
"""

import argparse
import csv
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SERIES = ("daily-min-temperatures", "monthly-sunspots", "airline-passengers")
FIGURES = ("model_mae", "model_rmse", "persistence_mae", "persistence_rmse",
           "seasonal_naive_mae", "seasonal_naive_rmse", "mae_ratio_to_persistence",
           "mae_ratio_to_seasonal_naive", "rmse_ratio_to_persistence",
           "rmse_ratio_to_seasonal_naive")


def write_before_test(values, info, path):
    """Writes the series without its test period to a CSV (date, value); returns its length."""
    end = len(values) - int(info["test_periods"])
    labels = info.get("labels") or [str(i) for i in range(len(values))]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "value"])
        for i in range(end):
            writer.writerow([labels[i], repr(float(values[i]))])
    return end


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=SERIES, default=list(SERIES))
    parser.add_argument("--horizons", nargs="+", choices=("1", "multi"), default=["1", "multi"])
    parser.add_argument("--losses", nargs="+", choices=("mse", "gaussian"),
                        default=["mse", "gaussian"], help="heads compared on validation")
    parser.add_argument("--rnns", nargs="+", choices=("gru", "lstm"), default=["gru"],
                        help="cells compared on validation")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs-root", default="/tmp/bench_forecaster_runs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: airline passengers, H 1, 2 epochs, 16 units")
    parser.add_argument("--out", default=None, help="default benchmarks/out/forecaster.json "
                        "(forecaster_quick.json with --quick)")

    from bench_common import (add_seeds_argument, check_seeds, choose_on_validation,
                              format_spread, machine_info, run_seeds)

    add_seeds_argument(parser, help_text="seeds: the choosing runs use the first; the chosen "
                       "configuration is tested with each (default 1337 7)")
    args = parser.parse_args(argv)
    check_seeds(parser, args.seeds)
    extra = []
    if args.quick:
        args.series, args.horizons, args.epochs, args.patience = (
            ["airline-passengers"], ["1"], 2, 0)
        extra = ["--hidden-dim", "16"]
    out = pathlib.Path(args.out or ROOT / "benchmarks" / "out"
                       / f"forecaster{'_quick' if args.quick else ''}.json")

    from keras_seq.cli import app_parser
    from keras_seq.data.timeseries import SERIES as SPECS
    from keras_seq.data.timeseries import load_series

    module, app = app_parser("forecaster")
    runs_root = pathlib.Path(args.runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    data_dir = ["--data-dir", args.data_dir] if args.data_dir else []

    def train(options):
        return module.run(app.parse_args(options + extra), log=lambda line: None)

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python benchmarks/bench_forecaster.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "machine": machine_info(), "options": vars(args),
              "protocol": "configurations trained on the series cut before its test period "
                          "and compared on the validation period (model MAE), first seed; "
                          "the chosen one trained on the whole series per seed and scored on "
                          "the test period once per seed", "rows": []}
    started = time.time()
    for name in args.series:
        values, info = load_series(name, data_dir=args.data_dir, download=False,
                                   log=lambda line: None)
        spec = SPECS[name]
        cut = runs_root / f"{name}_before_test.csv"
        cut_length = write_before_test(values, info, cut)
        fixed = ["--window", str(spec["window"]), "--season", str(spec["season"]),
                 "--transform", spec["transform"], "--target", spec.get("target", "delta"),
                 "--test-periods", str(spec["val_periods"]),
                 "--val-periods", str(spec["val_periods"])]
        for horizon in args.horizons:
            h = 1 if horizon == "1" else spec["multi_horizon"]
            common = ["--horizon", str(h), "--epochs", str(args.epochs),
                      "--patience", str(args.patience), "--runs-root", str(runs_root),
                      "--verbose", "0"]
            # ---- 1. each configuration on the validation period (the test period cut off)
            candidates = []
            for loss in args.losses:
                for rnn in args.rnns:
                    options = ["--csv", str(cut), "--value-column", "value", *fixed, *common,
                               "--loss", loss, "--rnn", rnn, "--seed", str(args.seeds[0])]
                    t0 = time.time()
                    scored = train(options)["test"]  # the held-out final period of the cut
                    candidates.append({
                        "loss": loss, "rnn": rnn, "validation_points": scored["points"],
                        **{f"validation_{k}": scored[k] for k in FIGURES},
                        "seconds": time.time() - t0,
                        "command": "keras-seq train forecaster " + " ".join(options + extra)})
                    print(f"{name:<24} H={h:<3} {loss:>8}/{rnn}: validation model MAE "
                          f"{scored['model_mae']:.4f} ({time.time() - t0:.0f} s)", flush=True)
            chosen = choose_on_validation(candidates, "validation_model_mae", "min")
            print(f"{name:<24} H={h:<3} chosen on validation: {chosen['loss']}/{chosen['rnn']}",
                  flush=True)

            # ---- 2. the chosen configuration on the test period, once per seed -----------
            def run_one(seed, chosen=chosen, h=h, common=common):
                options = ["--series", name, "--no-download", *data_dir, *common,
                           "--loss", chosen["loss"], "--rnn", chosen["rnn"], "--seed", str(seed)]
                metrics = train(options)
                test = metrics["test"]
                return {**{f"test_{k}": test[k] for k in FIGURES}, "test_points": test["points"],
                        "test_beats_both": float(test["beats_both_baselines"]),
                        "test_coverage_95": test.get("test_coverage_95"),
                        "validation_model_mae": metrics["validation"]["model_mae"],
                        "epochs_run": metrics["epochs_run_this_call"],
                        "window": metrics["window"], "season": metrics["season"],
                        "command": "keras-seq train forecaster " + " ".join(options + extra)}

            seeds = run_seeds(run_one, args.seeds, show=("validation_model_mae", "test_model_mae"))
            result["rows"].append({
                "series": name, "horizon": h, "series_points": len(values),
                "choice_series_points": cut_length, "candidates": candidates,
                "chosen": {"loss": chosen["loss"], "rnn": chosen["rnn"],
                           "chosen_by": "validation_model_mae (min), seed "
                                        f"{args.seeds[0]}"},
                "test": seeds})
            result["wall_seconds"] = time.time() - started
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")

    print("\nValidation period (choice; first seed), model MAE per configuration:")
    for row in result["rows"]:
        shown = "  ".join(f"{c['loss']}/{c['rnn']} {c['validation_model_mae']:.4f}"
                          for c in row["candidates"])
        print(f"  {row['series']:<24}H={row['horizon']:<3} {shown}  -> chosen "
              f"{row['chosen']['loss']}/{row['chosen']['rnn']}")
    print("\nTest period (chosen configuration only, scored once per seed); model: mean "
          "(min–max) over seeds; baselines are deterministic:")
    header = (f"{'series':<24}{'H':>3}{'pts':>6} | {'model MAE':<34} | {'persist MAE':>11} | "
              f"{'s-naive MAE':>11} | beats both")
    print(header + "\n" + "-" * len(header))
    for row in result["rows"]:
        s = row["test"]
        beats = sum(int(r["test_beats_both"]) for r in s["per_seed"])
        print(f"{row['series']:<24}{row['horizon']:>3}{s['per_seed'][0]['test_points']:>6} | "
              f"{format_spread(s, 'test_model_mae', 3):<34} | "
              f"{s['mean']['test_persistence_mae']:>11.3f} | "
              f"{s['mean']['test_seasonal_naive_mae']:>11.3f} | {beats} of {len(s['seeds'])} "
              "seeds")
    print(f"\nTotal wall time {time.time() - started:.0f} s. Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
