"""Tutorial: aligned Seq2Seq — tag every character with a stacked, bidirectional RNN.

Run it (`--quick` for a smaller smoke run):

    python tutorials/sequence_tagging.py

Measured: 20 min wall on 2 CPU cores shared with ~6 other training processes (`--quick`: about
40 s of CPU time).

It trains small taggers (the model of `keras-seq train tagger`) on the generated
numbers-and-dates task, prints each step and writes figures to `tutorials/figures/`:

1. Aligned Seq2Seq (T = T'): one output per input step. The data: sentences with numbers and
   dates, one BIO tag per character, and why the first digit is ambiguous from the left.
2. The deep RNN, h^l_t = φ_l(W_xh^l h^{l-1}_t + W_hh^l h^l_{t-1}), y_t = W_hy h^L_t: the Keras
   model checked against a NumPy transcription of the formula.
3. Left-to-right vs bidirectional: span F1 and the accuracy of span starts, validation F1
   per epoch — `tagging_uni_vs_bi.png`.
4. Depth: 1 vs 2 stacked layers, in both directions — `tagging_depth.png`.
5. Where the directions differ: test sentences with gold and predicted tags, one coloured box
   per character — `tagging_examples.png`.
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"
SEED = 1337  # the app's default --seed: the tutorial's data are the app's data
SIZES = dict(train_size=3000, validation_size=300, test_size=1000, epochs=3, units=48,
             batch_size=64)
QUICK_SIZES = dict(train_size=200, validation_size=40, test_size=100, epochs=1, units=8,
                   batch_size=64)
CONFIGS = (("uni", 1), ("bi", 1), ("uni", 2), ("bi", 2))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show_tags(text, tags, names):
    """Two aligned lines: the text, and one letter per character (B/I + type initial)."""
    marks = "".join("." if names[t] == "O" else
                    (names[t][0] if names[t][2] == "N" else names[t][0].lower()) for t in tags)
    return f"    {text}\n    {marks}"


def step1_task(args):
    from keras_seq.data import span_tagging as st

    print("\n== 1. Aligned Seq2Seq: one tag per character ==")
    print("Input x_1..x_T (characters), output y_1..y_T (tags): the same length, T = T'.")
    s = args.sizes
    splits = st.generated_splits(s["train_size"], s["validation_size"], s["test_size"],
                                 seed=SEED)
    names = st.tag_names()
    print(f"Data: {len(splits['train'])} / {len(splits['validation'])} / "
          f"{len(splits['test'])} generated sentences (train / validation / test, separate "
          "random streams); tags " + ", ".join(names))
    print("Marks below: B/I = B-NUM/I-NUM, b/i = B-DATE/I-DATE, . = O")
    for ex in splits["train"][:3]:
        print(_show_tags(ex["text"], st.spans_to_tags(ex["text"], ex["spans"]), names))
    first = {}
    for ex in splits["train"]:
        for a, b, k in ex["spans"]:
            first.setdefault(ex["text"][a:a + 2], set()).add(k)
    both = sorted(k for k, v in first.items() if len(v) == 2)
    print(f"Span openings (first 2 characters) that start a NUM in one sentence and a DATE in "
          f"another: {len(both)} of {len(first)}, e.g. {both[:6]}.")
    print("'12' alone is NUM but '12 March 1998' is DATE: at the '1' a left-to-right RNN has "
          "not seen what decides the tag.")
    data = {k: st.encode_examples(v) for k, v in splits.items()}
    data["validation_texts"] = [ex["text"] for ex in splits["validation"]]
    return splits, data, names


def step2_formula():
    from keras_seq.models.sequence_tagger import SequenceTagger

    print("\n== 2. The deep (stacked) RNN and its output layer ==")
    print("    h^l_t = φ_l(W_xh^l h^{l-1}_t + W_hh^l h^l_{t-1} + b^l),  h^0_t = e(x_t)")
    print("    y_t   = W_hy h^L_t + b_y      (tag logits at every step t)")
    print("Bidirectional: each layer also runs right to left and passes [→h^l_t ; ←h^l_t] up.")
    model = SequenceTagger(97, 5, cell="elman", hidden_dim=4, num_layers=2, bidirectional=False,
                           embedding_dim=3)
    ids = np.array([[40, 41, 42, 43, 44]])
    keras_out = keras.ops.convert_to_numpy(model(ids))[0]
    h = np.asarray(model.embedding.embeddings)[ids[0]]
    for layer in model.rnn_layers:
        U, V, b = (np.asarray(w) for w in (layer.cell.U, layer.cell.V, layer.cell.b_h))
        state, out = np.zeros(4), []
        for x in h:
            state = np.tanh(U @ x + V @ state + b)
            out.append(state)
        h = np.array(out)
    numpy_out = h @ np.asarray(model.head.kernel) + np.asarray(model.head.bias)
    print(f"Keras SequenceTagger (elman, 2 layers) vs the formula in NumPy: max |difference| = "
          f"{np.abs(keras_out - numpy_out).max():.2e}")


def train(data, names, direction, layers, args):
    """Trains one tagger; returns (model, validation span-F1 per epoch)."""
    from keras_seq.training.token_classifier import compile_token_classifier
    from keras_seq.callbacks.tagged_samples import TaggedSamples
    from keras_seq.data import span_tagging as st
    from keras_seq.models.sequence_tagger import SequenceTagger

    s = args.sizes
    keras.utils.set_random_seed(SEED)
    train_ds = st.tagging_dataset(*data["train"], s["batch_size"], shuffle=True, seed=SEED)
    model = SequenceTagger(st.VOCABULARY_SIZE, len(names), cell="gru", hidden_dim=s["units"],
                           num_layers=layers, bidirectional=direction == "bi",
                           embedding_dim=32, dropout=0.1)
    steps = int(train_ds.cardinality()) * s["epochs"]
    compile_token_classifier(model, 3e-3, steps, False,
                             max_warmup_steps=300)
    val_ids, val_tags = data["validation"]
    samples = TaggedSamples(pathlib.Path(args.runs_root) / f"{direction}{layers}",
                            data["validation_texts"], st.pad_batch(val_ids), val_tags,
                            names, num_samples=2)
    model.fit(train_ds, epochs=s["epochs"], verbose=0, callbacks=[samples], shuffle=False)
    return model, [h["span_f1"] for h in samples.history]


def score(model, data, names):
    from keras_seq.data import span_tagging as st
    from keras_seq.metrics.tagging_metrics import tagging_report

    gold = data["test"][1]
    predicted = model.predict_tags(st.pad_batch(data["test"][0]))
    report = tagging_report(gold, predicted, names)
    starts = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)
              if names[int(g)].startswith("B-")]
    start_acc = float(np.mean([g == p for g, p in starts]))
    return {"f1": report["spans"]["micro"]["f1"], "token_accuracy": report["token_accuracy"],
            "start_accuracy": start_acc, "f1_num": report["spans"]["NUM"]["f1"],
            "f1_date": report["spans"]["DATE"]["f1"], "predicted": predicted}


def step3_directions(data, names, args):
    plt = _pyplot()
    print("\n== 3. Left-to-right vs bidirectional ==")
    s = args.sizes
    print(f"GRU taggers, {s['units']} units, {s['train_size']} training sentences, "
          f"{s['epochs']} epochs, same seed and data; test = {s['test_size']} sentences.")
    results = {}
    for direction, layers in CONFIGS[:2]:
        model, curve = train(data, names, direction, layers, args)
        results[(direction, layers)] = {**score(model, data, names), "curve": curve}
        r = results[(direction, layers)]
        print(f"  {direction:>3}-GRU x{layers}: span F1 {r['f1']:.4f} (NUM {r['f1_num']:.4f}, "
              f"DATE {r['f1_date']:.4f}), token accuracy {r['token_accuracy']:.4f}, "
              f"span-start accuracy {r['start_accuracy']:.4f}")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = ["left-to-right", "bidirectional"]
    keys = [("uni", 1), ("bi", 1)]
    x = np.arange(3)
    for i, (key, label) in enumerate(zip(keys, labels)):
        r = results[key]
        vals = [r["f1"], r["start_accuracy"], r["token_accuracy"]]
        bars = a.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=label)
        a.bar_label(bars, fmt="%.3f", fontsize=7)
        b.plot(range(1, len(r["curve"]) + 1), r["curve"], "o-", label=label)
    a.set_xticks(x, ["span F1", "span-start acc.", "token acc."])
    a.set_ylim(0, 1.08)
    a.set_title("test split")
    a.legend(fontsize=8, loc="lower right")
    b.set_xticks(range(1, len(results[keys[0]]["curve"]) + 1))
    b.set_xlabel("epoch")
    b.set_ylabel("validation span F1")
    b.set_ylim(0, 1.02)
    b.set_title("learning curves")
    b.legend(fontsize=8)
    fig.suptitle("GRU tagger, 1 layer: reading right context helps")
    fig.tight_layout()
    path = args.figures_dir / "tagging_uni_vs_bi.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")
    return results


def step4_depth(data, names, results, args):
    plt = _pyplot()
    print("\n== 4. Depth: 1 vs 2 stacked layers ==")
    for direction, layers in CONFIGS[2:]:
        model, curve = train(data, names, direction, layers, args)
        results[(direction, layers)] = {**score(model, data, names), "curve": curve}
    for direction in ("uni", "bi"):
        one, two = results[(direction, 1)], results[(direction, 2)]
        print(f"  {direction:>3}-GRU: span F1 1 layer {one['f1']:.4f} -> 2 layers "
              f"{two['f1']:.4f}; span-start accuracy {one['start_accuracy']:.4f} -> "
              f"{two['start_accuracy']:.4f}")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(2)
    for i, layers in enumerate((1, 2)):
        vals = [results[(d, layers)]["f1"] for d in ("uni", "bi")]
        bars = ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=f"{layers} layer(s)")
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(x, ["left-to-right GRU", "bidirectional GRU"])
    ax.set_ylabel("test span F1 (exact match, micro)")
    ax.set_ylim(0, 1.08)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Stacking a second RNN layer")
    fig.tight_layout()
    path = args.figures_dir / "tagging_depth.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")


def step5_examples(splits, data, names, results, args):
    from keras_seq.callbacks.tagged_samples import render_tagged_text
    from keras_seq.metrics.tagging_metrics import tag_ids_to_spans

    plt = _pyplot()
    print("\n== 5. Where the two directions differ ==")
    uni, bi = results[("uni", 1)]["predicted"], results[("bi", 1)]["predicted"]
    gold = data["test"][1]
    picked = [i for i in range(len(gold))
              if (uni[i, :len(gold[i])] != gold[i]).any()
              and (bi[i, :len(gold[i])] == gold[i]).all()][:4]
    picked = (picked + [i for i in range(len(gold)) if i not in picked])[:4]
    texts = [splits["test"][i]["text"] for i in picked]
    for i, text in zip(picked, texts):
        def fmt(tags):
            return "; ".join(f"{k}:{text[a:b]}" for a, b, k in
                             tag_ids_to_spans(tags, names, len(text))) or "-"
        print(f"  {text!r}\n      gold: {fmt(gold[i])}\n      uni : {fmt(uni[i])}\n"
              f"      bi  : {fmt(bi[i])}")
    fig = render_tagged_text(texts, [[gold[i], uni[i], bi[i]] for i in picked], names,
                             row_labels=["gold", "left-to-right", "bidirectional"],
                             title="Tags per character (darker = B-, lighter = I-)")
    path = args.figures_dir / "tagging_examples.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Figure: {path}")
    print("\nThe same model as an application (run folder, TensorBoard, SavedModel):")
    print("    keras-seq train tagger            # then: keras-seq predict RUN/export \"...\"")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and models (smoke run)")
    parser.add_argument("--runs-root", default=None,
                        help="where the training logs go (default: a temporary folder)")
    parser.add_argument("--figures-dir", default=os.environ.get("KERAS_SEQ_FIGURES_DIR",
                                                                str(FIGURES)))
    args = parser.parse_args(argv)
    args.sizes = QUICK_SIZES if args.quick else SIZES
    args.figures_dir = pathlib.Path(args.figures_dir)
    args.figures_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        args.runs_root = args.runs_root or tmp
        splits, data, names = step1_task(args)
        step2_formula()
        results = step3_directions(data, names, args)
        step4_depth(data, names, results, args)
        step5_examples(splits, data, names, results, args)


if __name__ == "__main__":
    main()
