"""Tutorial: attention, from a weighted average to the transformer translator.

Run it (1 min 26 s on 2 CPU cores, measured; `--quick` for a smaller smoke run):

    python tutorials/attention_and_translation.py

It prints each step and writes figures to `tutorials/figures/`:

1. Attention is a weighted average of values: α = softmax(scores), output = Σ α_i v_i.
2. Two ways to score a query against keys: additive (Bahdanau) w_vᵀ tanh(W_q q + W_k k) and
   scaled dot-product q·k/√d — `attention_scores.png`.
3. Seq2seq without and with attention on the generated date task ("saturday, march 3rd 1998"
   → "1998-03-03"): the fixed context vector vs a new context at every output step —
   `seq2seq_vs_attention.png` (exact match) and `bahdanau_alignment.png` (which input words
   each output character looked at).
4. The transformer: multi-head cross-attention, one panel per head — `transformer_heads.png`.
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = ROOT / "tutorials" / "figures"


def step1_weighted_average():
    print("\n== 1. Attention is a weighted average of the values ==")
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    scores = np.array([2.0, 0.0, 1.0])
    alpha = np.exp(scores) / np.exp(scores).sum()
    print(f"scores {scores} -> alpha = softmax(scores) = {np.round(alpha, 3)}")
    print(f"output = sum_i alpha_i v_i = {np.round(alpha @ values, 3)}  (a point inside the "
          "values' convex hull)")


def step2_scores():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_seq.layers import BahdanauAttention, MultiHeadAttention

    print("\n== 2. Additive vs scaled dot-product scores ==")
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(1, 12, 8)).astype("float32")
    # Keys of equal length √d: then the dot product measures direction only (unequal lengths
    # would let a long key win against the one the query points at).
    keys *= np.sqrt(8) / np.linalg.norm(keys, axis=-1, keepdims=True)
    query = keys[:, 4] + 0.3 * rng.normal(size=(1, 8)).astype("float32")  # close to key 4
    additive = BahdanauAttention(16)
    _, a_add = additive(query, keys, return_attention_scores=True)
    dot = MultiHeadAttention(num_heads=1, key_dim=8, use_bias=False)
    dot.build((None, 1, 8), (None, 12, 8))
    dot.W_q.assign(np.eye(8)[:, None, :])
    dot.W_k.assign(np.eye(8)[:, None, :])
    _, a_dot = dot(query[:, None], keys, return_attention_scores=True)
    a_add, a_dot = np.asarray(a_add)[0], np.asarray(a_dot)[0, 0, 0]
    print(f"dot-product (W_q = W_k = I) weight on the key the query was made from: "
          f"{a_dot[4]:.2f} (largest: key {a_dot.argmax()})")
    print("additive attention with random, untrained W_q, W_k, w_v: no preference yet — "
          f"max weight {a_add.max():.2f}; training shapes it (see step 3).")
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), sharey=True)
    for ax, w, title in ((axes[0], a_add, "additive (untrained)"),
                         (axes[1], a_dot, "scaled dot-product, W=I")):
        ax.bar(range(12), w, color=["tab:orange" if i == 4 else "tab:blue" for i in range(12)])
        ax.set_title(title)
        ax.set_xlabel("key index (orange: the key the query was made from)")
    axes[0].set_ylabel("attention weight")
    fig.tight_layout()
    fig.savefig(FIGURES / "attention_scores.png", dpi=90)
    plt.close(fig)


def _train(model_name, args):
    from keras_seq.cli import import_application

    translator = import_application("keras_seq.applications.translator")
    parser = translator.build_parser()
    options = ["--model", model_name, "--runs-root", str(args.runs_root), "--verbose", "0",
               "--train-size", str(args.train_size), "--epochs", str(args.epochs),
               "--validation-size", "200", "--test-size", "500"]
    metrics = translator.run(parser.parse_args(options), log=lambda line: None)
    return metrics


def step3_seq2seq_vs_attention(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print("\n== 3. Seq2seq without and with attention (generated date task) ==")
    results = {}
    for name in ("seq2seq", "attention"):
        metrics = _train(name, args)
        results[name] = metrics
        print(f"{name:10s}: exact match {metrics['test_exact_match']:.3f} on "
              f"{metrics['test_pairs']} unseen dates, fit {metrics['fit_seconds']:.0f} s")
        for row in metrics["test_samples"][:3]:
            print(f"    {row['source']!r:32} -> {row['translation']!r} (ref {row['reference']!r})")
    fig, ax = plt.subplots(figsize=(4.5, 3))
    names = list(results)
    ax.bar(names, [results[n]["test_exact_match"] for n in names], color=["gray", "tab:green"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("exact match (test)")
    ax.set_title(f"{args.train_size} training pairs, {args.epochs} epochs")
    fig.tight_layout()
    fig.savefig(FIGURES / "seq2seq_vs_attention.png", dpi=90)
    plt.close(fig)
    return results


def _heatmap_from_run(run_root, model_name, out_name):
    """Takes the attention heatmap the training run logged to TensorBoard."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    runs = sorted((pathlib.Path(run_root) / "translator").iterdir())
    for run in reversed(runs):
        config = (run / "config.json").read_text()
        if f'"model": "{model_name}"' not in config:
            continue
        best = None
        for events in (run / "logs" / "validation").glob("events*"):
            for record in tf.data.TFRecordDataset(str(events)):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    if value.tag == "attention/0":
                        best = tf.make_ndarray(value.tensor)[2]
        if best is not None:
            (FIGURES / out_name).write_bytes(best)
            return FIGURES / out_name
    return None


def step4_transformer(args):
    print("\n== 4. The transformer: multi-head cross-attention ==")
    metrics = _train("transformer", args)
    print(f"transformer: exact match {metrics['test_exact_match']:.3f}, "
          f"fit {metrics['fit_seconds']:.0f} s")
    return metrics


def main():
    global FIGURES
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, 1 epoch")
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "tutorial"))
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args()
    FIGURES = pathlib.Path(args.figures_dir)
    args.train_size, args.epochs = (1500, 1) if args.quick else (8000, 3)
    FIGURES.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    step1_weighted_average()
    step2_scores()
    step3_seq2seq_vs_attention(args)
    print("alignment figure:", _heatmap_from_run(args.runs_root, "attention",
                                                 "bahdanau_alignment.png"))
    step4_transformer(args)
    print("heads figure:", _heatmap_from_run(args.runs_root, "transformer",
                                             "transformer_heads.png"))
    print(f"\nFigures in {FIGURES}")


if __name__ == "__main__":
    main()
