"""The language-model applications per protocol (issue 23): a held-out test slice, two seeds.

    python benchmarks/bench_lm_held_out.py --app gpt-lm [--seeds 1337 7] [-- APP OPTIONS]
    python benchmarks/bench_lm_held_out.py --app bert-mlm
    python benchmarks/bench_lm_held_out.py --app elmo-lm
    python benchmarks/bench_lm_held_out.py --app bert-mlm --validation-only --out A.json -- OPTS
    python benchmarks/bench_lm_held_out.py --app bert-mlm --score-test A.json B.json ...

`gpt-lm`, `bert-mlm` and `elmo-lm` split their text (The Time Machine by default) by position:
the first 90% trains, the last 10% validates (early stopping, best weights), and their
defaults were chosen on that validation part, so it cannot also be their reported figure.
Here each seed's run is the application with its defaults (plus any APP OPTIONS), except
that it never trains on the tenth of the book just before validation
(`bench_common.held_out_test`: cut off before the vocabulary, the model or the datasets are
built). After the run, the saved task (`keras_seq.load(RUN)`) scores

- that held-out slice, once: the reported figure (no choice has seen it);
- the validation part again, which must agree with the run's own metrics.json (a check of
  the loading and of the scorer: the script stops if it does not).

Figures per app, each the application's own measure: gpt-lm, perplexity per token over
non-overlapping windows of `--sequence-length` (d2l characters by default: per character);
bert-mlm, masked-token perplexity per word piece with fixed masks (seed + 1, as its
validation); elmo-lm, forward, backward and mean perplexity per word token over windows of
`--sequence-length`. Prints a table; writes `benchmarks/out/lm_held_out_<app>.json`
(`--out`). Run folders go under `--runs-root` (default `runs/bench/lm_held_out`).

Choosing among configurations: run each with `--validation-only` (the slice is still cut out,
and not scored), then `--score-test` with their JSONs chooses the one with the lowest mean
validation perplexity (`bench_common.choose_on_validation`) and scores the held-out slice once
with each of its saved runs (no training); a JSON that already holds test figures (a run
without `--validation-only`) keeps them.
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

from bench_common import (add_seeds_argument, check_seeds,  # noqa: E402
                          choose_on_validation, held_out_test, machine_info, run_seeds,
                          seed_summary)

APPS = {"gpt-lm": "gpt_lm", "bert-mlm": "bert_mlm", "elmo-lm": "elmo_lm"}


def score_gpt(task, config, text):
    """Perplexity per token of `text` in non-overlapping windows (the app's validation)."""
    loss = float(task.evaluate(text, batch_size=config.batch_size)["loss"])
    return {"loss": loss, "perplexity": math.exp(loss),
            "tokens": int(len(task.preprocessor.token_ids(text)))}


def score_bert(task, config, sentences):
    """Masked-token figures of consecutive-sentence pairs, fixed masks (the app's validation)."""
    from keras_seq.data.word_pieces import MASK_ID
    from keras_seq.metrics.masked_lm_metrics import evaluate_masked_lm

    dataset, _ = task.dataset(sentences, batch_size=config.batch_size, seed=config.seed + 1)
    result = evaluate_masked_lm(task.network, dataset, task.preprocessor.vocabulary, MASK_ID)
    return {k: result[k] for k in ("loss", "perplexity", "accuracy", "tokens")}


def score_elmo(task, config, tokens):
    """Forward, backward and mean perplexity per token (the app's validation)."""
    import numpy as np

    ids = task.preprocessor.tokenizer.ids_of_tokens(tokens).astype("int32")
    dataset, _ = task.stream_dataset(ids, config.batch_size)
    if task.trainer is None:
        task.compile(total_steps=1)
    result = task.trainer.evaluate(dataset, verbose=0, return_dict=True)
    forward, backward = (float(result[f"{d}_cross_entropy"]) for d in ("forward", "backward"))
    return {"loss": (forward + backward) / 2.0, "perplexity": math.exp((forward + backward) / 2),
            "perplexity_forward": math.exp(forward), "perplexity_backward": math.exp(backward),
            "tokens": int(len(ids)), "unknown_rate": float(np.mean(ids == 1))}


SCORERS = {"gpt-lm": (score_gpt, "validation_loss_per_token"),
           "bert-mlm": (score_bert, "validation_masked_loss"),
           "elmo-lm": (score_elmo, None)}


def _app_validation_loss(app, metrics):
    if app == "elmo-lm":
        return (metrics["validation_cross_entropy_forward"]
                + metrics["validation_cross_entropy_backward"]) / 2.0
    return metrics[SCORERS[app][1]]


def run_one(app, seed, app_argv, runs_root, log=print, validation_only=False):
    """One seed: the application with the held-out slice, then both scores of its task
    (only validation with `validation_only`: a run that a choice is made on)."""
    import importlib

    import keras_seq

    module = importlib.import_module(f"keras_seq.applications.{APPS[app]}")
    application = held_out_test(module.APPLICATION)
    run_dir = pathlib.Path(runs_root) / app / f"seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    args = module.build_parser().parse_args(
        ["--seed", str(seed), "--run-dir", str(run_dir), "--verbose", "2", *app_argv])
    started = time.time()
    metrics = application.run(args, log=log)
    config = application.config(args, log=lambda line: None)
    task = keras_seq.load(run_dir)
    scorer = SCORERS[app][0]
    splits, _ = module.APPLICATION.load_data(config, log=lambda line: None)
    validation = scorer(task, config, splits["validation"])
    expected = _app_validation_loss(app, metrics)
    if not math.isclose(validation["loss"], expected, rel_tol=2e-3):
        raise SystemExit(f"{app} seed {seed}: the reloaded task scores validation loss "
                         f"{validation['loss']:.5f}, the run reported {expected:.5f}; the "
                         "scorer or the loading is wrong, no figure written")
    test = {} if validation_only else scorer(task, config, application.held_out_test)
    return {**{f"test_{k}": v for k, v in test.items()},
            **{f"validation_{k}": v for k, v in validation.items()},
            "epochs_run": metrics["epochs_run_this_call"], "fit_seconds": metrics["fit_seconds"],
            "seconds": time.time() - started, "run_dir": str(run_dir)}


def score_test(app, paths, command):
    """Chooses among validation JSONs on validation; scores the chosen runs' held-out slice."""
    import importlib

    import keras_seq

    results = [json.loads(pathlib.Path(p).read_text(encoding="utf-8")) for p in paths]
    for path, result in zip(paths, results):
        if result.get("app") != app:
            raise SystemExit(f"{path} holds {result.get('app')!r} runs, not {app!r}")
        result["validation_perplexity"] = result["mean"]["validation_perplexity"]
    chosen = choose_on_validation(results, "validation_perplexity", mode="min")
    print("chosen on validation: " + " | ".join(
        f"{' '.join(r['app_options']) or 'defaults'}: {r['validation_perplexity']:.3f}"
        + (" <- chosen" if r is chosen else "") for r in results))
    if not chosen.get("validation_only"):
        print("its test figures were scored with its runs; nothing more to score")
        return chosen
    module = importlib.import_module(f"keras_seq.applications.{APPS[app]}")
    scorer = SCORERS[app][0]
    per_seed = []
    for row in chosen["per_seed"]:
        application = held_out_test(module.APPLICATION)
        args = module.build_parser().parse_args(
            ["--seed", str(row["seed"]), "--run-dir", row["run_dir"], *chosen["app_options"]])
        config = application.config(args, log=lambda line: None)
        application.load_data(config, log=lambda line: None)
        task = keras_seq.load(row["run_dir"])
        test = scorer(task, config, application.held_out_test)
        per_seed.append({**{f"test_{k}": v for k, v in test.items()},
                         **{k: v for k, v in row.items() if k != "seed"}})
        print(f"seed {row['seed']}: test perplexity {test['perplexity']:.3f} (validation "
              f"{row['validation_perplexity']:.3f})")
    summary = seed_summary([row["seed"] for row in chosen["per_seed"]], per_seed)
    return dict(chosen, **summary, validation_only=False,
                chosen_from={str(p): r["validation_perplexity"] for p, r in zip(paths, results)},
                command=command,
                scored=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=sorted(APPS), required=True)
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "bench" / "lm_held_out"))
    parser.add_argument("--out", default=None, help="the JSON (default "
                        "benchmarks/out/lm_held_out_<app>.json)")
    add_seeds_argument(parser)
    parser.add_argument("--validation-only", action="store_true",
                        help="score validation only (the held-out slice is still never "
                        "trained on, and not scored): for the runs a choice is made on")
    parser.add_argument("--score-test", nargs="+", default=None, metavar="VALIDATION_JSON",
                        help="choose among these runs' JSONs on validation and score the "
                        "chosen runs' held-out slice once (no training)")
    parser.add_argument("app_args", nargs="*", help="options for the application (after --)")
    opts = parser.parse_args(argv)
    check_seeds(parser, opts.seeds)
    command = "python benchmarks/bench_lm_held_out.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if opts.score_test:
        result = score_test(opts.app, opts.score_test, command)
        out = pathlib.Path(opts.out or OUT / f"lm_held_out_{opts.app}_test.json")
        out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"wrote {out}")
        return result
    started = time.time()
    summary = run_seeds(lambda seed: run_one(opts.app, seed, opts.app_args, opts.runs_root,
                                             validation_only=opts.validation_only),
                        opts.seeds, show=("test_perplexity", "validation_perplexity",
                                          "epochs_run", "fit_seconds"))
    result = {
        "benchmark": "lm_held_out", "app": opts.app,
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine_info(),
        "protocol": "the application's defaults (plus the options given); trained on the first "
                    "80% of the data by position (the held-out tenth before validation cut "
                    "off before the vocabulary and model were built); validation (the last "
                    "10%) drives early stopping and was used to choose the defaults; the "
                    "held-out tenth is scored once per seed",
        "app_options": opts.app_args, "validation_only": opts.validation_only,
        "seconds": time.time() - started, **summary}
    out = pathlib.Path(opts.out or OUT / f"lm_held_out_{opts.app}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    mean, low, high = summary["mean"], summary["min"], summary["max"]

    def spread(key):
        if key not in mean:
            return "not scored (--validation-only)"
        return f"{mean[key]:.3f} ({low[key]:.3f}–{high[key]:.3f})"

    print("\n| app | options | seeds | held-out test perplexity | validation perplexity "
          "(chosen on) | epochs | fit s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {opts.app} | {' '.join(opts.app_args) or 'defaults'} | "
          f"{', '.join(map(str, opts.seeds))} | {spread('test_perplexity')} | "
          f"{spread('validation_perplexity')} | {mean['epochs_run']:.1f} | "
          f"{mean['fit_seconds']:.0f} |")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
