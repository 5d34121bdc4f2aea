"""Tutorial: Seq2Vec — one vector for a whole review: the last state vs the mean, and padding.

Run:  python tutorials/seq2vec_pooling.py      (`--quick`: a small corpus and short training)

A classifier reads a review x_1 .. x_T with an RNN and must turn the states h_1 .. h_T into one
vector for the head  ŷ = σ(w·v + b)  (a 2-class softmax(W v) is the same thing):

    last state:           v = h_T                        (the state after the last word)
    bidirectional last:   v = [h→_T ; h←_1]              (each direction's final state)
    bidirectional mean:   v = h̄ = 1/T Σ_t [h→_t ; h←_t]  (the lecture's Seq2Vec)

Reviews have different lengths, so a batch is right-padded with id 0 to a common length. T
must be the TRUE length: without a mask, "the last state" is the state after reading the
padding. Steps:

1. The generated review corpus (the IMDB application's offline default) as padded ids.
2. Padding, with untrained models: append padding and watch each model's output. Without the
   mask the last state moves; with it (Keras masks from `Embedding(mask_zero=True)`, and
   `BidirectionalMeanPooledRNN(pooling="last" | "mean")`) nothing moves.
3. Train each variant on the same data and compare the test accuracy:
   `seq2vec_pooling.png` (accuracy per pooling, and one review's output as padding grows).
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.data.reviews import load_reviews  # noqa: E402
from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier  # noqa

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "figures"
PADDING_CURVE = (0, 10, 25, 50, 100)
VARIANTS = (
    "last state, no mask",
    "last state, masked",
    "bi last [h→_T;h←_1], masked",
    "bi mean h̄, masked",
)


def build(variant, vocabulary_size, units, embedding_dim):
    """The four classifiers: the same embedding and GRU sizes, only the pooling/mask differ."""
    if variant.startswith("bi "):
        pooling = "last" if variant.startswith("bi last") else "mean"
        return build_sentiment_classifier(vocabulary_size, embedding_dim=embedding_dim,
                                          rnn="gru", hidden_dim=units, num_stacked=0, dropout=0.0,
                                          pooling=pooling, name="bi_" + pooling)
    masked = variant.endswith("masked")
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=masked)(ids)
    h_T = keras.layers.GRU(units)(x)  # the state after the last (real, when masked) step
    out = keras.layers.Dense(1, activation="sigmoid")(h_T)  # σ(w·h_T + b)
    return keras.Model(ids, out, name="last_masked" if masked else "last_unmasked")


def step1_data(args):
    print("\n== 1. The generated review corpus as right-padded ids ==")
    splits, info = load_reviews("synthetic", synthetic_sizes=(args.train_size, args.test_size),
                                log=print)
    vectorizer = keras.layers.TextVectorization(max_tokens=args.vocabulary_size,
                                                output_sequence_length=args.max_length)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(splits["train"].texts).batch(512))
    data = {}
    for name, split in splits.items():
        ids = vectorizer(tf.constant(split.texts)).numpy().astype("int32")
        data[name] = (ids, split.labels.astype("float32"))
    train_ids = data["train"][0]
    lengths = (train_ids != 0).sum(axis=1)
    print(f"{info['train_size']} train / {info['test_size']} test reviews, vocabulary "
          f"{len(vectorizer.get_vocabulary())}, padded/truncated to {args.max_length} ids")
    print(f"true lengths: median {int(np.median(lengths))}, min {lengths.min()}, max "
          f"{lengths.max()}; {np.mean(train_ids == 0):.0%} of all ids are padding (0)")
    print(f"example: {splits['train'].texts[0][:70]!r}... -> {train_ids[0, :8].tolist()} ...")
    return data


def outputs_as_padding_grows(predict, ids, extra_steps):
    """p(positive) for one review (trimmed to its true length) with k padding ids appended."""
    real = ids[ids != 0]
    return np.array([float(predict(np.concatenate([real, np.zeros(k, "int32")])[None])[0, 0])
                     for k in extra_steps])


def compiled(model):
    """The model as one graph for every batch size and length (eager RNN calls are slow)."""
    return tf.function(lambda ids: model(ids, training=False),
                       input_signature=[tf.TensorSpec((None, None), tf.int32)])


def step2_padding(data, args):
    print("\n== 2. Appending padding to one review (untrained models, fixed seed) ==")
    review = data["test"][0][0]
    extra = (0, 10, 50)
    models, moved = {}, {}
    for variant in VARIANTS:
        keras.utils.set_random_seed(0)
        model = build(variant, args.vocabulary_size, args.units, args.embedding_dim)
        models[variant] = (model, compiled(model))
        probs = outputs_as_padding_grows(models[variant][1], review, extra)
        moved[variant] = float(np.abs(probs - probs[0]).max())
        print(f"{variant:28s}: p(positive) with {extra} padding ids appended = "
              f"{np.round(probs, 6).tolist()}; largest change {moved[variant]:.1e}")
    for variant in VARIANTS[1:]:
        assert moved[variant] < 1e-5, variant
    assert moved[VARIANTS[0]] > 1e-4  # the unmasked last state reads the padding
    print("Without the mask, h_T is the state after the padding: the output depends on how "
          "much padding the batch needed. With it, T is the true length.")
    return models, moved


def step3_train(models, data, args):
    print("\n== 3. Training each pooling on the same data (the models of step 2) ==")
    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    results = {}
    for variant, (model, predict) in models.items():
        keras.utils.set_random_seed(0)
        compile_sentiment_classifier(model, learning_rate=3e-3)
        model.fit(x_train, y_train, batch_size=50, epochs=args.epochs, verbose=0, shuffle=True)
        p_test = np.asarray(predict(x_test))[:, 0]  # the same graph reads the trained weights
        accuracy = float(np.mean((p_test > 0.5) == (y_test > 0.5)))
        curve = outputs_as_padding_grows(predict, x_test[0], PADDING_CURVE)
        results[variant] = (accuracy, curve)
        print(f"{variant:28s}: test accuracy {accuracy:.3f} after {args.epochs} epochs on "
              f"{len(x_train)} reviews; spread (std) of its test outputs {p_test.std():.3f}; "
              f"p(positive) of test review 0 (label {int(y_test[0])}) with 0 .. "
              f"{PADDING_CURVE[-1]} padding ids: {curve.min():.3f} .. {curve.max():.3f}")
    print("A small spread means the outputs barely depend on the review: without the mask the "
          "last state comes after the padding of the batch (here most of the ids).")
    return results


def figure(results, folder, args):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    names = list(results)
    colors = ["C3", "C1", "C2", "C0"]
    axes[0].barh(names, [results[n][0] for n in names], color=colors)
    for i, n in enumerate(names):
        axes[0].text(results[n][0], i, f" {results[n][0]:.3f}", va="center")
    axes[0].set_xlim(0, 1.1)
    axes[0].invert_yaxis()
    axes[0].set_xlabel(f"test accuracy ({args.epochs} epochs, {args.train_size} reviews)")
    axes[0].set_title("Seq2Vec pooling on the generated reviews (GRU)")
    for n, c in zip(names, colors):
        axes[1].plot(PADDING_CURVE, results[n][1], "o-", ms=3, color=c, label=n)
    axes[1].set_xlabel("padding ids appended to one test review")
    axes[1].set_ylabel("p(positive)")
    axes[1].set_title("the trained models on one review as padding grows")
    axes[1].legend(fontsize=8)
    axes[1].grid(True, alpha=0.3)
    fig.tight_layout()
    path = pathlib.Path(folder) / "seq2vec_pooling.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"figure: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpus, one epoch")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args(argv)
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.train_size, args.test_size, args.max_length, args.epochs = 800, 400, 60, 1
    else:
        args.train_size, args.test_size, args.max_length, args.epochs = 4000, 1000, 120, 3
    args.vocabulary_size, args.units, args.embedding_dim = 2000, 16, 16
    data = step1_data(args)
    models, moved = step2_padding(data, args)
    results = step3_train(models, data, args)
    figure(results, args.figures_dir, args)
    return {"padding_change": moved, "accuracy": {k: v[0] for k, v in results.items()},
            "padding_curve": {k: v[1] for k, v in results.items()}}


if __name__ == "__main__":
    main()
