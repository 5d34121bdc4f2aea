"""ELMo in the IMDB classifier: baseline vs ELMo frozen vs ELMo fine-tuned, same data and seed.

1. Pretrains a biLM with the `elmo-lm` application (`--tokenizer review`, the classifier's
   tokenization) on unlabeled text: the 25,000 IMDB *training* reviews (labels unused, the
   test reviews never), in a seeded order, one review per line; the first
   `--pretrain-tokens` tokens are used (90% train / 10% validation by position).
2. Trains the `imdb` application three times with the same options, subset and seed (the
   first of `--seeds`; `--train-size` reviews of the training split, 10% of them for
   validation, best epoch by validation accuracy; reviews cut to `--max-length` tokens):
   baseline (word embedding only), `--elmo RUN` (frozen biLM, learned layer mix), and
   `--elmo RUN --elmo-trainable` (fine-tuned biLM). These runs score the VALIDATION split
   only (`bench_common.validation_only`): the variants are compared on it.
3. The variant with the best validation accuracy is trained again once per `--seeds` and
   scored on the TEST split (`--test-size` test reviews), once per seed: mean and min-max.
   The biLM is pretrained once (first seed) and shared.
4. Prints a table and writes benchmarks/out/elmo_imdb.json.

    python benchmarks/bench_elmo_imdb.py                 # the measured configuration
    python benchmarks/bench_elmo_imdb.py --quick         # a smoke run (minutes)
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

from bench_common import (add_seeds_argument, check_seeds, choose_on_validation,  # noqa: E402
                          format_spread, machine_info, run_seeds, validation_only)


def _apps():
    from keras_seq.cli import import_application

    return (import_application("keras_seq.applications.elmo_lm"),
            import_application("keras_seq.applications.imdb"))


def write_pretraining_text(path, data_dir, seed):
    """The 25,000 IMDB training reviews (no labels), seeded order, one per line."""
    import numpy as np

    from keras_seq.data.reviews import load_reviews

    splits, info = load_reviews("imdb", data_dir=data_dir, download=False, log=lambda s: None)
    texts = splits["train"].texts
    order = np.random.default_rng(seed).permutation(len(texts))
    with open(path, "w", encoding="utf-8") as f:
        for i in order:
            f.write(" ".join(texts[i].split()) + "\n")
    return {"reviews": len(texts), "source": info["path"], "split": "train (labels unused)"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="IMDB folder (default: auto)")
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--test-size", type=int, default=5000)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2, help="classifier epochs")
    parser.add_argument("--classifier-units", type=int, default=32)
    parser.add_argument("--classifier-embedding-dim", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=10000)
    parser.add_argument("--pretrain-tokens", type=int, default=250000)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--bilm-units", type=int, default=64)
    parser.add_argument("--bilm-embedding-dim", type=int, default=64)
    parser.add_argument("--bilm-layers", type=int, default=2)
    add_seeds_argument(parser, help_text="the first seeds the pretraining and the variants "
                       "compared on validation; the chosen variant is tested with each "
                       "(default 1337 7)")
    parser.add_argument("--bilm-run", default=None,
                        help="reuse this pretrained elmo-lm run (skips step 1)")
    parser.add_argument("--elmo-gamma", type=float, default=1.0,
                        help="initial γ of the classifier's ELMo mix (imdb --elmo-gamma)")
    parser.add_argument("--variants", default="baseline,elmo_frozen,elmo_fine_tuned",
                        help="comma-separated subset of the three variants")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 300 train / 200 test reviews of <= 100 tokens, 10k "
                        "pretraining tokens, 1 epoch")
    parser.add_argument("--out", default=str(OUT / "elmo_imdb.json"))
    opts = parser.parse_args(argv)
    check_seeds(parser, opts.seeds)
    opts.seed = opts.seeds[0]
    if opts.quick:
        opts.train_size, opts.test_size, opts.pretrain_tokens = 300, 200, 10000
        opts.epochs, opts.bilm_units, opts.bilm_embedding_dim = 1, 16, 16
        opts.max_length, opts.vocabulary_size = 100, 2000
        opts.out = str(OUT / "elmo_imdb_quick.json")
    elmo_lm, imdb = _apps()
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = ROOT / "runs" / "bench" / f"elmo-imdb-{stamp}"
    root.mkdir(parents=True, exist_ok=True)

    # ---- 1. pretrain the biLM ------------------------------------------------------------
    text_file = root / "imdb_train_reviews.txt"
    bilm_dir = pathlib.Path(opts.bilm_run) if opts.bilm_run else root / "bilm"
    text_info = write_pretraining_text(text_file, opts.data_dir, opts.seed)
    bilm_argv = ["--data-file", str(text_file), "--tokenizer", "review",
                 "--vocabulary-size", str(opts.vocabulary_size), "--max-tokens",
                 str(opts.pretrain_tokens),
                 "--hidden-dim", str(opts.bilm_units), "--embedding-dim",
                 str(opts.bilm_embedding_dim),
                 "--layers", str(opts.bilm_layers), "--epochs", str(opts.pretrain_epochs),
                 "--batch-size", "64", "--sequence-length", "35", "--patience", "0",
                 "--seed", str(opts.seed), "--run-dir", str(bilm_dir), "--verbose", "2"]
    t0 = time.time()
    if opts.bilm_run:
        bilm_metrics = json.loads((bilm_dir / "metrics.json").read_text(encoding="utf-8"))
    else:
        bilm_metrics = elmo_lm.run(elmo_lm.build_parser().parse_args(bilm_argv))
    pretrain_seconds = bilm_metrics["total_seconds"] if opts.bilm_run else time.time() - t0

    # ---- 2. the variants, same data and seed, on validation ----------------------------
    common = ["--dataset", "imdb", "--train-size", str(opts.train_size),
              "--test-size", str(opts.test_size), "--max-length", str(opts.max_length),
              "--epochs", str(opts.epochs), "--hidden-dim", str(opts.classifier_units),
              "--embedding-dim", str(opts.classifier_embedding_dim),
              "--vocabulary-size", str(opts.vocabulary_size), "--verbose", "2"]
    if opts.data_dir:
        common += ["--data-dir", opts.data_dir]
    gamma = ["--elmo-gamma", str(opts.elmo_gamma)]
    variants = {"baseline": [], "elmo_frozen": ["--elmo", str(bilm_dir), *gamma],
                "elmo_fine_tuned": ["--elmo", str(bilm_dir), "--elmo-trainable", *gamma]}
    chosen = opts.variants.split(",")
    variants = {k: v for k, v in variants.items() if k in chosen}
    rows = {}
    result = {"command": "python " + " ".join(sys.argv),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_info(), "options": vars(opts), "pretraining_text": text_info,
              "bilm": {k: bilm_metrics[k] for k in (
                  "validation_perplexity_forward", "validation_perplexity_backward",
                  "validation_perplexity_mean", "validation_tokens", "validation_unknown_rate",
                  "vocabulary_size", "parameters", "fit_seconds", "tokenization")},
              "bilm_run_dir": str(bilm_dir), "pretrain_seconds": pretrain_seconds,
              "protocol": "variants compared on the validation split (seed "
                          f"{opts.seeds[0]}); the chosen one trained per seed and scored on "
                          "test once per seed",
              "variants_split": "validation", "variants": rows, "complete": False}
    out = pathlib.Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    choosing = validation_only(imdb.APPLICATION)
    for name, extra in variants.items():
        argv = common + extra + ["--seed", str(opts.seeds[0]), "--run-dir", str(root / name)]
        t0 = time.time()
        m = choosing.run(choosing.build_parser().parse_args(argv))
        rows[name] = {"validation_accuracy": m["validation_accuracy"],
                      "validation_loss": m["validation_loss"],
                      "best_val_accuracy": m["best_val_accuracy"],
                      "elmo_layer_weights": m.get("elmo_layer_weights"),
                      "elmo_gamma_learned": m.get("elmo_gamma"),
                      "wall_seconds": time.time() - t0, "run_dir": str(root / name),
                      "argv": argv}
        result["total_seconds"] = time.time() - started
        out.write_text(json.dumps(result, indent=1), encoding="utf-8")  # partial results

    base = rows["baseline"]["validation_accuracy"] if "baseline" in rows else float("nan")
    for row in rows.values():
        row["validation_change_vs_baseline"] = row["validation_accuracy"] - base
    best = choose_on_validation(list(rows.values()), "validation_accuracy", "max")
    best_name = next(k for k, v in rows.items() if v is best)
    result["chosen"] = {"variant": best_name, "chosen_by": "validation_accuracy (max)"}
    print(f"chosen on validation: {best_name}; now trained and tested with seeds "
          f"{' '.join(map(str, opts.seeds))}", flush=True)

    # ---- 3. the chosen variant on test, once per seed -----------------------------------
    def run_one(seed):
        argv = common + variants[best_name] + ["--seed", str(seed), "--run-dir",
                                               str(root / f"{best_name}_test_seed{seed}")]
        m = imdb.APPLICATION.run(imdb.APPLICATION.build_parser().parse_args(argv))
        return {"test_accuracy": m["test_accuracy"], "test_loss": m["test_loss"],
                "best_val_accuracy": m["best_val_accuracy"], "test_size": m["test_size"]}

    result["chosen"]["test"] = run_seeds(run_one, opts.seeds,
                                         show=("best_val_accuracy", "test_accuracy"))
    result.update(complete=True, total_seconds=time.time() - started)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")

    print("=" * 78)
    b = result["bilm"]
    print(f"biLM: {opts.pretrain_tokens:,} tokens of IMDB training-review text, "
          f"{opts.bilm_layers}x{opts.bilm_units} LSTM/direction; validation perplexity "
          f"forward {b['validation_perplexity_forward']:.1f} / backward "
          f"{b['validation_perplexity_backward']:.1f} ({pretrain_seconds:.0f} s)")
    print(f"IMDB: {opts.train_size} train (10% validation) / {opts.test_size} test reviews, "
          f"<= {opts.max_length} tokens, {opts.epochs} epochs")
    print(f"Variants on the VALIDATION split (seed {opts.seeds[0]}):")
    print(f"{'variant':18s} {'val acc':>9s} {'change':>8s} {'wall s':>7s}")
    for name, row in rows.items():
        print(f"{name:18s} {row['validation_accuracy']:9.4f} "
              f"{row['validation_change_vs_baseline']:+8.4f} {row['wall_seconds']:7.0f}"
              + ("  <- chosen" if name == best_name else ""))
    test = result["chosen"]["test"]
    print(f"Chosen {best_name} on the TEST split ({opts.test_size} reviews), scored once per "
          f"seed: accuracy {format_spread(test, 'test_accuracy')}")
    print(f"total {result['total_seconds'] / 60:.1f} min; written {out}")
    return result


if __name__ == "__main__":
    main()
