"""GPT-style language model benchmarks (issue 7): validation perplexity and KV-cache decoding.

    python benchmarks/bench_gpt_lm.py --part quality [app options, e.g. --epochs 14]
    python benchmarks/bench_gpt_lm.py --part decode [--decode-num-tokens 200 ...]

Each part prints a table and writes `benchmarks/out/gpt_lm_<part><tag>.json`.

* quality: runs the application (`keras-seq train gpt-lm`, default model: 3 pre-norm blocks,
  4 heads, d=128, FFN 512, context 64, tied output, d2l characters; any app option can be
  added) on The Time Machine, 90/10 split by position, and reports the validation perplexity
  per token and per character (the application's metrics.json: non-overlapping windows of
  `--sequence-length` over the last 10%), plus a
  sliding-window figure computed here (every validation character scored with at least
  `sequence_length / 2` characters of context), and samples.
* decode: tokens/s of `GPTLanguageModel.generate` (prefill once + one XLA `while_loop`,
  one position per step through the KV cache) vs the same loop where every step re-runs the
  full forward over the whole buffer (no cache), same model (the default widths, with 256
  positions so that 200 tokens fit), same process, greedy; both
  outputs are checked equal. The machine was shared when measured: the ratio is indicative.
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from bench_common import machine_info  # noqa: E402
from keras_seq.generation import decode, get_sampler  # noqa: E402
from keras_seq.models.gpt_language_model import GPTLanguageModel  # noqa: E402


def sliding_perplexity(model, ids, sequence_length, batch_size=32):
    """exp(mean NLL) over every id after the first `sequence_length // 2`, each scored with
    between `sequence_length // 2` and `sequence_length - 1` ids of context (stride T/2)."""
    half = sequence_length // 2
    starts = list(range(0, len(ids) - sequence_length, half))
    nll, count = 0.0, 0
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        x = np.stack([ids[s:s + sequence_length] for s in chunk]).astype("int32")
        y = np.stack([ids[s + 1:s + sequence_length + 1] for s in chunk]).astype("int32")
        logits = np.asarray(model(x), "float64")[:, half:]  # score the second half only
        logp = logits - logits.max(-1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
        picked = np.take_along_axis(logp, y[:, half:, None], axis=-1)[..., 0]
        nll -= picked.sum()
        count += picked.size
    return float(np.exp(nll / count)), count


def part_quality(args, app_argv):
    """Runs the application with `app_argv`, then scores the sliding-window perplexity."""
    from applications import gpt_lm

    parser = gpt_lm.build_parser()
    app_args = parser.parse_args(["--runs-root", str(OUT / "runs"), "--verbose", "2",
                                  *app_argv])
    holder = {}

    class Keep(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            holder["model"] = self.model

    started = time.time()
    metrics = gpt_lm.run(app_args, extra_callbacks=(Keep(),))
    wall = time.time() - started
    app_args = gpt_lm.APPLICATION.config(app_args, log=lambda s: None)  # resolved options
    # Sliding-window perplexity on the same validation characters.
    from keras_seq.data.timemachine import load_text

    text, _ = load_text(app_args.dataset, data_file=app_args.data_file,
                        data_dir=app_args.data_dir, download=False, log=lambda s: None)
    if app_args.max_chars:
        text = text[: app_args.max_chars]
    val_text = text[int(round(len(text) * (1.0 - app_args.val_fraction))):]
    val_ids = gpt_lm.APPLICATION.preprocessor.token_ids(val_text)
    sliding, scored = sliding_perplexity(holder["model"], val_ids, app_args.sequence_length)
    result = {
        "part": "quality", "command": "python benchmarks/bench_gpt_lm.py " + " ".join(
            sys.argv[1:]),
        "machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds": wall,
        "tokenization": metrics["tokenization"],
        "parameters": metrics["parameters"],
        "validation_perplexity_per_token": metrics["validation_perplexity_per_token"],
        "validation_perplexity_per_char": metrics["validation_perplexity_per_char"],
        "validation_bits_per_char": metrics["validation_bits_per_char"],
        "validation_protocol": metrics["validation_protocol"],
        "sliding_window_perplexity_per_token": sliding,
        "sliding_window_tokens_scored": scored,
        "epochs_run": metrics["epochs_run_this_call"],
        "stopped_by_time_budget": metrics["stopped_by_time_budget"],
        "fit_seconds": metrics["fit_seconds"],
        "export_greedy_matches_keras": metrics["export_greedy_matches_keras"],
        "samples_greedy": metrics["samples_greedy"],
        "samples_sampled": metrics["samples_sampled"],
        "val_perplexity_by_epoch": [row.get("val_perplexity")
                                    for row in metrics["perplexity_history"]],
        "app_options": {k: v for k, v in vars(app_args).items() if k != "func"},
    }
    print()
    print("| tokens | params | val ppl/token (windows) | val ppl/char | bits/char | "
          "sliding-window ppl | epochs | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {result['tokenization']} | {result['parameters']:,} | "
          f"{result['validation_perplexity_per_token']:.3f} | "
          f"{result['validation_perplexity_per_char']:.3f} | "
          f"{result['validation_bits_per_char']:.3f} | {sliding:.3f} | "
          f"{result['epochs_run']} | {result['fit_seconds']:.0f} |")
    for prompt, text in result["samples_greedy"].items():
        print(f"greedy {prompt!r} -> {text!r}")
    for text in result["samples_sampled"]["texts"]:
        print(f"{result['samples_sampled']['sampler']}: {text!r}")
    return result


class _FullForwardRunner(keras.Model):
    """The decode loop without a cache: each step runs the model over the whole buffer."""

    def __init__(self, lm):
        super().__init__(name="full_forward_runner")
        self.lm = lm

    def call(self, inputs):
        prompt, slots = inputs
        prompt = ops.cast(prompt, "int32")
        buffer = ops.concatenate([prompt, ops.cast(slots, "int32")], axis=1)
        index = ops.min(ops.sum(ops.cast(ops.not_equal(prompt, 0), "int32"), axis=1))

        def next_fn(tokens, cache, step):
            logits = self.lm(tokens)  # (B, L, V): causal, so later slots do not matter
            row = ops.take(logits, ops.cast(step, "int32") - 1, axis=1)  # (B, V)
            return row, None, cache

        return decode(next_fn, buffer, index=index, mask=ops.not_equal(buffer, 0),
                      sampler=get_sampler("greedy"), model=self.lm)


def part_decode(args):
    model = GPTLanguageModel(29, max_length=args.decode_max_length, num_layers=args.decode_layers,
                             num_heads=args.decode_heads, embedding_dim=args.decode_embedding_dim,
                             intermediate_dim=args.decode_intermediate_dim, dropout=0.0)
    rng = np.random.default_rng(0)
    prompt = rng.integers(2, 29, (args.decode_batch, args.decode_prompt_length)).astype("int32")
    n = args.decode_num_tokens
    # Cached path (the model's own generate: bucketed buffer, prefill + while_loop, XLA).
    t = time.time()
    p0 = args.decode_prompt_length
    cached = model.generate(prompt, p0 + n)
    cached_first = time.time() - t
    # Uncached: same loop and buffer shape, full forward per step, XLA.
    width = int(-(-args.decode_prompt_length // 16) * 16)
    total = min(int(-(-(width + n) // 64) * 64), args.decode_max_length)
    runner = _FullForwardRunner(model)
    runner.compile(jit_compile=True)
    padded = np.zeros((args.decode_batch, width), "int32")
    padded[:, :args.decode_prompt_length] = prompt
    slots = np.zeros((args.decode_batch, total - width), "int32")
    t = time.time()
    full = np.asarray(runner.predict_on_batch([padded, slots]))
    full_first = time.time() - t
    full = full[:, args.decode_prompt_length:args.decode_prompt_length + n]
    same = bool(np.array_equal(full, cached[:, args.decode_prompt_length:]))
    # The cached tokens must be the greedy choice of the one-shot (teacher-forced) model at
    # every step; the two loops above may still part at a near tie of an untrained model.
    one_shot = np.asarray(model(np.asarray(cached)))  # (B, L, V)
    cached_is_one_shot_greedy = bool(np.array_equal(
        one_shot[:, p0 - 1:p0 - 1 + n].argmax(-1), np.asarray(cached)[:, p0:p0 + n]))
    cached_times, full_times = [], []
    for _ in range(args.decode_repeats):  # interleaved
        t = time.time()
        model.generate(prompt, p0 + n)
        cached_times.append(time.time() - t)
        t = time.time()
        runner.predict_on_batch([padded, slots])
        full_times.append(time.time() - t)
    c, f = float(np.median(cached_times)), float(np.median(full_times))
    result = {
        "part": "decode", "command": "python benchmarks/bench_gpt_lm.py " + " ".join(
            sys.argv[1:]),
        "machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "note": "indicative: measured on shared, contended CPU cores",
        "model": dict(layers=args.decode_layers, heads=args.decode_heads,
                      embedding_dim=args.decode_embedding_dim,
                      intermediate_dim=args.decode_intermediate_dim,
                      max_length=args.decode_max_length,
                      parameters=int(model.count_params())),
        "batch": args.decode_batch, "prompt_length": args.decode_prompt_length, "num_tokens": n,
        "buffer_length": total,
        "cached_seconds_median": c, "full_forward_seconds_median": f,
        "cached_tokens_per_second": args.decode_batch * n / c,
        "full_forward_tokens_per_second": args.decode_batch * n / f,
        "speedup": f / c, "same_greedy_tokens": same,
        "cached_tokens_equal_one_shot_greedy": cached_is_one_shot_greedy,
        "cached_first_call_seconds": cached_first, "full_first_call_seconds": full_first,
        "cached_all": cached_times, "full_all": full_times,
    }
    print("| method | tokens/s | s per call (median) | first call s |")
    print("|---|---|---|---|")
    print(f"| KV cache: prefill + XLA while_loop, 1 position/step | "
          f"{result['cached_tokens_per_second']:.0f} | {c:.3f} | {cached_first:.2f} |")
    print(f"| no cache: full forward over the buffer each step (XLA while_loop) | "
          f"{result['full_forward_tokens_per_second']:.0f} | {f:.3f} | {full_first:.2f} |")
    print(f"speed-up {f / c:.1f}x; same greedy tokens as the uncached loop: {same}; cached "
          f"tokens = one-shot greedy at every step: {cached_is_one_shot_greedy}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("quality", "decode"), required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--decode-layers", type=int, default=3)
    parser.add_argument("--decode-heads", type=int, default=4)
    parser.add_argument("--decode-embedding-dim", type=int, default=128)
    parser.add_argument("--decode-intermediate-dim", type=int, default=512)
    parser.add_argument("--decode-max-length", type=int, default=256)
    parser.add_argument("--decode-batch", type=int, default=1)
    parser.add_argument("--decode-prompt-length", type=int, default=16)
    parser.add_argument("--decode-num-tokens", type=int, default=200)
    parser.add_argument("--decode-repeats", type=int, default=5)
    args, rest = parser.parse_known_args(argv)
    if args.part == "decode":
        if rest:
            parser.error(f"unknown options for --part decode: {rest}")
        result = part_decode(args)
    else:
        result = part_quality(args, rest)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"gpt_lm_{args.part}{args.tag}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
