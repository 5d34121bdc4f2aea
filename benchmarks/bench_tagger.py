"""Tagger benchmark: uni- vs bidirectional, 1 vs 2 layers, GRU vs LSTM on the generated task.

Every configuration trains on the same data (the generated numbers-and-dates task of
`keras_seq.data.span_tagging`, same `--seed`, same splits) with the same optimizer settings
as the application (`keras_seq.app_args.compile_token_classifier`: Adam with warm-up + cosine
decay, clipnorm 1, padding weighted out) and is scored on the test split:

  * token accuracy over real characters;
  * exact-match span precision / recall / F1 (micro, and F1 per type NUM / DATE);
  * start accuracy: the share of gold span starts (B- characters) tagged with the right B-
    tag — the decision that needs right context ("12" NUM vs "12 March 1998" DATE).

    python benchmarks/bench_tagger.py                 # the 8-run grid, ~15 min on 2 busy cores
    python benchmarks/bench_tagger.py --cells gru --layers 1 --directions uni bi   # a subset

Writes benchmarks/out/tagger_grid.json (or --out; rewritten after every run) and prints a table.
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

from bench_common import machine_info  # noqa: E402


def start_accuracy(gold_tags, predicted, names):
    """Share of gold B- positions whose predicted tag is the same B- tag."""
    hits = total = 0
    for gold, pred in zip(gold_tags, predicted):
        for i, t in enumerate(gold):
            if names[int(t)].startswith("B-"):
                total += 1
                hits += int(pred[i] == t)
    return hits / total if total else float("nan")


def train_and_score(cell, layers, bidirectional, data, opts):
    """Trains one configuration; returns its row of results."""
    import keras

    from keras_seq.app_args import compile_token_classifier
    from keras_seq.data import span_tagging as st
    from keras_seq.metrics.tagging_metrics import tagging_report
    from keras_seq.models.sequence_tagger import SequenceTagger

    keras.utils.set_random_seed(opts.seed)
    train_ds = st.tagging_dataset(*data["train"], opts.batch_size, shuffle=True, seed=opts.seed)
    val_ds = st.tagging_dataset(*data["validation"], opts.batch_size)
    model = SequenceTagger(st.VOCABULARY_SIZE, len(data["names"]), cell=cell, units=opts.units,
                           num_layers=layers, bidirectional=bidirectional,
                           embedding_dim=opts.embedding_dim, dropout=opts.dropout)
    steps = int(train_ds.cardinality()) * opts.epochs
    compile_token_classifier(model, opts, steps, jit=False, max_warmup_steps=300)
    started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=opts.epochs, verbose=0,
                        shuffle=False)
    fit_seconds = time.time() - started
    gold = data["test"][1]
    predicted = model.predict_tags(st.pad_batch(data["test"][0]))
    report = tagging_report(gold, predicted, data["names"])
    spans = report["spans"]
    return {"cell": cell, "layers": layers,
            "direction": "bi" if bidirectional else "uni",
            "test_token_accuracy": report["token_accuracy"],
            "test_span_precision": spans["micro"]["precision"],
            "test_span_recall": spans["micro"]["recall"],
            "test_span_f1": spans["micro"]["f1"],
            "test_f1_num": spans["NUM"]["f1"], "test_f1_date": spans["DATE"]["f1"],
            "test_start_accuracy": start_accuracy(gold, predicted, data["names"]),
            "val_loss_last": float(history.history["val_loss"][-1]),
            "parameters": int(model.count_params()), "fit_seconds": fit_seconds,
            "train_steps": steps}


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
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--out", default=str(OUT / "tagger_grid.json"))
    opts = parser.parse_args(argv)

    from keras_seq.data import span_tagging as st

    splits = st.generated_splits(opts.train_size, opts.validation_size, opts.test_size,
                                 seed=opts.seed)
    data = {k: st.encode_examples(v) for k, v in splits.items()}
    data["names"] = st.tag_names()
    result = {"benchmark": "tagger_grid", "options": vars(opts), "machine": machine_info(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python benchmarks/bench_tagger.py " + " ".join(argv or sys.argv[1:]),
              "rows": []}
    started = time.time()
    for cell in opts.cells:
        for layers in opts.layers:
            for direction in opts.directions:
                row = train_and_score(cell, layers, direction == "bi", data, opts)
                result["rows"].append(row)
                result["wall_seconds"] = time.time() - started
                pathlib.Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
                pathlib.Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
                print(f"done {cell} x{layers} {direction}: span F1 {row['test_span_f1']:.4f} "
                      f"({row['fit_seconds']:.0f} s)", flush=True)

    print(f"\nTest split: {opts.test_size} generated sentences; {opts.train_size} training, "
          f"{opts.epochs} epochs, {opts.units} units, seed {opts.seed}")
    print(f"{'cell':>5} {'L':>2} {'dir':>4} {'tok acc':>8} {'span P':>7} {'span R':>7} "
          f"{'span F1':>8} {'F1 NUM':>7} {'F1 DATE':>8} {'start acc':>9} {'params':>8} "
          f"{'fit s':>6}")
    for r in result["rows"]:
        print(f"{r['cell']:>5} {r['layers']:>2} {r['direction']:>4} "
              f"{r['test_token_accuracy']:8.4f} {r['test_span_precision']:7.4f} "
              f"{r['test_span_recall']:7.4f} {r['test_span_f1']:8.4f} {r['test_f1_num']:7.4f} "
              f"{r['test_f1_date']:8.4f} {r['test_start_accuracy']:9.4f} {r['parameters']:8,} "
              f"{r['fit_seconds']:6.0f}")
    print(f"wall {result['wall_seconds']:.0f} s -> {opts.out}")
    return result


if __name__ == "__main__":
    main()
