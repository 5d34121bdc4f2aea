"""Tutorial: ELMo — a bidirectional LSTM language model and its contextual word embeddings.

Run it (`--quick` for a smaller smoke run):

    python tutorials/elmo_language_model.py
    python tutorials/elmo_language_model.py --from-run runs/elmo-lm/<time>   # reuse a run

It trains the `elmo-lm` application on The Time Machine (the generated corpus when the book
is not found), prints each step and writes figures to `tutorials/figures/`:

1. Word tokens: lower-cased words and punctuation, a vocabulary of the most frequent training
   tokens, 90/10 split by position.
2. Two language models trained jointly over one embedding: p(x_{t+1} | x_≤t) forward and
   p(x_{t-1} | x_≥t) backward; loss = mean of both cross entropies — perplexity curves of
   both directions — `elmo_perplexity.png`.
3. Contextual embeddings: h_{t,0} = [e_t; e_t] is the same in every sentence, the LSTM
   layers [h→_t,j; h←_t,j] are not: one word in two contexts, layer by layer, and a 2-D
   projection of all occurrences of a frequent word in the book — `elmo_contexts.png`.
4. ELMo_t = γ Σ_j softmax(s)_j h_{t,j}: two probing tasks learn their own mix over a
   frozen biLM — the word itself wants the token layer, its neighbour the LSTM layers —
   `elmo_layer_weights.png`.
5. The export: `embed` and `serving_default` in plain TensorFlow.
"""

import argparse
import json
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"
SEED = 1337
# The full run uses the application's defaults (so `--from-run` can reuse a default run).
SIZES = dict(argv=[], probe_windows=1000, probe_epochs=5, word="time")
QUICK_SIZES = dict(argv=["--quick", "--max-tokens", "6000", "--hidden-dim", "24",
                         "--embedding-dim", "24", "--batch-size", "16",
                         "--sequence-length", "16"],
                   probe_windows=60, probe_epochs=1, word="the")
CONTEXTS = [("time", "it was a long time ago , the time traveller said .",
             "what time is it ? he asked ."),
            ("light", "the light of the sun was on the hill .",
             "it was light and easy to carry .")]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _app():
    from keras_seq.cli import import_application

    return import_application("keras_seq.applications.elmo_lm")


def step1_tokens(args):
    from keras_seq.data.timemachine import load_text
    from keras_seq.data.word_tokenizer import WordTokenizer

    print("\n== 1. Word tokens and the 90/10 split by position ==")
    text, info = load_text("auto", download=False, log=lambda line: None)
    tokens = WordTokenizer.split_text(text, "words")
    print(f"Data: {info['dataset']} ({info.get('path')}), {len(text):,} characters -> "
          f"{len(tokens):,} tokens (lower-cased words and punctuation).")
    print("  first tokens:", " ".join(tokens[300:330]))
    cut = int(round(len(tokens) * 0.9))
    vocab = WordTokenizer.vocabulary_from_tokens(tokens[:cut], 10000)
    unseen = np.mean([t not in set(vocab) for t in tokens[cut:]])
    print(f"Vocabulary of the first 90% ({cut:,} tokens): {len(vocab):,} types; the last 10% "
          f"has {unseen:.1%} tokens never seen in training -> [UNK].")
    return text


def step2_train(args):
    elmo_lm = _app()
    print("\n== 2. Two language models, one embedding, trained jointly ==")
    print("forward : p(x_{t+1} | x_1..x_t)   backward: p(x_{t-1} | x_t..x_T)")
    print("loss = ½ CE(forward) + ½ CE(backward) over the positions that have a neighbour.")
    if args.from_run:
        run_dir = pathlib.Path(args.from_run)
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        print(f"Reusing the trained run {run_dir} (no training here).")
    else:
        run_dir = pathlib.Path(args.runs_root) / "elmo-lm"
        argv = [*args.sizes["argv"], "--run-dir", str(run_dir), "--seed", str(SEED),
                "--verbose", "0"]
        print("Training: keras-seq train elmo-lm " + " ".join(argv))
        metrics = elmo_lm.run(elmo_lm.build_parser().parse_args(argv),
                              log=lambda line: None)
    print(f"Validation perplexity per token: forward "
          f"{metrics['validation_perplexity_forward']:.1f}, backward "
          f"{metrics['validation_perplexity_backward']:.1f}, mean "
          f"{metrics['validation_perplexity_mean']:.1f} "
          f"({metrics['validation_tokens']:,} tokens, vocabulary {metrics['vocabulary_size']}).")
    for s in metrics["samples"][:4]:
        print(f"  [{s['previous'][0][0]}] <- {s['text']!r} -> [{s['next'][0][0]}]")
    hist = metrics["history"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(hist["forward_perplexity"]) + 1)
    for key, style in (("forward", "-"), ("backward", "--")):
        ax.plot(epochs, hist[f"{key}_perplexity"], style, color="tab:blue",
                label=f"{key} (train, with dropout)")
        ax.plot(epochs, hist[f"val_{key}_perplexity"], style, color="tab:red",
                label=f"{key} (validation)")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity per word token")
    ax.set_title("biLM on The Time Machine: both directions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIGURES / "elmo_perplexity.png", dpi=90)
    plt.close(fig)
    from keras_seq.tasks.elmo_lm import load_bilm

    model, tokenizer = load_bilm(run_dir)
    return run_dir, model, tokenizer


def _vectors(model, tokenizer, sentences):
    ids = tokenizer.tokenize(sentences).to_tensor(default_value=0).numpy()
    stack, _ = model.layer_stack(ids)
    return ids, keras.ops.convert_to_numpy(stack)  # (B, L+1, T, 2H)


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def step3_contexts(args, model, tokenizer, text):
    from keras_seq.data.word_tokenizer import WordTokenizer

    print("\n== 3. Contextual embeddings: the same word in two contexts ==")
    vocab = tokenizer.get_vocabulary()
    rows = []
    for word, first, second in CONTEXTS:
        if word not in vocab:
            continue
        ids, stack = _vectors(model, tokenizer, [first, second])
        wid = vocab.index(word)
        i, j = [int(np.where(row == wid)[0][-1]) for row in ids]
        sims = [_cos(stack[0, layer, i], stack[1, layer, j]) for layer in range(stack.shape[1])]
        rows.append((word, sims))
        print(f"  {word!r}: {first!r} vs {second!r}")
        print("     cosine per layer (0 = token layer): "
              + ", ".join(f"{k}: {s:.3f}" for k, s in enumerate(sims)))
    # every occurrence of a frequent word in (the first part of) the book
    word = args.sizes["word"]
    tokens = WordTokenizer.split_text(text, "words")[:20000]
    ids = tokenizer.ids_of_tokens(tokens)
    wid = vocab.index(word) if word in vocab else 2
    word = vocab[wid]
    positions = [p for p in np.where(ids == wid)[0] if 10 <= p < len(ids) - 10][:300]
    windows = np.stack([ids[p - 10: p + 11] for p in positions]).astype("int32")
    stack = keras.ops.convert_to_numpy(model.layer_stack(windows)[0])[:, -1, 10]  # (N, 2H)
    prev = [tokens[p - 1] for p in positions]
    common = [w for w, _ in sorted(((w, prev.count(w)) for w in set(prev)),
                                   key=lambda x: -x[1])[:3]]
    centred = stack - stack.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    q = 0
    sims = stack @ stack[q] / (np.linalg.norm(stack, axis=1) * np.linalg.norm(stack[q]) + 1e-12)
    print(f"  {len(positions)} occurrences of {word!r}; top-layer neighbours of "
          f"'... {' '.join(tokens[positions[q] - 4: positions[q] + 4])} ...':")
    for k in np.argsort(-sims)[1:4]:
        p = positions[k]
        print(f"     {sims[k]:.3f}  ... {' '.join(tokens[p - 4: p + 4])} ...")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for word_, sims_ in rows:
        axes[0].plot(range(len(sims_)), sims_, "o-", label=word_)
    axes[0].set_xticks(range(model.num_layers + 1))
    axes[0].set_xlabel("layer j (0 = token layer)")
    axes[0].set_ylabel("cosine(word in context A, in context B)")
    axes[0].set_title("one word, two sentences")
    axes[0].legend()
    colours = {w: c for w, c in zip(common, ("tab:red", "tab:blue", "tab:green"))}
    for w in common + ["other"]:
        sel = [k for k, pw in enumerate(prev) if (pw if pw in colours else "other") == w]
        axes[1].scatter(xy[sel, 0], xy[sel, 1], s=12, c=colours.get(w, "lightgray"),
                        label=f"after {w!r}" if w != "other" else "other")
    axes[1].set_title(f"top-layer ELMo vectors of {word!r} (PCA, {len(positions)} occurrences)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "elmo_contexts.png", dpi=90)
    plt.close(fig)
    return rows


def step4_layer_weights(args, model, tokenizer, text):
    from keras_seq.data.word_tokenizer import WordTokenizer
    from keras_seq.models.elmo_embedding import ElmoEmbedding

    print("\n== 4. ELMo_t = γ Σ_j softmax(s)_j h_t,j: each task learns its own mix ==")
    tokens = WordTokenizer.split_text(text, "words")
    ids = tokenizer.ids_of_tokens(tokens[: int(len(tokens) * 0.9)]).astype("int32")
    n, t = args.sizes["probe_windows"], 20
    starts = np.random.default_rng(SEED).integers(0, len(ids) - t - 2, n)
    x = np.stack([ids[s: s + t] for s in starts])
    nxt = np.stack([ids[s + 1: s + t + 1] for s in starts])
    vocabulary_size = tokenizer.vocabulary_size
    learned = {}
    for task, y in (("the word itself (x_t)", x), ("the next word (x_t+1)", nxt)):
        keras.utils.set_random_seed(SEED)
        inp = keras.Input((None,), dtype="int32")
        elmo = ElmoEmbedding(model, fine_tune=False, name="elmo")
        out = keras.layers.Dense(vocabulary_size)(elmo(inp))
        probe = keras.Model(inp, out)
        probe.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        hist = probe.fit(x, y, batch_size=32, epochs=args.sizes["probe_epochs"], verbose=0)
        w = keras.ops.convert_to_numpy(elmo.task_mix.layer_weights())
        learned[task] = w
        print(f"  probe for {task:24s}: softmax(s) = [" + ", ".join(f"{v:.2f}" for v in w)
              + f"], γ = {float(keras.ops.convert_to_numpy(elmo.task_mix.gamma)):.2f}, "
              f"train accuracy {hist.history['accuracy'][-1]:.2f}")
    bench = ROOT / "benchmarks" / "out" / "elmo_imdb.json"
    if bench.is_file():
        rows = json.loads(bench.read_text()).get("classifiers", {})
        for name in ("elmo_frozen", "elmo_fine_tuned"):
            if rows.get(name, {}).get("elmo_layer_weights"):
                learned[f"IMDB sentiment ({name})"] = np.array(rows[name]["elmo_layer_weights"])
                print(f"  IMDB sentiment, {name} (benchmarks/out/elmo_imdb.json): softmax(s) = "
                      + str([round(v, 2) for v in rows[name]["elmo_layer_weights"]]))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    width = 0.8 / len(learned)
    for k, (task, w) in enumerate(learned.items()):
        ax.bar(np.arange(len(w)) + k * width, w, width, label=task)
    ax.axhline(1.0 / (model.num_layers + 1), color="gray", ls=":", label="uniform (start)")
    ax.set_xticks(np.arange(model.num_layers + 1) + width * (len(learned) - 1) / 2)
    ax.set_xticklabels(["token layer"] + [f"LSTM {j}" for j in range(1, model.num_layers + 1)])
    ax.set_ylabel("softmax(s)_j")
    ax.set_title("learned layer weights of the scalar mix, per task")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "elmo_layer_weights.png", dpi=90)
    plt.close(fig)
    return learned


def step5_export(run_dir):
    import tensorflow as tf

    print("\n== 5. The export: contextual embeddings in plain TensorFlow ==")
    loaded = tf.saved_model.load(str(pathlib.Path(run_dir) / "export"))
    texts = ["The Time Traveller smiled.", "the machine was gone"]
    emb = loaded.signatures["embed"](text=tf.constant(texts))
    print(f"  embed: embeddings {tuple(emb['embeddings'].shape)}, mask "
          f"{emb['mask'].numpy().sum(axis=1).tolist()} real tokens, tokens "
          f"{[t.decode() for t in emb['tokens'].numpy()[0] if t]}")
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    for i, t in enumerate(texts):
        print(f"  serving_default: [{out['previous_word'].numpy()[i].decode()}] <- {t!r} -> "
              f"[{out['next_word'].numpy()[i].decode()}]  sentence_embedding "
              f"{tuple(out['sentence_embedding'].shape)}")


def main():
    global FIGURES
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few thousand tokens, a tiny model, 2 epochs (a smoke run)")
    parser.add_argument("--from-run", default=None,
                        help="a finished elmo-lm run folder to use instead of training")
    parser.add_argument("--runs-root", default=None,
                        help="parent of the app's run folder (default: a new temporary folder)")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args()
    FIGURES = pathlib.Path(args.figures_dir)
    FIGURES.mkdir(parents=True, exist_ok=True)
    args.runs_root = args.runs_root or tempfile.mkdtemp(prefix="elmo_tutorial_")
    args.sizes = QUICK_SIZES if args.quick else SIZES
    keras.utils.set_random_seed(0)
    text = step1_tokens(args)
    run_dir, model, tokenizer = step2_train(args)
    step3_contexts(args, model, tokenizer, text)
    step4_layer_weights(args, model, tokenizer, text)
    step5_export(run_dir)
    print(f"\nFigures in {FIGURES}; run folder {run_dir}")


if __name__ == "__main__":
    main()
