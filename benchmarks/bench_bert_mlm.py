"""BERT-style masked LM benchmark (issue 7): validation masked-token perplexity on The Time Machine.

    python benchmarks/bench_bert_mlm.py [--epochs N] [--time-budget-minutes 14] [app options]

Trains the `bert-mlm` application with its default model (2 post-norm encoder blocks, d=128,
4 heads, FFN 512, 2,000-piece lower-cased WordPiece vocabulary learned on the training part,
[CLS] A [SEP] B [SEP] pairs of consecutive sentences, <= 64 pieces) on The Time Machine,
90/10 split by position (sentences), and reports the validation figures computed over every
masked position of the held-out pairs with FIXED masks (15%: 80% [MASK], 10% random, 10% kept):

    perplexity = exp(sum_j -log p(y_j | masked input) / #masked tokens)    (per word piece)

also split by corruption type and by piece type (word start / "##" continuation), plus the
fill-mask answers for the seed's example sentences. Extra options are passed to the app.
Prints a table and writes `benchmarks/out/bert_mlm_quality.json` (or `--out-name`).
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


def unigram_baseline(args, metrics):
    """The same validation masked tokens scored by the training word-piece frequencies.

    p(w) = (count_train(w) + 1) / (N + V) over the non-reserved pieces (add-one smoothing):
    what a model that ignores the context can reach.
    """
    import math

    import numpy as np

    from applications import bert_mlm
    from keras_seq.data.masked_lm_pipeline import masked_lm_dataset, sentence_pairs
    from keras_seq.data.word_pieces import (RESERVED_TOKENS, load_vocabulary,
                                            make_word_piece_tokenizer)

    run = pathlib.Path(metrics["run_dir"])
    vocabulary = load_vocabulary(run / "vocabulary.txt")
    tokenizer = make_word_piece_tokenizer(vocabulary)
    splits, _ = bert_mlm.prepare_data(args, log=lambda line: None)
    train, val = splits["train"], splits["validation"]
    counts = np.ones(len(vocabulary))
    counts[: len(RESERVED_TOKENS)] = 0
    for ids in tokenizer(train):
        np.add.at(counts, np.asarray(ids), 1)
    counts[: len(RESERVED_TOKENS)] = 0
    log_p = np.log(np.maximum(counts, 1e-30) / counts.sum())
    a, b = sentence_pairs(val)
    ds = masked_lm_dataset(a, b, tokenizer, len(vocabulary), args.sequence_length,
                           args.batch_size, mask_rate=args.mask_rate, shuffle=False,
                           seed=args.seed + 1, fixed_masks=True)  # the app's validation masks
    nll, n, correct = 0.0, 0, 0
    best = int(np.argmax(counts))
    for _, labels, weights in ds:
        y = labels.numpy()[weights.numpy() > 0]
        nll -= float(log_p[y].sum())
        n += y.size
        correct += int((y == best).sum())
    return {"perplexity": math.exp(nll / n), "accuracy": correct / n, "tokens": n}


def main(argv=None):
    """Runs the benchmark; returns the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default=None, help="default: the application's")
    parser.add_argument("--time-budget-minutes", default="14")
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "bench"))
    parser.add_argument("--out-name", default="bert_mlm_quality",
                        help="JSON file name under benchmarks/out/ (without .json)")
    known, rest = parser.parse_known_args(argv)
    from applications import bert_mlm

    app_argv = ["--dataset", "timemachine", *(["--epochs", known.epochs] if known.epochs else []),
                "--time-budget-minutes", known.time_budget_minutes, "--runs-root",
                known.runs_root, *rest]
    args = bert_mlm.APPLICATION.config(bert_mlm.build_parser().parse_args(app_argv))
    started = time.time()
    metrics = bert_mlm.run(args)
    baseline = unigram_baseline(args, metrics)
    result = {
        "benchmark": "bert_mlm_quality",
        "command": "python benchmarks/bench_bert_mlm.py " + " ".join(argv or sys.argv[1:]),
        "app_arguments": app_argv,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "wall_seconds": time.time() - started,
        "machine": machine_info(),
        "machine_note": "shared 2-core CPU, no GPU (other jobs running: speed figures are "
                        "not meaningful, quality figures are)",
        "options": vars(args),
        "metrics": {k: v for k, v in metrics.items() if k != "history"},
        "unigram_baseline": baseline,
        "history": metrics["history"],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{known.out_name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)

    m = metrics
    print()
    print("| figure (validation, per word piece) | perplexity | accuracy | masked tokens |")
    print("|---|---|---|---|")
    print(f"| all masked positions | {m['validation_masked_perplexity']:.2f} | "
          f"{m['validation_masked_accuracy']:.3f} | {m['validation_masked_tokens']} |")
    for group, f in {**m["validation_by_corruption"], **m["validation_by_piece"]}.items():
        if f["tokens"]:
            print(f"| {group} | {f['perplexity']:.2f} | {f['accuracy']:.3f} | {f['tokens']} |")
    print(f"| unigram baseline (training word-piece frequencies, no context) | "
          f"{baseline['perplexity']:.2f} | {baseline['accuracy']:.3f} | {baseline['tokens']} |")
    print(f"\nvocabulary {m['vocabulary_size']} word pieces; epochs run {m['epochs_run_this_call']}"
          f" (time budget stop: {m['stopped_by_time_budget']}); fit {m['fit_seconds']:.0f} s")
    for row in m["fill_mask_samples"]:
        print(f"{row['text']!r} -> {row['filled']!r}")
        for j, c in enumerate(row["candidates"]):
            print(f"   [MASK]{j + 1}: " + ", ".join(f"{t} {p:.3f}" for t, p in c))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
