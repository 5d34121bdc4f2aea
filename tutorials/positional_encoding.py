"""Tutorial: the sinusoidal positional encoding, and why p_i · p_j depends only on |i - j|.

Run:  python tutorials/positional_encoding.py      (`--quick`: fewer positions)

The transformer adds to the embedding of the token at position i the vector p_i (d entries,
keras_seq's `SinusoidalPositionalEncoding`, Vaswani et al., 2017):

    p_{i, 2k}   = sin(ω_k i),    p_{i, 2k+1} = cos(ω_k i),    ω_k = 1 / 10000^{2k/d}

1. The matrix P (rows = positions i, columns = the d features; the frequency ω_k falls from 1
   to 1/10000 along the columns): `positional_encoding_matrix.png`.
2. The dot product of two positions. With sin a sin b + cos a cos b = cos(a - b):

       p_i · p_j = Σ_k cos(ω_k (i - j))

   a function of i - j only, and even (cos(-a) = cos a), so of |i - j| only; its largest
   value is p_i · p_i = d / 2 for every i. The check prints the largest deviation of P Pᵀ
   from that formula: `positional_encoding_dot_products.png`.
3. A shift is a fixed linear map: p_{i+Δ} = R_Δ p_i with R_Δ block-diagonal rotations by ω_k Δ,
   the same for every i (so attention can learn relative offsets).
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_seq.layers import SinusoidalPositionalEncoding  # noqa: E402

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "figures"


def encoding(n, d):
    """P (n, d) from keras_seq's layer (computed in float32), as float64 for the sums below."""
    layer = SinusoidalPositionalEncoding()
    return np.asarray(layer(np.zeros((1, n, d), "float32")), "float64")[0]


def frequencies(d):
    return 1.0 / 10000.0 ** (np.arange(0, d, 2) / d)  # ω_k, k = 0 .. d/2 - 1


def step1_matrix(P, figures):
    n, d = P.shape
    print("\n== 1. The matrix P: rows = positions, columns = features ==")
    omega = frequencies(d)
    manual = np.zeros((n, d))
    manual[:, 0::2] = np.sin(np.arange(n)[:, None] * omega)
    manual[:, 1::2] = np.cos(np.arange(n)[:, None] * omega)
    diff = np.abs(P - manual).max()
    print(f"n = {n} positions, d = {d}; ω_0 = {omega[0]:g} (period {2 * np.pi:.1f} positions), "
          f"ω_{d // 2 - 1} = {omega[-1]:.2e} (period {2 * np.pi / omega[-1]:,.0f} positions)")
    print(f"SinusoidalPositionalEncoding vs sin/cos written out: max abs difference {diff:.1e} "
          "(the layer computes in float32)")
    assert diff < 1e-5
    print(f"p_1 (first 6 features) = {np.round(P[1, :6], 3).tolist()}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    image = ax.imshow(P, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("feature (columns 2k, 2k+1 = sin, cos of frequency ω_k; ω_k falls to the right)")
    ax.set_ylabel("position i")
    ax.set_title(f"sinusoidal positional encoding P ({n} positions x d = {d})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    path = pathlib.Path(figures) / "positional_encoding_matrix.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}")


def step2_dot_products(P, figures):
    n, d = P.shape
    print("\n== 2. p_i · p_j = Σ_k cos(ω_k (i - j)): a function of |i - j| only ==")
    gram = P @ P.T  # (n, n)
    offsets = np.arange(n)
    profile = np.cos(offsets[:, None] * frequencies(d)).sum(axis=1)  # f(|i - j|)
    predicted = profile[np.abs(offsets[:, None] - offsets[None, :])]
    deviation = np.abs(gram - predicted).max()
    print(f"max over all (i, j) of |p_i · p_j - f(|i - j|)| = {deviation:.1e} "
          f"(values up to d / 2 = {d / 2:g}; float32 rounding of P)")
    assert deviation < 1e-4
    # The same offset gives the same dot product wherever it sits:
    for delta in (1, 5, 20):
        values = np.diagonal(gram, offset=delta)
        print(f"|i - j| = {delta:2d}: p_i · p_j over all {len(values)} pairs in "
              f"[{values.min():.6f}, {values.max():.6f}] (f = {profile[delta]:.6f})")
    diag = np.diagonal(gram)
    print(f"‖p_i‖² = {diag.min():.6f} .. {diag.max():.6f} for every i (d / 2 = {d / 2:g})")
    near = profile[:11]
    rises = [k for k in range(1, 11) if near[k] > near[k - 1]]
    print("f(0..10) = " + ", ".join(f"{v:.2f}" for v in near) + "; f(0) = d / 2 is the largest"
          + (f"; it falls overall but not monotonically (f rises at |i - j| = {rises})"
             if rises else "; it falls monotonically up to 10"))
    assert profile.max() == profile[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    image = axes[0].imshow(gram, cmap="viridis", interpolation="nearest")
    axes[0].set_title("P Pᵀ: p_i · p_j (constant along each diagonal)")
    axes[0].set_xlabel("position j")
    axes[0].set_ylabel("position i")
    fig.colorbar(image, ax=axes[0])
    for i in (0, n // 4, n // 2):
        axes[1].plot(offsets - i, gram[i], ".", ms=4, label=f"p_{i} · p_j (dots)")
    axes[1].plot(offsets, profile, "k-", lw=1, label="f(|i - j|) = Σ_k cos(ω_k (i - j))")
    axes[1].plot(-offsets, profile, "k-", lw=1)
    axes[1].set_xlabel("j - i")
    axes[1].set_title("the rows of P Pᵀ, shifted by i, fall on one curve")
    axes[1].legend(fontsize=8)
    axes[1].grid(True, alpha=0.3)
    fig.tight_layout()
    path = pathlib.Path(figures) / "positional_encoding_dot_products.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}")
    return deviation


def step3_shift(P):
    n, d = P.shape
    print("\n== 3. A shift by Δ is one linear map R_Δ (rotations by ω_k Δ) for every position ==")
    for delta in (1, 7):
        R = np.zeros((d, d))
        for k, w in enumerate(frequencies(d)):
            c, s = np.cos(w * delta), np.sin(w * delta)
            # [sin(ω(i+Δ)), cos(ω(i+Δ))] = [[c, s], [-s, c]] [sin(ωi), cos(ωi)]
            R[2 * k: 2 * k + 2, 2 * k: 2 * k + 2] = [[c, s], [-s, c]]
        error = np.abs(P[delta:] - P[:-delta] @ R.T).max()
        print(f"Δ = {delta}: max over i of |p_(i+Δ) - R_Δ p_i| = {error:.1e}")
        assert error < 1e-5


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer positions")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args(argv)
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    n, d = (64, 64) if args.quick else (128, 128)
    P = encoding(n, d)
    step1_matrix(P, args.figures_dir)
    deviation = step2_dot_products(P, args.figures_dir)
    step3_shift(P)
    return {"dot_product_deviation": deviation}


if __name__ == "__main__":
    main()
