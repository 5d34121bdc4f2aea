"""Every application's `--quick` run in two checkouts, interleaved: did quality or speed move?

For each application and seed: `python applications/<app>.py --quick --seed S --run-dir D` in
checkout A, then in checkout B (generated data: the shared datasets are not passed), reading
`metrics.json` and the wall time. Used for issue 20 (before vs after the task redesign):

    git worktree add --detach /tmp/before aa63e5a && git worktree add --detach /tmp/after HEAD
    python benchmarks/bench_quick_runs.py --trees /tmp/before /tmp/after --seeds 1337 7

Quick runs are smoke-sized (one to fifteen short epochs): the same seed gives the same figures
when nothing changed, and their fit times vary by about ±10% between identical runs here.
Writes --out (JSON; rerunning with the same --out skips the runs already in it) and prints a
table of each application's quality figure and fit seconds.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

# application -> (module in checkout A, module in checkout B, its quality figure in metrics.json)
APPS = {"translator": ("translator", "translator", "test_bleu"),
        "imdb": ("imdb_sentiment", "imdb", "test_accuracy"),
        "char-lm": ("char_lm", "char_lm", "validation_perplexity"),
        "captioner": ("captioner", "captioner", "test_bleu_4"),
        "gpt-lm": ("gpt_lm", "gpt_lm", "validation_perplexity_per_char"),
        "bert-mlm": ("bert_mlm", "bert_mlm", "validation_masked_perplexity"),
        "elmo-lm": ("elmo_lm", "elmo_lm", "validation_perplexity_mean"),
        "tagger": ("tagger", "tagger", "test_span_f1"),
        "forecaster": ("forecaster", "forecaster", "test_mae")}


def scalars(metrics):
    """The numbers, flags and strings of a metrics.json (not its sample lists and tables)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", nargs=2, required=True, metavar=("A", "B"),
                        help="two checkouts of keras-seq (e.g. git worktrees)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1337, 7])
    parser.add_argument("--runs-root", default="runs/quick_runs")
    parser.add_argument("--out", default="benchmarks/out/quick_runs.json")
    opts = parser.parse_args(argv)
    trees = [pathlib.Path(t).resolve() for t in opts.trees]
    for tree in trees:
        if not (tree / "applications").is_dir():
            raise SystemExit(f"--trees: {tree} is not a keras-seq checkout (no applications/)")
    out = pathlib.Path(opts.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_SEQ_DATA_DIR", "KERAS_SEQ_REQUIRE_DATA")}
    for seed in opts.seeds:
        for app, (module_a, module_b, _) in APPS.items():
            for side, tree, module in (("A", trees[0], module_a), ("B", trees[1], module_b)):
                key = f"{app}|{side}|{seed}"
                if key in results:
                    continue
                run_dir = pathlib.Path(opts.runs_root).resolve() / f"{side}_{app}_{seed}"
                started = time.time()
                proc = subprocess.run(
                    [sys.executable, f"applications/{module}.py", "--quick", "--seed", str(seed),
                     "--run-dir", str(run_dir)], cwd=tree,
                    env=dict(env, PYTHONPATH=str(tree)), capture_output=True, text=True)
                metrics_file = run_dir / "metrics.json"
                metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
                results[key] = {
                    "tree": str(tree), "rc": proc.returncode, "wall_seconds": time.time() - started,
                    "metrics": scalars(metrics),
                    "tail": (proc.stdout + proc.stderr)[-1500:] if proc.returncode else ""}
                print(f"{key}: exit {proc.returncode}, {results[key]['wall_seconds']:.0f} s",
                      flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=1))
    print("\n| application | figure | A (seeds) | B (seeds) | A fit s | B fit s |\n"
          "|---|---|---|---|---|---|")
    for app, (_, _, figure) in APPS.items():
        cells = []
        for field in (figure, "fit_seconds"):
            for side in ("A", "B"):
                values = [results.get(f"{app}|{side}|{s}", {}).get("metrics", {}).get(field)
                          for s in opts.seeds]
                cells.append(", ".join("-" if v is None else f"{v:.4g}" for v in values))
        print(f"| {app} | {figure} | " + " | ".join(cells) + " |")
    failed = sorted(k for k, v in results.items() if v["rc"] != 0)
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed (their output's tail is in {out}): "
                         + ", ".join(failed))


if __name__ == "__main__":
    main()
