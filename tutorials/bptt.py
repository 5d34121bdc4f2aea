"""Tutorial: backpropagation through time (BPTT), written from the lecture's recursion.

Run:  python tutorials/bptt.py            (a few seconds; `--quick` uses a shorter sequence)

A small Elman RNN (keras_seq's `ElmanRNNCell`, in float64) with the lecture's notation

    h_t = f(x_t, h_{t-1}, w_h) = tanh(U x_t + V h_{t-1} + b_h)      w_h = (U, V, b_h)
    o_t = g(h_t, w_o)          = W h_t + b_o                         w_o = (W, b_o)
    L   = 1/T Σ_t ℓ(y_t, o_t),   ℓ(y, o) = ½ ‖o - y‖²

and the gradient of the averaged loss with respect to the hidden weights w_h:

    ∂L/∂w_h     = 1/T Σ_t ∂ℓ/∂o_t · ∂g/∂h_t · ∂h_t/∂w_h
    ∂h_t/∂w_h   = ∂f(x_t, h_{t-1}, w_h)/∂w_h + ∂f(x_t, h_{t-1}, w_h)/∂h_{t-1} · ∂h_{t-1}/∂w_h

The steps:
1. The forward pass and the averaged loss, by hand (NumPy) and by keras_seq (the same numbers).
2. ∂h_t/∂w_h step by step from the recursion, and the same thing unrolled into the lecture's sum
   Σ_i (Π_{j>i} ∂f_j/∂h_{j-1}) ∂f_i/∂w_h.
3. ∂L/∂w_h and ∂L/∂w_o from it, against `tf.GradientTape` on the keras_seq model, and against
   the usual backward (reverse) pass.
4. Why the sum is truncated in practice: the size of each term of the sum, and the error of
   truncated BPTT, for a small and a large recurrent gain. Figure: `bptt_truncation.png`.
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

from keras_seq.layers import ElmanRNNCell  # noqa: E402

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "figures"
M, D, N = 4, 3, 2  # hidden units m, input size d, output size n


def make_problem(T, gain, seed):
    """Random inputs, targets and weights; V is orthogonal times `gain`."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(M, M)))
    return dict(
        x=rng.normal(size=(T, D)), y=rng.normal(size=(T, N)),
        U=rng.normal(scale=0.5, size=(M, D)), V=gain * q, b_h=rng.normal(scale=0.1, size=M),
        W=rng.normal(scale=0.5, size=(N, M)), b_o=rng.normal(scale=0.1, size=N))


def forward(p):
    """h_t = tanh(U x_t + V h_{t-1} + b_h), o_t = W h_t + b_o, h_0 = 0. Returns hs (T+1, m), os."""
    hs, os_ = [np.zeros(M)], []
    for x in p["x"]:
        hs.append(np.tanh(p["U"] @ x + p["V"] @ hs[-1] + p["b_h"]))
        os_.append(p["W"] @ hs[-1] + p["b_o"])
    return np.array(hs), np.array(os_)


def partials(p, hs, t):
    """The two partial derivatives of f at step t (1-based), as matrices.

    ∂f/∂w_h: (m, P) with w_h flattened as [U (m*d), V (m*m), b_h (m)];
    ∂f/∂h_{t-1} = diag(1 - h_t²) V: (m, m).
    """
    diag = 1.0 - hs[t] ** 2  # tanh'(a_t)
    x, h_prev = p["x"][t - 1], hs[t - 1]
    eye = np.eye(M)
    da = np.concatenate([np.kron(eye, x[None]),       # ∂a_t/∂U[i, j] = δ_i x_j
                         np.kron(eye, h_prev[None]),  # ∂a_t/∂V[i, j] = δ_i h_{t-1, j}
                         eye], axis=1)                 # ∂a_t/∂b_h[i] = δ_i
    return diag[:, None] * da, diag[:, None] * p["V"]


def gradient_by_recursion(p, truncate=None):
    """∂L/∂w_h and ∂L/∂w_o from ∂h_t/∂w_h = ∂f/∂w_h + ∂f/∂h_{t-1} ∂h_{t-1}/∂w_h.

    With `truncate=k` the sum behind the recursion keeps only its last k terms (truncated
    BPTT: the gradient flows back at most k steps).
    """
    hs, os_ = forward(p)
    T = len(p["x"])
    P = M * D + M * M + M
    dh_dw = np.zeros((M, P))  # ∂h_0/∂w_h = 0
    terms = []  # for truncation: the terms (Π ∂f_j/∂h_{j-1}) ∂f_i/∂w_h still alive
    grad_h = np.zeros(P)
    grad_W, grad_bo = np.zeros((N, M)), np.zeros(N)
    for t in range(1, T + 1):
        df_dw, df_dh = partials(p, hs, t)
        if truncate is None:
            dh_dw = df_dw + df_dh @ dh_dw  # the lecture's recursion, one step
        else:
            terms = [df_dh @ term for term in terms][-(truncate - 1):] if truncate > 1 else []
            terms.append(df_dw)
            dh_dw = sum(terms)
        dl_do = os_[t - 1] - p["y"][t - 1]  # ∂ℓ/∂o_t for ℓ = ½‖o - y‖²
        grad_h += dl_do @ p["W"] @ dh_dw / T  # ∂ℓ/∂o_t · ∂g/∂h_t · ∂h_t/∂w_h
        grad_W += np.outer(dl_do, hs[t]) / T
        grad_bo += dl_do / T
    U, V, b = np.split(grad_h, [M * D, M * D + M * M])
    return dict(U=U.reshape(M, D), V=V.reshape(M, M), b_h=b, W=grad_W, b_o=grad_bo), dh_dw


def unrolled_dh_dw(p, t):
    """∂h_t/∂w_h = Σ_{i=1..t} (Π_{j=i+1..t} ∂f_j/∂h_{j-1}) ∂f_i/∂w_h, and each term's norm."""
    hs, _ = forward(p)
    total, norms = 0.0, []
    for i in range(1, t + 1):
        term = partials(p, hs, i)[0]
        for j in range(i + 1, t + 1):
            term = partials(p, hs, j)[1] @ term
        total = total + term
        norms.append(np.linalg.norm(term))
    return total, np.array(norms)


def gradient_by_backward_pass(p):
    """The usual reverse-mode BPTT: δ_t = ∂L/∂h_t carried from t = T down to 1."""
    hs, os_ = forward(p)
    T = len(p["x"])
    g = {k: np.zeros_like(p[k]) for k in ("U", "V", "b_h", "W", "b_o")}
    delta_next = np.zeros(M)  # ∂L/∂a_{t+1}, zero after the end
    for t in range(T, 0, -1):
        dl_do = (os_[t - 1] - p["y"][t - 1]) / T
        g["W"] += np.outer(dl_do, hs[t])
        g["b_o"] += dl_do
        dl_dh = p["W"].T @ dl_do + p["V"].T @ delta_next  # from o_t and from h_{t+1}
        delta = (1.0 - hs[t] ** 2) * dl_dh  # ∂L/∂a_t
        g["U"] += np.outer(delta, p["x"][t - 1])
        g["V"] += np.outer(delta, hs[t - 1])
        g["b_h"] += delta
        delta_next = delta
    return g


def keras_model(p):
    """keras_seq's ElmanRNNCell in keras.layers.RNN, float64, with the weights of `p`."""
    cell = ElmanRNNCell(M, output_units=N, dtype="float64")
    rnn = keras.layers.RNN(cell, return_sequences=True, dtype="float64")
    rnn.build((1, None, D))
    for name in ("U", "V", "b_h", "W", "b_o"):
        getattr(cell, name).assign(p[name])
    return rnn, cell


def step1(p):
    print("\n== 1. Forward pass and the averaged loss L = 1/T Σ_t ½‖o_t - y_t‖² ==")
    hs, os_ = forward(p)
    losses = 0.5 * ((os_ - p["y"]) ** 2).sum(axis=1)
    T = len(p["x"])
    print(f"T = {T}; per-step losses ℓ_t = {np.round(losses, 3).tolist()}")
    print(f"L (NumPy)    = {losses.mean():.12f}")
    rnn, _ = keras_model(p)
    o_keras = np.asarray(rnn(p["x"][None]))[0]
    loss_keras = float(np.mean(0.5 * ((o_keras - p["y"]) ** 2).sum(axis=1)))
    print(f"L (keras_seq) = {loss_keras:.12f}  "
          f"(max |o_t difference| {np.abs(o_keras - os_).max():.1e})")
    assert abs(loss_keras - losses.mean()) < 1e-12


def step2(p):
    print("\n== 2. ∂h_t/∂w_h step by step: ∂f/∂w_h + ∂f/∂h_{t-1} · ∂h_{t-1}/∂w_h ==")
    T = len(p["x"])
    recursive = gradient_by_recursion(p)[1]
    unrolled, norms = unrolled_dh_dw(p, T)
    diff = np.abs(recursive - unrolled).max()
    print(f"∂h_T/∂w_h is a {recursive.shape[0]} x {recursive.shape[1]} matrix (m hidden units x "
          f"{recursive.shape[1]} weights in U, V, b_h)")
    print(f"recursion vs the unrolled sum Σ_i (Π_j ∂f_j/∂h_j-1) ∂f_i/∂w_h: max abs difference "
          f"{diff:.1e}")
    assert diff < 1e-12
    print("norm of the sum's term from step i (how much step i still counts at step T):")
    for i in (T, T - 1, T - 2, max(1, T // 2), 1):
        print(f"  i = {i:2d} (T - i = {T - i:2d}): {norms[i - 1]:.2e}")


def step3(p):
    print("\n== 3. ∂L/∂w against tf.GradientTape and against the backward pass ==")
    grads, _ = gradient_by_recursion(p)
    rnn, cell = keras_model(p)
    with tf.GradientTape() as tape:
        o = rnn(p["x"][None])[0]
        loss = tf.reduce_mean(0.5 * tf.reduce_sum((o - p["y"]) ** 2, axis=-1))
    names = ("U", "V", "b_h", "W", "b_o")
    tape_grads = tape.gradient(loss, [getattr(cell, n) for n in names])
    backward = gradient_by_backward_pass(p)
    worst_tape = worst_backward = 0.0
    for name, tg in zip(names, tape_grads):
        d_tape = np.abs(grads[name] - np.asarray(tg)).max()
        d_back = np.abs(grads[name] - backward[name]).max()
        worst_tape, worst_backward = max(worst_tape, d_tape), max(worst_backward, d_back)
        print(f"∂L/∂{name:3s}: max |recursion - GradientTape| = {d_tape:.1e}, "
              f"max |recursion - backward pass| = {d_back:.1e}, "
              f"largest entry {np.abs(grads[name]).max():.3f}")
    print(f"BPTT check: max abs difference to tf.GradientTape = {worst_tape:.1e} (float64)")
    assert worst_tape < 1e-10 and worst_backward < 1e-10
    return worst_tape


def step4(T, figures):
    print("\n== 4. Truncated BPTT: keep only the last k terms of the sum ==")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for gain, color in ((0.8, "C0"), (1.6, "C3")):
        p = make_problem(T, gain, seed=1)
        full = gradient_by_recursion(p)[0]
        flat = np.concatenate([full[k].ravel() for k in ("U", "V", "b_h")])
        _, norms = unrolled_dh_dw(p, T)
        ks = np.arange(1, T + 1)
        errors = []
        for k in ks:
            cut = gradient_by_recursion(p, truncate=int(k))[0]
            cut = np.concatenate([cut[n].ravel() for n in ("U", "V", "b_h")])
            errors.append(np.linalg.norm(cut - flat) / np.linalg.norm(flat))
        errors = np.array(errors)
        assert errors[-1] < 1e-12  # keeping all T terms is the full gradient
        print(f"recurrent gain {gain}: relative error of ∂L/∂w_h truncated to k steps: "
              + ", ".join(f"k={k}: {errors[k - 1]:.1e}" for k in (1, 2, 4, 8) if k <= T))
        axes[0].semilogy(T - np.arange(1, T + 1), norms, "o-", ms=3, color=color,
                         label=f"recurrent gain {gain} (V = gain x orthogonal)")
        axes[1].semilogy(ks[:-1], errors[:-1], "o-", ms=3, color=color,  # k = T: error 0
                         label=f"recurrent gain {gain}")
    axes[0].set_title(f"‖(Π ∂f_j/∂h_j-1) ∂f_i/∂w_h‖: term of step i in ∂h_T/∂w_h (T={T})")
    axes[0].set_xlabel("T - i (steps back in time)")
    axes[1].set_title("truncated BPTT: ‖∇_k - ∇‖ / ‖∇‖ for ∂L/∂w_h")
    axes[1].set_xlabel(f"k (terms kept; k = T = {T} is exact)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = pathlib.Path(figures) / "bptt_truncation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a shorter sequence (T=12)")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args(argv)
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    T = 12 if args.quick else 30
    p = make_problem(T, gain=1.0, seed=0)
    step1(p)
    step2(p)
    worst = step3(p)
    step4(T, args.figures_dir)
    return {"tape_difference": worst}


if __name__ == "__main__":
    main()
