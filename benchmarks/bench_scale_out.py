"""Benchmark: training samples/s on 1 vs 2 replicas (tf.distribute), and whether they agree.

    python benchmarks/bench_scale_out.py [--rounds 2] [--examples 2048] [--batch-size 64]
        [--max-length 200] [--hidden-dim 64] [--epochs 2]

Runs `keras_seq.distribution.reference_job` (a bi-LSTM sentiment classifier, IMDB-sized by
default: 200 tokens, 64 units per direction, embedding 64) under four set-ups, each in fresh
processes, interleaved round by round (A/B/C/D, A/B/C/D, ...):

    none          one process, no strategy (the reference)
    one-device    OneDeviceStrategy: one replica through the distributed code path
    mirrored-2    MirroredStrategy over 2 logical CPU devices in one process
    multi-worker-2  MultiWorkerMirroredStrategy, 2 processes on 127.0.0.1

Step times come from a callback (median over every epoch after the first, which holds the
tracing), so tf.data autotuning does not quantize them. samples/s = global batch / median
step time. The table also gives the ratio to `none` and the largest difference of the
per-epoch losses from `none` (the same global batch and seed must train the same; the
`none-onednn-off` control, one process with oneDNN's kernels off, shows how far float32
rounding alone moves them, as Adam amplifies rounding where the loss falls fast). Writes
benchmarks/out/scale_out.json. On a 2-core CPU two replicas share the same two cores, so
expect no speed-up: the point here is correctness; on GPUs each replica has its own device.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

SETUPS = {
    "none": ["--strategy", "none"],
    "one-device": ["--strategy", "one-device"],
    "mirrored-2": ["--strategy", "mirrored", "--cpu-devices", "2"],
    "multi-worker-2": ["--strategy", "multi-worker"],
    # Control: one process with oneDNN's kernels off. Same maths, other float32 rounding:
    # how far two runs drift apart from rounding alone.
    "none-onednn-off": ["--strategy", "none"],
}
ENV = {"none-onednn-off": {"TF_ENABLE_ONEDNN_OPTS": "0"}}


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
                KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")


def run_setup(name, job_args, workdir):
    """Runs one set-up; returns the chief's result dict."""
    from keras_seq.distribution.local_worker_launcher import LocalWorkerLauncher

    env = dict(_env(), **ENV.get(name, {}))
    out = pathlib.Path(workdir) / f"{name}-{time.time_ns()}.json"
    command = [sys.executable, "-m", "keras_seq.distribution.reference_job", *job_args,
               *SETUPS[name], "--out", str(out)]
    if name.startswith("multi-worker"):
        launcher = LocalWorkerLauncher(command, 2, env=env, output=None).start()
        if launcher.wait(timeout=1800) != 0:
            raise RuntimeError(f"{name} failed:\n" + "\n".join(launcher.outputs[0][-30:]))
    else:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--vocabulary-size", type=int, default=10000)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "scale_out.json"))
    args = parser.parse_args(argv)

    from bench_common import machine_info

    job_args = ["--examples", str(args.examples), "--batch-size", str(args.batch_size),
                "--max-length", str(args.max_length), "--vocabulary-size",
                str(args.vocabulary_size),
                "--embedding-dim", str(args.embedding_dim), "--hidden-dim", str(args.hidden_dim),
                "--epochs", str(args.epochs), "--optimizer", args.optimizer]
    results = {name: [] for name in args.setups}
    started = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        for round_index in range(args.rounds):
            for name in args.setups:
                result = run_setup(name, job_args, workdir)
                results[name].append(result)
                print(f"round {round_index + 1}/{args.rounds} {name:15s} "
                      f"{result['samples_per_second']:8.1f} samples/s  "
                      f"losses {[round(v, 6) for v in result['loss']]}", flush=True)

    reference = results.get("none")
    ref_rate = statistics.median(r["samples_per_second"] for r in reference) \
        if reference else None
    rows = []
    for name, runs in results.items():
        rate = statistics.median(r["samples_per_second"] for r in runs)
        step = statistics.median(r["median_step_seconds"] for r in runs)
        loss_diff = None
        if reference:
            loss_diff = max(abs(a - b) for r in runs for a, b in
                            zip(r["loss"], reference[0]["loss"]))
        rows.append({"setup": name, "replicas": runs[0]["replicas"],
                     "workers": runs[0]["workers"],
                     "samples_per_second": rate, "median_step_ms": 1000 * step,
                     "ratio_vs_none": rate / ref_rate if ref_rate else None,
                     "max_epoch_loss_diff_vs_none": loss_diff,
                     "final_loss": runs[0]["loss"][-1],
                     "samples_per_second_each_round": [r["samples_per_second"] for r in runs]})

    header = (f"{'setup':16s} {'replicas':>8s} {'samples/s':>10s} {'step ms':>8s} "
              f"{'vs none':>8s} {'max |loss diff|':>16s} {'final loss':>10s}")
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row['ratio_vs_none']:.2f}x" if row["ratio_vs_none"] else "-"
        diff = f"{row['max_epoch_loss_diff_vs_none']:.2e}" \
            if row["max_epoch_loss_diff_vs_none"] is not None else "-"
        print(f"{row['setup']:16s} {row['replicas']:8d} {row['samples_per_second']:10.1f} "
              f"{row['median_step_ms']:8.1f} {ratio:>8s} {diff:>16s} {row['final_loss']:10.4f}")
    report = {"benchmark": "scale_out", "command": " ".join(["python"] + sys.argv),
              "options": vars(args), "rows": rows, "seconds": time.time() - started,
              "machine": machine_info()}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
