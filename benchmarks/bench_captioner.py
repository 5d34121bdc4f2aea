"""Captioner benchmarks: (1) quality with vs without attention, (2) decoding speed.

(1) `--part quality` follows benchmarks/RESULTS.md's protocol: it runs the application
    (`applications/captioner.py`, the same code as `keras-seq train captioner`) once per
    `--attention` setting and seed (`--seeds`, default 1337 7) with the same options, scoring
    the VALIDATION scenes only: on the generated shapes their caption combinations are held
    out from training and disjoint from the test ones. It records exact match (overall and per
    caption kind), BLEU-1..4, fit and wall time, and the run folders. Then `--score-test
    VALIDATION_JSON...` chooses the configuration with the best mean validation exact match
    and scores each of its runs on test once (`--evaluate-only`). Pass app options after `--`.
(2) `--part decode --run-dir RUN`: captions the test images of a finished shapes run with
    our decoder (cached state, one `ops.while_loop`) and with the tutorial way (re-running
    the teacher-forced model on the growing prefix for every new word, as the keras.io /
    TensorFlow captioning tutorials do), checks that all give the same captions and reports
    ms/image and the ratios (rule 3 of benchmarks/RESULTS.md): LIKE-FOR-LIKE rows first, the
    same XLA setting on both sides (`--xla on|off|both`), then the "our defaults" row (ours
    as `Captioner.decoder()` compiles it here, XLA by default; the re-run a tf.function
    without XLA, as the tutorials run it) naming any difference. Interleaved
    rounds (`bench_common.interleaved_median`) after an untimed compiling pass, medians.

    python benchmarks/bench_captioner.py --part quality [--attention on off] [-- APP OPTIONS]
    python benchmarks/bench_captioner.py --part quality --score-test \
        benchmarks/out/captioner_quality_validation.json
    python benchmarks/bench_captioner.py --part decode --run-dir runs/captioner/RUN [--quick]

Writes benchmarks/out/captioner_quality_{validation,test}.json / captioner_decode.json (or
--out) and prints a table.
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

from bench_common import (add_seeds_argument, check_seeds, format_spread,  # noqa: E402
                          interleaved_median, machine_info, print_speed_rows, speed_row)


def _captioner():
    from keras_seq.cli import import_application

    return import_application("keras_seq.applications.captioner")


QUALITY_KEYS = ("exact_match", "exact_match_by_kind", "bleu_1", "bleu_2", "bleu_3", "bleu_4",
                "images")


def _seed_row(metrics, split, wall_seconds):
    """The figures of one run on `split` ("validation" or "test") and its run folder."""
    row = {f"{split}_{k}": metrics[f"{split}_{k}"] for k in QUALITY_KEYS
           if f"{split}_{k}" in metrics}
    return {**row, "wall_seconds": wall_seconds,
            **{k: metrics[k] for k in ("fit_seconds", "parameters") if k in metrics}}


def part_quality(opts):
    """Validation runs per configuration and seed; or test, once per seed, of the chosen one.

    Without `--score-test`: every `--attention` setting (with the app options after `--`)
    is trained once per seed by `validation_only(captioner)`, which scores the validation
    scenes (their own held-out combinations, disjoint from train's and test's) in place of
    test. With `--score-test JSON...`: the configuration of those JSONs with the best mean
    validation exact match is chosen (`choose_on_validation`), and each of its seed runs is
    scored on test once (`--evaluate-only` of that run folder: the same trained weights).
    """
    from bench_common import choose_on_validation, run_seeds, validation_only

    captioner = _captioner()
    if opts.score_test:
        candidates = []
        for name in opts.score_test:
            recorded = json.loads(pathlib.Path(name).read_text(encoding="utf-8"))
            if recorded.get("scored_split") != "validation":
                raise SystemExit(f"--score-test {name}: expected a validation JSON of --part "
                                 f"quality, got scored_split={recorded.get('scored_split')!r}")
            for row in recorded["rows"]:
                candidates.append({**row, "file": name, "validation_exact_match_mean":
                                   row["validation"]["mean"]["validation_exact_match"]})
        chosen = choose_on_validation(candidates, "validation_exact_match_mean", "max")
        print(f"chosen on validation: {chosen['app_args']} from {chosen['file']} (mean "
              f"validation exact match {chosen['validation_exact_match_mean']:.4f} of "
              f"{len(candidates)} configurations); test scored once per seed", flush=True)
        runs = {r["seed"]: r["run_dir"] for r in chosen["validation"]["per_seed"]}

        def test_one(seed):
            started = time.time()
            args = captioner.build_parser().parse_args(
                ["--evaluate-only", "--run-dir", runs[seed]])
            metrics = captioner.run(args, log=print)
            return {**_seed_row(metrics, "test", time.time() - started), "run_dir": runs[seed]}

        test = run_seeds(test_one, list(runs), show=("test_exact_match", "test_bleu_4"))
        rows = [{**chosen, "test": test}]
        split = "test"
    else:
        application = validation_only(captioner.APPLICATION)
        rows, split = [], "validation"
        for attention in opts.attention:
            argv = ["--attention", attention, "--runs-root", opts.runs_root, *opts.app_args]

            def validate_one(seed, argv=argv, attention=attention):
                started = time.time()
                run_dir = pathlib.Path(opts.runs_root) / "captioner_validation" / (
                    f"attention-{attention}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}")
                args = application.build_parser().parse_args(
                    argv + ["--seed", str(seed), "--run-dir", str(run_dir)])
                metrics = application.run(args, log=print)
                return {**_seed_row(metrics, "validation", time.time() - started),
                        "run_dir": str(run_dir)}

            rows.append({"attention": attention, "app_args": argv, "validation": run_seeds(
                validate_one, opts.seeds, show=("validation_exact_match",
                                                "validation_bleu_4"))})
    print(f"\n| configuration | {split} exact match | {split} BLEU-4 | seeds |\n|---|---|---|---|")
    for row in rows:
        summary = row[split]
        print(f"| {' '.join(row['app_args'])} | {format_spread(summary, split + '_exact_match')} "
              f"| {format_spread(summary, split + '_bleu_4')} | {len(summary['seeds'])} |")
    return {"part": "quality", "scored_split": split, "rows": rows}


def part_decode(opts):
    import numpy as np
    import tensorflow as tf

    import keras_seq
    from keras_seq import runtime

    captioner = _captioner()
    run = pathlib.Path(opts.run_dir)
    task = keras_seq.load(run)  # the finished run's task.kseq
    config = captioner.APPLICATION.config(
        captioner.build_parser().parse_args(["--run-dir", str(run)]), log=lambda line: None)
    splits, _ = captioner.APPLICATION.load_data(config, log=lambda line: None)
    model = task.network
    images = task.preprocessor.decode_images(tf.constant(splits["test"][0][:opts.images]))
    images = np.asarray(images)  # float [0, 1], the network's input
    length = task.preprocessor.max_caption_length + 1

    def ours_fn(jit):  # the traceable decode that `model.generate` runs compiled
        return tf.function(
            lambda x: model.generate_step(x, tf.zeros([tf.shape(x)[0], length], tf.int32)),
            jit_compile=jit, autograph=False)

    def rerun_fn(jit):
        @tf.function(jit_compile=jit)
        def logits_of(x, tokens):
            return model({"image": x, "caption_in": tokens}, training=False)

        def rerun(x):
            """Tutorial decoding: the whole teacher-forced model on the prefix, once per word."""
            tokens = np.full((len(x), 1), 2, "int32")
            done = np.zeros(len(x), bool)
            for _ in range(length - 1):
                nxt = np.asarray(logits_of(x, tf.constant(tokens)))[:, -1].argmax(-1)
                nxt = np.where(done, 0, nxt)
                tokens = np.concatenate([tokens, nxt[:, None].astype("int32")], 1)
                done |= nxt == 3
                if done.all():
                    break
            return np.pad(tokens, [(0, 0), (0, length - tokens.shape[1])])
        return rerun

    def batches(fn):
        out = []
        for i in range(0, len(images), opts.batch_size):
            x = tf.constant(images[i:i + opts.batch_size].astype("float32"))
            out.append(np.asarray(fn(x)))
        return np.concatenate(out)

    jits = {"both": (True, False), "on": (True,), "off": (False,)}[opts.xla]
    fns = {}
    for jit in jits:
        tag = "xla" if jit else "graph"
        fns[f"ours/{tag}"], fns[f"rerun/{tag}"] = ours_fn(jit), rerun_fn(jit)
    # The defaults row: ours as the task's decoder compiles it here, the re-run without XLA.
    default_jit = runtime.default_jit_compile("inference")
    default_tag = "xla" if default_jit else "graph"
    fns.setdefault(f"ours/{default_tag}", ours_fn(default_jit))
    fns.setdefault("rerun/graph", rerun_fn(False))
    first_call, results = {}, {}
    for name, fn in fns.items():  # first pass: tracing / compiling every shape, untimed
        started = time.perf_counter()
        results[name] = batches(fn)
        first_call[name] = time.perf_counter() - started
    same = all((r == results[f"ours/{default_tag}"]).all() for r in results.values())
    timed = interleaved_median({k: (lambda fn=fn: batches(fn)) for k, fn in fns.items()},
                               calls=1, rounds=opts.rounds, warmup=0)
    ms = {k: 1000 * v["median_s"] / len(images) for k, v in timed.items()}
    rows = []
    for jit in jits:
        tag = "xla" if jit else "graph"
        rows.append(speed_row(f"like-for-like: XLA {'on' if jit else 'off'} both sides",
                              ms[f"ours/{tag}"] / 1000, ms[f"rerun/{tag}"] / 1000, True,
                              unit="seconds per image"))
    differences = ["ours an XLA-compiled while_loop (`Captioner.decoder()`'s default), the "
                   "re-run a tf.function without XLA"] if default_jit else []
    rows.append(speed_row(
        f"our defaults: ours {'with' if default_jit else 'without'} XLA (Captioner.decoder() "
        "here), the tutorials' re-run without", ms[f"ours/{default_tag}"] / 1000,
        ms["rerun/graph"] / 1000, not differences, differences, unit="seconds per image"))
    print(f"\n{len(images)} test images, batch {opts.batch_size}, greedy, identical captions "
          f"over all variants: {same}; median of {opts.rounds} interleaved rounds (the first, "
          "compiling pass untimed)")
    print_speed_rows(rows, unit="ms/image")
    return {"part": "decode", "run_dir": str(run), "images": len(images), "xla": opts.xla,
            "batch_size": opts.batch_size, "identical_captions": same, "rows": rows,
            "ms_per_image": ms, "first_pass_seconds": first_call,
            "seconds_per_pass_rounds": {k: v["times_s"] for k, v in timed.items()},
            "speedup": rows[-1]["ratio"], "speedup_like_for_like": rows[0]["ratio"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("quality", "decode"), required=True)
    parser.add_argument("--attention", nargs="+", choices=("on", "off"), default=["on", "off"],
                        help="--part quality: the configurations compared on validation")
    add_seeds_argument(parser, help_text="--part quality: the seeds of each configuration "
                       "(default 1337 7; a seed also draws the held-out combinations)")
    parser.add_argument("--score-test", nargs="+", default=None, metavar="VALIDATION_JSON",
                        help="--part quality: the validation JSONs compared; the best "
                        "configuration by mean validation exact match is scored on test once "
                        "per seed (its runs, evaluated again)")
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "bench"))
    parser.add_argument("--run-dir", default=None, help="--part decode: a finished shapes run")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xla", choices=("on", "off", "both"), default=None,
                        help="--part decode: the XLA setting of BOTH sides in the like-for-like "
                        "rows (default both; with XLA the re-run compiles once per prefix "
                        "length, in the untimed first pass); the 'our defaults' row (ours as "
                        "Captioner.decoder() compiles it here, re-run without) is always "
                        "measured")
    parser.add_argument("--xla-baseline", action=argparse.BooleanOptionalAction, default=None,
                        help="--part decode, the older spelling: --xla-baseline = --xla on, "
                        "--no-xla-baseline = --xla off")
    parser.add_argument("--quick", action="store_true",
                        help="--part decode: a < 1 min check (64 images, 2 rounds; not for "
                        "the record)")
    parser.add_argument("--out", default=None)
    parser.add_argument("app_args", nargs=argparse.REMAINDER,
                        help="after --: options for applications/captioner.py")
    opts = parser.parse_args(argv)
    opts.app_args = [a for a in opts.app_args if a != "--"]
    check_seeds(parser, opts.seeds)
    if opts.score_test and opts.app_args:
        parser.error(f"--score-test takes the configuration from the chosen validation JSON; "
                     f"got application options {opts.app_args}")
    if opts.part == "decode" and not opts.run_dir:
        parser.error("--part decode needs --run-dir")
    if opts.xla is not None and opts.xla_baseline is not None:
        parser.error(f"give --xla or --[no-]xla-baseline, not both; got --xla {opts.xla} and "
                     f"xla_baseline={opts.xla_baseline}")
    if opts.xla is None:
        opts.xla = {None: "both", True: "on", False: "off"}[opts.xla_baseline]
    if opts.quick:
        opts.images, opts.rounds = min(opts.images, 64), 2
    result = part_quality(opts) if opts.part == "quality" else part_decode(opts)
    result.update(machine=machine_info(), command=" ".join(sys.argv))
    name = f"captioner_{opts.part}" + (f"_{result['scored_split']}" if opts.part == "quality"
                                       else "")
    out = pathlib.Path(opts.out or OUT / f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
