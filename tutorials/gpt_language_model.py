"""Tutorial: a GPT-style causal language model on The Time Machine.

Run it (`--quick` for a smaller smoke run):

    python tutorials/gpt_language_model.py

Measured: 13 min on 2 CPU cores shared with other jobs (load average 10-15; training is capped
at 6 min by `--time-budget-minutes`); `--quick`: 3.5 min on the same loaded cores.

It trains a small decoder-only transformer through the `gpt-lm` application (characters,
90/10 split by position), prints each step and writes figures to `tutorials/figures/`:

1. The data: text -> character ids, the split by position, next-token windows.
2. The model: h^0 = E[x] + P, N causal decoder blocks, logits = LayerNorm(h^N) E^T (tied);
   causality and "KV cache == one-shot forward" checked numerically.
3. Training: training and validation perplexity per epoch — `gpt_perplexity.png`.
4. Causal attention: the weights of every head of the last block over a validation
   sample (zero above the diagonal) — `gpt_attention.png`.
5. Sampling: greedy vs temperature vs top-p, and how temperature and p trade likelihood
   for diversity (distinct n-grams, log-probability under the model) — `gpt_sampling.png`.
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"
PROMPT = "the time traveller"
FULL = dict(app=["--layers", "3", "--heads", "4", "--embedding-dim", "128", "--intermediate-dim",
                 "512", "--sequence-length", "64", "--learning-rate", "3e-3", "--epochs", "12",
                 "--time-budget-minutes", "6", "--sample-tokens", "40"],
            samples=8, tokens=40, temperatures=(0.3, 0.6, 0.8, 1.0, 1.3), top_ps=(0.5, 0.8,
                                                                                  0.95, 1.0))
QUICK = dict(app=["--quick", "--max-chars", "30000", "--epochs", "1", "--sample-tokens", "20"],
             samples=4, tokens=30, temperatures=(0.5, 1.2), top_ps=(0.7, 1.0))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _gpt_app():
    from keras_seq.cli import import_application

    return import_application("keras_seq.applications.gpt_lm")


def step1_data(args):
    from keras_seq.data.char_tokenizer import CharTokenizer
    from keras_seq.data.timemachine import load_text

    print("\n== 1. The data: characters of The Time Machine, split by position ==")
    text, info = load_text("auto", download=False, log=lambda line: None)
    where = info.get("path") or "the generated corpus"
    print(f"Text: {info['dataset']} ({len(text):,} characters, from {where}).")
    tokenizer = CharTokenizer("d2l")
    ids = tokenizer.tokenize_text(text)
    cut = int(round(len(ids) * 0.9))
    print("Tokens: d2l characters - runs of non-letters become one space, lower case;")
    print(f"  {tokenizer.vocabulary_size} ids (0 = padding, 1 = unknown, space, a-z).")
    print(f"  first 90% ({cut:,} ids) train, last 10% ({len(ids) - cut:,} ids) validate: the")
    print("  validation text is a later part of the book, never seen in training.")
    window = ids[1000:1000 + 17]
    decode = lambda a: tokenizer.detokenize(a[None]).numpy()[0].decode()  # noqa: E731
    print("Next-token windows: x = c_i..c_{i+T-1}, y = c_{i+1}..c_{i+T} (T = 16 here):")
    print(f"  x = {decode(window[:-1])!r}")
    print(f"  y = {decode(window[1:])!r}")
    return text


def step2_model():
    from keras_seq.models.gpt_language_model import GPTLanguageModel

    print("\n== 2. The model: token + position embedding -> causal decoder blocks -> tied "
          "output ==")
    print("    h^0_t = E[x_t] + P_t")
    print("    h^l   = h' + FFN(LN(h')),  h' = h^{l-1} + MHA_causal(LN(h^{l-1}))   (pre-norm)")
    print("    logits_t = LN(h^N_t) E^T        (tied: the embedding matrix E is the output)")
    print("    MHA_causal: softmax(Q K^T / sqrt(d_k) + M) V, M_ts = -inf for s > t")
    model = GPTLanguageModel(29, max_length=32, num_layers=2, num_heads=2, embedding_dim=32,
                             intermediate_dim=64, dropout=0.0)
    x = np.random.default_rng(0).integers(2, 29, (1, 12)).astype("int32")
    base = np.asarray(model(x))
    changed = x.copy()
    changed[0, 6:] = np.random.default_rng(1).integers(2, 29, 6)
    diff = np.abs(np.asarray(model(changed)) - base)
    print(f"Causality: changing tokens 6..11 moves the logits of positions 0..5 by "
          f"{diff[0, :6].max():.1e} and of 6..11 by {diff[0, 6:].max():.2f}.")
    cache = model.build_cache(x[:, :4], 12)  # the prefill: 4 ids read in one call
    worst = 0.0
    for t in range(4, 12):
        logits, _, cache = model.call_with_cache(x, cache, t + 1)
        worst = max(worst, float(np.abs(np.asarray(logits) - base[:, t]).max()))
    print("KV cache: prefill 4 tokens in one call, then one token per step with the keys/")
    print(f"values of earlier steps kept in a (B, N, 2, L, heads, d_k) cache: largest "
          f"difference to the one-shot forward {worst:.1e}.")


def step3_train(args):
    print("\n== 3. Training (the gpt-lm application) ==")
    app = _gpt_app()
    parser = app.build_parser()
    opts = parser.parse_args(["--runs-root", str(args.runs_root), "--verbose", "0",
                              "--dataset", "auto", "--no-download", *args.sizes["app"]])
    holder = {}

    class Keep(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            holder["model"] = self.model

    print("Command: keras-seq train gpt-lm " + " ".join(args.sizes["app"]))
    started = time.time()
    metrics = app.run(opts, extra_callbacks=(Keep(),), log=lambda line: None)
    print(f"Trained {metrics['epochs_run_this_call']} epochs in {time.time() - started:.0f} s; "
          f"{metrics['parameters']:,} parameters.")
    print(f"Validation perplexity per character: {metrics['validation_perplexity_per_char']:.2f}"
          f" ({metrics['validation_bits_per_char']:.2f} bits/char; "
          f"{metrics['tokenization']}).")
    for prompt, cont in metrics["samples_greedy"].items():
        print(f"  greedy {prompt!r} -> {cont!r}")
    history = metrics["perplexity_history"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    epochs = [row["epoch"] + 1 for row in history]
    ax.plot(epochs, [row["perplexity"] for row in history], "o-", label="training (dropout on)")
    ax.plot(epochs, [row["val_perplexity"] for row in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity per character")
    ax.set_title("GPT on The Time Machine (d2l characters)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "gpt_perplexity.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")
    return holder["model"], metrics


def step4_attention(args, model, text):
    from keras_seq.data.char_tokenizer import CharTokenizer

    print("\n== 4. Causal attention weights of the last block ==")
    tokenizer = CharTokenizer("d2l")
    ids = tokenizer.tokenize_text(text)
    start = int(len(ids) * 0.95)
    length = min(40, model.max_length)
    x = ids[start:start + length][None].astype("int32")
    weights = np.asarray(model.attention_weights(x)[-1])[0]  # (heads, T, T)
    above = float(np.triu(weights, k=1).sum(axis=(1, 2)).max())
    print(f"Sample: {tokenizer.detokenize(x).numpy()[0].decode()!r}")
    print(f"Weight above the diagonal (future tokens), largest over heads: {above:.1e}")
    for h, w in enumerate(weights):
        back = (np.arange(length)[:, None] - np.arange(length)[None, :]) * w
        print(f"  head {h}: mean distance looked back {back.sum(-1)[4:].mean():.1f} "
              f"characters; weight on the token itself {np.diag(w).mean():.2f}")
    chars = [tokenizer.detokenize(np.array([[i]])).numpy()[0].decode() or "·" for i in x[0]]
    chars = ["␣" if c == " " else c for c in chars]
    plt = _pyplot()
    heads = weights.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(4.2 * heads, 4.4))
    for h, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(weights[h], cmap="viridis", vmin=0.0)
        ax.set_title(f"last block, head {h}")
        ax.set_xticks(range(length), chars, fontsize=6)
        ax.set_yticks(range(length), chars, fontsize=6)
        ax.set_xlabel("key (attended) position")
        if h == 0:
            ax.set_ylabel("query position")
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "gpt_attention.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")


def _distinct(texts, n=4):
    grams = [t[i:i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


def _log_prob_per_char(model, rows):
    logits = np.asarray(model(rows[:, :-1]), "float64")
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return float(np.take_along_axis(logp, rows[:, 1:, None], -1).mean())


def step5_sampling(args, model):
    from keras_seq.data.char_tokenizer import CharTokenizer

    print("\n== 5. Sampling: greedy, temperature, top-p ==")
    print("p_T(v) ∝ exp(logit_v / T); top-p keeps the smallest set of ids whose probability")
    print("reaches p and renormalises. Lower T / p: likelier but more repetitive text.")
    s = args.sizes
    tokenizer = CharTokenizer("d2l")
    prompt = tokenizer.tokenize_text(PROMPT)
    batch = np.repeat(prompt[None], s["samples"], axis=0).astype("int32")
    jit = not args.quick

    def run(sampler, **kw):
        from keras_seq.generation import get_sampler

        if sampler != "greedy":  # seeded: the same text again on every run
            sampler = get_sampler(sampler, seed=7, **kw)
        out = model.generate(batch, len(prompt) + s["tokens"], sampler=sampler,
                             jit_compile=jit)
        texts = [t.decode() for t in tokenizer.detokenize(out[:, len(prompt):]).numpy()]
        return texts, _log_prob_per_char(model, out)

    greedy, greedy_lp = run("greedy")
    print(f"  greedy        : {greedy[0]!r}")
    rows = {"temperature": [], "top_p": []}
    for t in s["temperatures"]:
        texts, lp = run("random", temperature=t)
        rows["temperature"].append((t, _distinct(texts), lp))
        print(f"  T={t:<4}        : distinct 4-grams {_distinct(texts):.2f}, log p/char "
              f"{lp:.2f}  {texts[0]!r}")
    for p in s["top_ps"]:
        texts, lp = run("top_p", temperature=1.0, p=p)
        rows["top_p"].append((p, _distinct(texts), lp))
        print(f"  top-p p={p:<4}  : distinct 4-grams {_distinct(texts):.2f}, log p/char "
              f"{lp:.2f}  {texts[0]!r}")
    print(f"  (greedy: distinct 4-grams {_distinct(greedy):.2f}, log p/char {greedy_lp:.2f}; "
          f"{s['samples']} samples of {s['tokens']} characters per setting)")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, key, label in ((axes[0], "temperature", "temperature T"),
                           (axes[1], "top_p", "top-p p (T = 1)")):
        xs = [r[0] for r in rows[key]]
        ax.plot(xs, [r[1] for r in rows[key]], "o-", color="tab:blue",
                label="distinct 4-grams (diversity)")
        ax.set_xlabel(label)
        ax.set_ylabel("distinct 4-gram ratio", color="tab:blue")
        ax.set_ylim(0, 1.05)
        twin = ax.twinx()
        twin.plot(xs, [r[2] for r in rows[key]], "s--", color="tab:red")
        twin.set_ylabel("mean log p per char (model)", color="tab:red")
        ax.axhline(_distinct(greedy), color="gray", lw=0.8, ls=":")
        ax.set_title(f"sampling vs {key.replace('_', '-')} (dotted: greedy diversity)",
                     fontsize=9)
    fig.tight_layout()
    path = pathlib.Path(args.figures_dir) / "gpt_sampling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny model for 1 epoch on 30,000 characters (a smoke run)")
    parser.add_argument("--runs-root", default=None,
                        help="parent of the run folders (default: a temporary folder)")
    parser.add_argument("--figures-dir", default=str(FIGURES), help="where the PNGs go")
    args = parser.parse_args()
    args.sizes = QUICK if args.quick else FULL
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(1337)
    with tempfile.TemporaryDirectory() as tmp:
        args.runs_root = args.runs_root or tmp
        text = step1_data(args)
        step2_model()
        model, metrics = step3_train(args)
        step4_attention(args, model, text)
        rows = step5_sampling(args, model)
    print("\nDone. Summary:", json.dumps({
        "validation_perplexity_per_char": round(metrics["validation_perplexity_per_char"], 3),
        "epochs": metrics["epochs_run_this_call"],
        "temperature_sweep": [[t, round(d, 3), round(lp, 3)] for t, d, lp in rows["temperature"]],
    }))


if __name__ == "__main__":
    main()
