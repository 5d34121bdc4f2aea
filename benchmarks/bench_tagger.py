"""Tagger benchmark: uni- vs bidirectional, 1 vs 2 layers, GRU vs LSTM on the generated task.

Every configuration trains on the same data (the generated numbers-and-dates task of
`keras_seq.data.span_tagging`, same `--data-seed`, same splits) with the same optimizer
settings as the application (`keras_seq.training.token_classifier`: Adam with warm-up
+ cosine decay, clipnorm 1, padding weighted out). Following the protocol of
benchmarks/RESULTS.md:

  1. the grid is trained with the first of `--seeds` and scored on the VALIDATION split;
  2. the configuration with the best validation span F1 is chosen (`choose_on_validation`);
  3. only that configuration is trained again for each of `--seeds` and scored on the TEST
     split, once per seed; its figures are the mean and min-max over the seeds.

Figures per split:

  * token accuracy over real characters;
  * exact-match span precision / recall / F1 (micro, and F1 per type NUM / DATE);
  * start accuracy: the share of gold span starts (B- characters) tagged with the right B-
    tag — the decision that needs right context ("12" NUM vs "12 March 1998" DATE).

    python benchmarks/bench_tagger.py                 # the 8-run grid + 2 seeds, ~20 min
    python benchmarks/bench_tagger.py --cells gru --layers 1 --directions uni bi   # a subset
    python benchmarks/bench_tagger.py --quick         # a smoke run (tiny sizes)

Writes benchmarks/out/tagger_grid.json (or --out; rewritten after every run) and prints the
grid (validation) and the chosen configuration (test, mean and min-max over the seeds).
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
                          format_spread, machine_info, run_seeds)

METRICS = ("token_accuracy", "span_precision", "span_recall", "span_f1", "f1_num", "f1_date",
           "start_accuracy")


def start_accuracy(gold_tags, predicted, names):
    """Share of gold B- positions whose predicted tag is the same B- tag."""
    hits = total = 0
    for gold, pred in zip(gold_tags, predicted):
        for i, t in enumerate(gold):
            if names[int(t)].startswith("B-"):
                total += 1
                hits += int(pred[i] == t)
    return hits / total if total else float("nan")


def score(model, split, data):
    """The figures of `model` on `data[split]`, each key prefixed with the split's name."""
    from keras_seq.data import span_tagging as st
    from keras_seq.metrics.tagging_metrics import tagging_report

    gold = data[split][1]
    predicted = model.predict_tags(st.pad_batch(data[split][0]))
    report = tagging_report(gold, predicted, data["names"])
    spans = report["spans"]
    figures = {"token_accuracy": report["token_accuracy"],
               "span_precision": spans["micro"]["precision"],
               "span_recall": spans["micro"]["recall"], "span_f1": spans["micro"]["f1"],
               "f1_num": spans["NUM"]["f1"], "f1_date": spans["DATE"]["f1"],
               "start_accuracy": start_accuracy(gold, predicted, data["names"])}
    return {f"{split}_{k}": v for k, v in figures.items()}


def train(config, seed, data, opts):
    """Trains one configuration with `seed`; returns the model and its training figures."""
    import keras

    from keras_seq.training.token_classifier import compile_token_classifier
    from keras_seq.data import span_tagging as st
    from keras_seq.models.sequence_tagger import SequenceTagger

    keras.utils.set_random_seed(seed)
    train_ds = st.tagging_dataset(*data["train"], opts.batch_size, shuffle=True, seed=seed)
    val_ds = st.tagging_dataset(*data["validation"], opts.batch_size)
    model = SequenceTagger(st.VOCABULARY_SIZE, len(data["names"]), cell=config["cell"],
                           hidden_dim=opts.units, num_layers=config["layers"],
                           bidirectional=config["direction"] == "bi",
                           embedding_dim=opts.embedding_dim, dropout=opts.dropout)
    steps = int(train_ds.cardinality()) * opts.epochs
    compile_token_classifier(model, opts.learning_rate, steps, jit_compile=False,
                             max_warmup_steps=300)
    started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=opts.epochs, verbose=0,
                        shuffle=False)
    return model, {"val_loss_last": float(history.history["val_loss"][-1]),
                   "parameters": int(model.count_params()),
                   "fit_seconds": time.time() - started, "train_steps": steps}


def _name(config):
    return f"{config['cell']} x{config['layers']} {config['direction']}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"],
                        choices=["elman", "rnn", "gru", "lstm"])
    parser.add_argument("--layers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--directions", nargs="+", default=["uni", "bi"], choices=["uni", "bi"])
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--validation-size", type=int, default=300)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--units", type=int, default=48)
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--data-seed", type=int, default=1337,
                        help="seed of the generated sentences (the same for every run)")
    add_seeds_argument(parser, help_text="training seeds: the grid uses the first; the chosen "
                       "configuration is trained and tested with each (default 1337 7)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 300/100/200 sentences, 1 epoch, 16 units, GRU, 1 layer")
    parser.add_argument("--out", default=None, help="default benchmarks/out/tagger_grid.json "
                        "(tagger_grid_quick.json with --quick)")
    opts = parser.parse_args(argv)
    check_seeds(parser, opts.seeds)
    if opts.quick:
        opts.train_size, opts.validation_size, opts.test_size = 300, 100, 200
        opts.epochs, opts.units, opts.embedding_dim = 1, 16, 16
        opts.cells, opts.layers = ["gru"], [1]
    opts.out = opts.out or str(OUT / f"tagger_grid{'_quick' if opts.quick else ''}.json")

    from keras_seq.data import span_tagging as st

    splits = st.generated_splits(opts.train_size, opts.validation_size, opts.test_size,
                                 seed=opts.data_seed)
    data = {k: st.encode_examples(v) for k, v in splits.items()}
    data["names"] = st.tag_names()
    result = {"benchmark": "tagger_grid", "options": vars(opts), "machine": machine_info(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python benchmarks/bench_tagger.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "protocol": "grid scored on validation with the first seed; the configuration "
                          "with the best validation span F1 trained with every seed and "
                          "scored on test once per seed",
              "grid_split": "validation", "grid_seed": opts.seeds[0], "grid": []}
    out = pathlib.Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        result["wall_seconds"] = time.time() - started
        out.write_text(json.dumps(result, indent=2) + "\n")

    started = time.time()
    # ---- 1. the grid, on validation -----------------------------------------------------
    for cell in opts.cells:
        for layers in opts.layers:
            for direction in opts.directions:
                config = {"cell": cell, "layers": layers, "direction": direction}
                model, info = train(config, opts.seeds[0], data, opts)
                row = {**config, **score(model, "validation", data), **info}
                result["grid"].append(row)
                save()
                print(f"done {_name(config)}: validation span F1 "
                      f"{row['validation_span_f1']:.4f} ({row['fit_seconds']:.0f} s)", flush=True)

    # ---- 2. the choice, on validation; 3. the chosen configuration on test, per seed ------
    chosen = choose_on_validation(result["grid"], "validation_span_f1", "max")
    config = {k: chosen[k] for k in ("cell", "layers", "direction")}
    result["chosen"] = {**config, "chosen_by": "validation_span_f1 (max)"}
    print(f"chosen on validation: {_name(config)}; now trained and tested with seeds "
          f"{' '.join(map(str, opts.seeds))}", flush=True)

    def run_one(seed):
        model, info = train(config, seed, data, opts)
        return {**score(model, "validation", data), **score(model, "test", data), **info}

    result["chosen"]["seeds"] = run_seeds(
        run_one, opts.seeds, show=("validation_span_f1", "test_span_f1"))
    save()

    print(f"\nGrid: {opts.validation_size} validation sentences, seed {opts.seeds[0]}; "
          f"{opts.train_size} training, {opts.epochs} epochs, {opts.units} units, data seed "
          f"{opts.data_seed}")
    print(f"{'cell':>5} {'L':>2} {'dir':>4} | VALIDATION {'tok acc':>8} {'span P':>7} "
          f"{'span R':>7} {'span F1':>8} {'F1 NUM':>7} {'F1 DATE':>8} {'start acc':>9} "
          f"{'params':>8} {'fit s':>6}")
    for r in result["grid"]:
        print(f"{r['cell']:>5} {r['layers']:>2} {r['direction']:>4} | {'':10} "
              + " ".join(f"{r['validation_' + k]:{w}.4f}" for k, w in zip(
                  METRICS, (8, 7, 7, 8, 7, 8, 9)))
              + f" {r['parameters']:8,} {r['fit_seconds']:6.0f}"
              + ("  <- chosen" if r is chosen else ""))
    summary = result["chosen"]["seeds"]
    print(f"\nChosen {_name(config)}, TEST split ({opts.test_size} sentences), scored once per "
          f"seed; mean (min–max) over seeds {' '.join(map(str, opts.seeds))}:")
    for k in METRICS:
        print(f"  test {k:<16} {format_spread(summary, 'test_' + k)}")
    print(f"wall {result['wall_seconds']:.0f} s -> {opts.out}")
    return result


if __name__ == "__main__":
    main()
