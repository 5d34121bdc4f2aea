"""Validation perplexity per word of the ELMo-style biLM (forward / backward) on The Time Machine.

Runs the `elmo-lm` application (the same code as `keras-seq train elmo-lm`) with its defaults
(or the options after `--`), or reads a finished run (`--from-run RUN`), and puts its
validation perplexities next to two references computed on the same tokens: a unigram model
of the training tokens (add-one smoothing) and the uniform distribution over the vocabulary.
Tokens: lower-cased words and punctuation (`--tokenizer words`), the last 10% of the book by
position for validation; perplexity = exp(mean cross entropy per token), windows of
`--sequence-length` tokens (each LM starts fresh at a window's start).

    python benchmarks/bench_elmo_lm.py [-- APP OPTIONS]
    python benchmarks/bench_elmo_lm.py --from-run runs/elmo-lm/<time>

Writes benchmarks/out/elmo_lm_timemachine.json and prints a table.
"""

import argparse
import collections
import json
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

from bench_common import machine_info  # noqa: E402


def unigram_perplexity(run_dir, config):
    """exp(-mean log p_unigram(x)) over the validation tokens (add-one smoothing)."""
    from keras_seq.data.timemachine import load_text
    from keras_seq.data.word_tokenizer import WordTokenizer

    tokenizer = WordTokenizer.load(pathlib.Path(run_dir) / "tokenizer.json")
    text, _ = load_text(config["dataset"], data_file=config["data_file"],
                        data_dir=config["data_dir"], download=False, log=lambda s: None)
    tokens = WordTokenizer.split_text(text, config["tokenizer"])
    if config.get("max_tokens"):
        tokens = tokens[: config["max_tokens"]]
    ids = tokenizer.ids_of_tokens(tokens)
    cut = int(round(len(ids) * (1.0 - config["val_fraction"])))
    counts = collections.Counter(ids[:cut].tolist())
    v = tokenizer.vocabulary_size - 1  # every id but padding
    total = cut + v
    nll = -sum(math.log((counts.get(i, 0) + 1) / total) for i in ids[cut:].tolist())
    return math.exp(nll / max(1, len(ids) - cut)), v


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-run", default=None, help="a finished elmo-lm run folder")
    parser.add_argument("--out", default=str(OUT / "elmo_lm_timemachine.json"))
    parser.add_argument("app_args", nargs="*", help="options for the application (after --)")
    opts = parser.parse_args(argv)
    started = time.time()
    if opts.from_run:
        run_dir = pathlib.Path(opts.from_run)
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    else:
        from keras_seq.cli import import_application

        elmo_lm = import_application("keras_seq.applications.elmo_lm")
        run_dir = ROOT / "runs" / "bench" / f"elmo-lm-{time.strftime('%Y%m%d-%H%M%S')}"
        args = elmo_lm.build_parser().parse_args(
            ["--run-dir", str(run_dir), "--verbose", "2", *opts.app_args])
        metrics = elmo_lm.run(args)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    unigram, v = unigram_perplexity(run_dir, config)
    result = {
        "command": "python " + " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(), "run_dir": str(run_dir),
        "dataset": metrics["dataset"], "tokenization": metrics["tokenization"],
        "vocabulary_size": metrics["vocabulary_size"],
        "validation_tokens": metrics["validation_tokens"],
        "validation_unknown_rate": metrics["validation_unknown_rate"],
        "model": {k: config[k] for k in ("hidden_dim", "layers", "embedding_dim", "dropout",
                                         "sequence_length", "batch_size", "epochs")},
        "epochs_run": len(metrics["history"].get("loss", [])),
        "perplexity": {"forward": metrics["validation_perplexity_forward"],
                       "backward": metrics["validation_perplexity_backward"],
                       "mean": metrics["validation_perplexity_mean"],
                       "unigram_add_one": unigram, "uniform": float(v)},
        "fit_seconds": metrics["fit_seconds"], "seconds": time.time() - started,
    }
    out = pathlib.Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("=" * 70)
    print(f"{result['dataset']}: validation {result['validation_tokens']:,} tokens "
          f"({result['validation_unknown_rate']:.1%} [UNK]), vocabulary "
          f"{result['vocabulary_size']}; {result['tokenization']}")
    print(f"{'model':28s} {'perplexity / token':>20s}")
    for name, key in (("biLM forward", "forward"), ("biLM backward", "backward"),
                      ("biLM mean (exp mean CE)", "mean"), ("unigram (add-one)", "unigram_add_one"),
                      ("uniform", "uniform")):
        print(f"{name:28s} {result['perplexity'][key]:20.1f}")
    print(f"written {out}")
    return result


if __name__ == "__main__":
    main()
