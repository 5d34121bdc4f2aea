"""Tutorial: attention as kernel regression (Nadaraya-Watson), then learned attention scores.

Run:  python tutorials/attention_kernel_regression.py     (`--quick`: fewer training steps)

Data: n noisy samples (x_i, y_i) of f(x) = 2 sin(x) + x^0.8 on [0, 5]. Every model predicts

    f̂(q) = Σ_i α_i(q) y_i,      α(q) = softmax_i(a(q, x_i))

— attention with the query q, the keys x_i and the values y_i; only the score a differs:

1. Average pooling, a = 0: f̂(q) = mean(y), the same for every q.
2. Nadaraya-Watson with a Gaussian kernel, a(q, k) = -(q - k)² / 2: no parameters at all, the
   weights come from comparing the query with each key (Nadaraya 1964, Watson 1964).
3. Parametric scores, trained on the same data by gradient descent (leave-one-out: a training
   point never attends to itself, else the best fit is to copy y_i):
   a. the Gaussian with a learned width w:   a(q, k) = -((q - k) w)² / 2
   b. additive (Bahdanau) attention:          a(q, k) = w_vᵀ tanh(W_q q + W_k k)
   c. scaled dot-product:                     a(q, k) = (q W_q + b_q)·(k W_k + b_k) / √d
      — on scalar inputs this is c(q)·k + const(q): the weights are monotone in k and cannot
      pick out the keys near q;
   d. scaled dot-product on learned features φ(x) = tanh(x A + c): now it can.
   (b-d use keras_seq's `BahdanauAttention` and `MultiHeadAttention` for the weights.)

The errors (MSE against the noise-free f on a test grid) are printed; the figures are
`kernel_regression_weights.png` (α for test queries x training keys) and
`kernel_regression_fits.png` (the fitted curves).
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

from keras_seq.layers import BahdanauAttention, MultiHeadAttention  # noqa: E402

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "figures"


def truth(x):
    return 2 * np.sin(x) + x ** 0.8


def make_data(n_train, seed=0):
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 5, n_train)).astype("float32")
    y_train = (truth(x_train) + rng.normal(0, 0.5, n_train)).astype("float32")
    x_test = np.linspace(0, 5, 50, dtype="float32")
    return x_train, y_train, x_test


def softmax(scores, mask=None):
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


class GaussianScore(keras.layers.Layer):
    """a(q, k) = -((q - k) w)² / 2 with one learned width w (w = 1: Nadaraya-Watson)."""

    def build(self, _=None):
        self.w = self.add_weight(name="w", shape=(), initializer="ones")

    def call(self, queries, keys, mask):
        scores = -0.5 * ((queries[:, None] - keys[None, :]) * self.w) ** 2  # (Q, K)
        return tf.nn.softmax(tf.where(mask, scores, -1e9), axis=-1)


class AdditiveScore(keras.layers.Layer):
    """α from keras_seq's BahdanauAttention: one query per batch row, all keys in each row."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.attention = BahdanauAttention(units)

    def call(self, queries, keys, mask):
        Q = tf.shape(queries)[0]
        tiled = tf.tile(keys[None, :, None], [Q, 1, 1])  # (Q, K, 1)
        _, alpha = self.attention(queries[:, None], tiled, value_mask=mask,
                                  return_attention_scores=True)
        return alpha  # (Q, K)


class DotProductScore(keras.layers.Layer):
    """α from keras_seq's MultiHeadAttention (1 head): softmax((q W_q + b_q)(k W_k + b_k)ᵀ/√d).

    With `features` > 0 the query and key first go through φ(x) = tanh(x A + c).
    """

    def __init__(self, key_dim, features=0, **kwargs):
        super().__init__(**kwargs)
        self.embed = keras.layers.Dense(features, activation="tanh") if features else None
        self.attention = MultiHeadAttention(num_heads=1, key_dim=key_dim)

    def call(self, queries, keys, mask):
        Q = tf.shape(queries)[0]
        q, k = queries[:, None, None], tf.tile(keys[None, :, None], [Q, 1, 1])  # (Q,1,1), (Q,K,1)
        if self.embed is not None:
            q, k = self.embed(q), self.embed(k)
        _, weights = self.attention(q, k, value_mask=mask, return_attention_scores=True)
        return weights[:, 0, 0]  # (Q, 1 head, 1 query, K) -> (Q, K)


def train(layer, x_train, y_train, steps, learning_rate):
    """Full-batch Adam on the leave-one-out MSE: f̂(x_i) from the other n - 1 points."""
    x = tf.constant(x_train)
    y = tf.constant(y_train)
    loo = tf.constant(~np.eye(len(x_train), dtype=bool))
    layer(x, x, loo)  # build
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(layer.trainable_variables)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.linalg.matvec(layer(x, x, loo), y) - y) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        # MultiHeadAttention's value/output projections are unused here (only α is): skip them.
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, layer.trainable_variables)
                                   if g is not None])
        return loss

    for _ in range(steps):
        loss = step()
    return float(loss)


def step1_nonparametric(x_train, y_train, x_test):
    print("\n== 1. Average pooling and Nadaraya-Watson (no parameters) ==")
    mean_pred = np.full_like(x_test, y_train.mean())
    # The query compared with every key: a(q, k) = -(q - k)²/2, α = softmax over the keys.
    alpha = softmax(-0.5 * (x_test[:, None] - x_train[None, :]) ** 2)
    nw_pred = alpha @ y_train
    errors = {"average pooling": float(np.mean((mean_pred - truth(x_test)) ** 2)),
              "Nadaraya-Watson (Gaussian)": float(np.mean((nw_pred - truth(x_test)) ** 2))}
    q = len(x_test) // 2
    top = np.argsort(alpha[q])[::-1][:3]
    print(f"query q = {x_test[q]:.2f}: largest weights on keys "
          + ", ".join(f"x = {x_train[i]:.2f} (α = {alpha[q, i]:.3f})" for i in top))
    print(f"each row of α sums to 1: max |Σ_i α_i - 1| = {np.abs(alpha.sum(1) - 1).max():.1e}")
    for name, err in errors.items():
        print(f"{name:28s}: test MSE vs f = {err:.4f}")
    return {"average pooling": (mean_pred, np.full((len(x_test), len(x_train)),
                                                   1 / len(x_train))),
            "Nadaraya-Watson (Gaussian)": (nw_pred, alpha)}, errors


def step2_parametric(x_train, y_train, x_test, steps):
    print("\n== 2. Learned scores, trained on the same data (leave-one-out MSE) ==")
    keras.utils.set_random_seed(0)
    models = {
        "Gaussian, learned width w": (GaussianScore(), 0.05),
        "additive (Bahdanau)": (AdditiveScore(16), 0.02),
        "dot-product on x": (DotProductScore(8), 0.02),
        "dot-product on φ(x)": (DotProductScore(8, features=16), 0.02),
    }
    all_keys = tf.constant(np.ones((len(x_test), len(x_train)), bool))
    results, errors = {}, {}
    for name, (layer, lr) in models.items():
        train_loss = train(layer, x_train, y_train, steps, lr)
        alpha = np.asarray(layer(tf.constant(x_test), tf.constant(x_train), all_keys))
        pred = alpha @ y_train
        errors[name] = float(np.mean((pred - truth(x_test)) ** 2))
        results[name] = (pred, alpha)
        extra = f", w = {float(layer.w):.2f}" if isinstance(layer, GaussianScore) else ""
        print(f"{name:28s}: leave-one-out train MSE {train_loss:.4f}, test MSE vs f = "
              f"{errors[name]:.4f}{extra} ({steps} Adam steps)")
    return results, errors


def figures(x_train, y_train, x_test, results, folder):
    names = list(results)
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(11, 6.5), sharex=True,
                             sharey=True)
    for ax, name in zip(axes.ravel(), names):
        ax.pcolormesh(x_train, x_test, results[name][1], cmap="Reds", shading="nearest",
                      vmin=0)
        ax.set_title(name, fontsize=9)
    axes[0, 0].invert_yaxis()
    for ax in axes[-1]:
        ax.set_xlabel("key x_i (training inputs)")
    for ax in axes[:, 0]:
        ax.set_ylabel("query q (test inputs)")
    fig.suptitle("attention weights α_i(q) = softmax_i a(q, x_i)", fontsize=10)
    fig.tight_layout()
    fig.savefig(pathlib.Path(folder) / "kernel_regression_weights.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x_train, y_train, "o", color="gray", alpha=0.5, ms=4, label="training samples")
    ax.plot(x_test, truth(x_test), "k-", lw=2, label="f(x) = 2 sin x + x^0.8")
    for name in names:
        ax.plot(x_test, results[name][0], lw=1.3, label=name)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    ax.set_title("f̂(q) = Σ_i α_i(q) y_i with different scores a(q, k)")
    fig.tight_layout()
    fig.savefig(pathlib.Path(folder) / "kernel_regression_fits.png", dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer training steps")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args(argv)
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test = make_data(50)
    results, errors = step1_nonparametric(x_train, y_train, x_test)
    learned, learned_errors = step2_parametric(x_train, y_train, x_test,
                                               steps=150 if args.quick else 1000)
    results.update(learned)
    errors.update(learned_errors)
    print("\n== 3. Summary: test MSE against the noise-free f (noise variance 0.25) ==")
    for name, err in sorted(errors.items(), key=lambda kv: kv[1]):
        print(f"{name:28s} {err:.4f}")
    figures(x_train, y_train, x_test, results, args.figures_dir)
    print(f"figures: {pathlib.Path(args.figures_dir) / 'kernel_regression_weights.png'}, "
          f"{pathlib.Path(args.figures_dir) / 'kernel_regression_fits.png'}")
    return errors


if __name__ == "__main__":
    main()
