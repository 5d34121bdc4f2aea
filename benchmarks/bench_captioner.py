"""Captioner benchmarks: (1) quality with vs without attention, (2) decoding speed.

(1) `--part quality`: runs the application (`applications/captioner.py`, the same code as
    `keras-seq train captioner`) once per `--attention` setting with the same options, and
    records exact match (overall and per caption kind), BLEU-1..4, fit and total wall time.
    Default data: the generated shape scenes, whose test split holds only caption
    combinations never seen in training. Pass app options after `--`.
(2) `--part decode --run-dir RUN`: captions the test images of a finished shapes run with
    our decoder (cached state, one `ops.while_loop`) and with the tutorial way (re-running
    the teacher-forced model on the growing prefix for every new word, as the keras.io /
    TensorFlow captioning tutorials do), checks that all give the same captions and reports
    ms/image and the ratios (rule 3 of benchmarks/RESULTS.md): LIKE-FOR-LIKE rows first, the
    same XLA setting on both sides (`--xla on|off|both`), then the "our defaults" row (ours
    XLA-compiled, the re-run a tf.function without XLA) naming that difference. Interleaved
    rounds (`bench_common.interleaved_median`) after an untimed compiling pass, medians.

    python benchmarks/bench_captioner.py --part quality [--attention on off] [-- APP OPTIONS]
    python benchmarks/bench_captioner.py --part decode --run-dir runs/captioner/RUN [--quick]

Writes benchmarks/out/captioner_quality.json / captioner_decode.json (or --out) and prints a
table.
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

from bench_common import (interleaved_median, machine_info, print_speed_rows,  # noqa: E402
                          speed_row)


def _captioner():
    from keras_seq.cli import import_application

    return import_application("keras_seq.applications.captioner")


def part_quality(opts):
    captioner = _captioner()

    rows = []
    for attention in opts.attention:
        argv = ["--attention", attention, "--runs-root", opts.runs_root, *opts.app_args]
        args = captioner.build_parser().parse_args(argv)
        started = time.time()
        metrics = captioner.run(args, log=print)
        rows.append({"attention": attention, "app_args": argv,
                     "wall_seconds": time.time() - started,
                     **{k: metrics[k] for k in (
                         "test_exact_match", "test_exact_match_by_kind", "test_bleu_1",
                         "test_bleu_2", "test_bleu_3", "test_bleu_4", "test_images",
                         "fit_seconds", "epochs_run_this_call", "parameters",
                         "test_decode_ms_per_image")}})
    print(f"\n{'attention':>9} {'exact':>6} {'pair':>6} {'count':>6} {'BLEU-1':>7} {'BLEU-4':>7} "
          f"{'fit s':>6} {'params':>9}")
    for r in rows:
        kinds = r["test_exact_match_by_kind"] or {}
        print(f"{r['attention']:>9} {r['test_exact_match']:6.3f} {kinds.get('pair', 0):6.3f} "
              f"{kinds.get('count', 0):6.3f} {r['test_bleu_1']:7.3f} {r['test_bleu_4']:7.3f} "
              f"{r['fit_seconds']:6.0f} {r['parameters']:9,}")
    return {"part": "quality", "rows": rows}


def part_decode(opts):
    import numpy as np
    import tensorflow as tf

    import keras_seq

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
    fns.setdefault("ours/xla", ours_fn(True))  # the defaults row: ours XLA, ...
    fns.setdefault("rerun/graph", rerun_fn(False))  # ... the re-run without XLA
    first_call, results = {}, {}
    for name, fn in fns.items():  # first pass: tracing / compiling every shape, untimed
        started = time.perf_counter()
        results[name] = batches(fn)
        first_call[name] = time.perf_counter() - started
    same = all((r == results["ours/xla"]).all() for r in results.values())
    timed = interleaved_median({k: (lambda fn=fn: batches(fn)) for k, fn in fns.items()},
                               calls=1, rounds=opts.rounds, warmup=0)
    ms = {k: 1000 * v["median_s"] / len(images) for k, v in timed.items()}
    rows = []
    for jit in jits:
        tag = "xla" if jit else "graph"
        rows.append(speed_row(f"like-for-like: XLA {'on' if jit else 'off'} both sides",
                              ms[f"ours/{tag}"] / 1000, ms[f"rerun/{tag}"] / 1000, True,
                              unit="seconds per image"))
    rows.append(speed_row(
        "our defaults (as reported before)", ms["ours/xla"] / 1000, ms["rerun/graph"] / 1000,
        False, ["ours an XLA-compiled while_loop (`generate()`'s default on CPU), the re-run "
                "a tf.function without XLA"], unit="seconds per image"))
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
    parser.add_argument("--attention", nargs="+", choices=("on", "off"), default=["on", "off"])
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "bench"))
    parser.add_argument("--run-dir", default=None, help="--part decode: a finished shapes run")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xla", choices=("on", "off", "both"), default=None,
                        help="--part decode: the XLA setting of BOTH sides in the like-for-like "
                        "rows (default both; with XLA the re-run compiles once per prefix "
                        "length, in the untimed first pass); the 'our defaults' row (ours XLA, "
                        "re-run without) is always measured")
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
    out = pathlib.Path(opts.out or OUT / f"captioner_{opts.part}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
