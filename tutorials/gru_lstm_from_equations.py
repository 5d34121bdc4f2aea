"""Tutorial: the GRU and the LSTM from their gate equations, and how far their gradients reach.

Run:  python tutorials/gru_lstm_from_equations.py     (`--quick`: shorter sequences)

1. The GRU written from its equations in NumPy (σ = sigmoid, ⊙ = element-wise product):

       z_t = σ(x_t W_z + h_{t-1} U_z + b_z)                 update gate
       r_t = σ(x_t W_r + h_{t-1} U_r + b_r)                 reset gate
       h̃_t = tanh(x_t W_h + (r_t ⊙ h_{t-1}) U_h + b_h)       candidate (reset before U_h)
       h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t

   checked against Keras's `GRUCell(reset_after=False)` with the same weights, and the variant
   Keras uses by default (`reset_after=True`, the cuDNN form, with two biases):

       h̃_t = tanh(x_t W_h + b_h^x + r_t ⊙ (h_{t-1} U_h + b_h^h))

   Keras keeps the gates side by side in one kernel in the order [z | r | h].
2. The LSTM from its equations, against Keras's `LSTMCell` (gate order [i | f | c | o]):

       i_t = σ(x_t W_i + h_{t-1} U_i + b_i)    input gate
       f_t = σ(x_t W_f + h_{t-1} U_f + b_f)    forget gate
       o_t = σ(x_t W_o + h_{t-1} U_o + b_o)    output gate
       c̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)  candidate memory
       c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t          memory cell
       h_t = o_t ⊙ tanh(c_t)

3. How far back the gradient reaches: ‖∂L/∂x_t‖ for L = uᵀ h_T (u a random direction, so its
   mean square is ‖∂h_T/∂x_t‖²) for Elman vs GRU vs LSTM, at Keras's initialization and with the
   gates set to remember (GRU b_z = 3, LSTM b_f = 3): `gradient_reach.png`.
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
TOLERANCE = 1e-5  # float32


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def gru_step(x, h, kernel, recurrent_kernel, bias, reset_after):
    """One GRU step from the equations; weights in Keras's layout ([z | r | h] columns)."""
    W_z, W_r, W_h = np.split(kernel, 3, axis=1)
    U_z, U_r, U_h = np.split(recurrent_kernel, 3, axis=1)
    if reset_after:  # bias (2, 3u): row 0 is added to x W, row 1 to h U
        (bx_z, bx_r, bx_h), (bh_z, bh_r, bh_h) = (np.split(b, 3) for b in bias)
    else:  # bias (3u,): one bias per gate
        (bx_z, bx_r, bx_h), (bh_z, bh_r, bh_h) = np.split(bias, 3), (0.0, 0.0, 0.0)
    z = sigmoid(x @ W_z + bx_z + h @ U_z + bh_z)
    r = sigmoid(x @ W_r + bx_r + h @ U_r + bh_r)
    if reset_after:
        candidate = np.tanh(x @ W_h + bx_h + r * (h @ U_h + bh_h))
    else:
        candidate = np.tanh(x @ W_h + (r * h) @ U_h + bx_h)
    return z * h + (1.0 - z) * candidate


def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """One LSTM step from the equations; weights in Keras's layout ([i | f | c | o])."""
    a = x @ kernel + h @ recurrent_kernel + bias
    a_i, a_f, a_c, a_o = np.split(a, 4, axis=-1)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
    c = f * c + i * np.tanh(a_c)
    return o * np.tanh(c), c


def randomize(layer, rng):
    """Random weights everywhere (biases too, so the bias layout is checked as well)."""
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    return [np.asarray(w, "float64") for w in layer.weights]


def step1_gru(T, rng):
    print("\n== 1. GRU from its equations vs keras.layers.GRUCell ==")
    x_seq = rng.normal(size=(3, T, 5)).astype("float32")
    worst = 0.0
    for reset_after in (False, True):
        cell = keras.layers.GRUCell(4, reset_after=reset_after)
        cell.build((None, 5))
        kernel, recurrent, bias = randomize(cell, rng)
        h0 = rng.normal(size=(3, 4)).astype("float32")
        mine = gru_step(x_seq[:, 0].astype("float64"), h0, kernel, recurrent, bias, reset_after)
        theirs = np.asarray(cell(x_seq[:, 0], [h0])[0])
        d_step = np.abs(mine - theirs).max()
        layer = keras.layers.GRU(4, reset_after=reset_after, return_sequences=True)
        layer.build(x_seq.shape)
        layer.set_weights(cell.get_weights())
        h = np.zeros((3, 4))
        ours = []
        for t in range(T):
            h = gru_step(x_seq[:, t].astype("float64"), h, kernel, recurrent, bias, reset_after)
            ours.append(h)
        d_seq = np.abs(np.stack(ours, 1) - np.asarray(layer(x_seq))).max()
        worst = max(worst, d_step, d_seq)
        print(f"reset_after={reset_after!s:5}: bias shape {bias.shape}; one step: max abs diff "
              f"{d_step:.1e}; GRU over T={T} steps: max abs diff {d_seq:.1e}")
    print(f"GRU check: max abs difference {worst:.1e} (< {TOLERANCE:g})")
    assert worst < TOLERANCE
    return worst


def step2_lstm(T, rng):
    print("\n== 2. LSTM from its equations vs keras.layers.LSTMCell ==")
    x_seq = rng.normal(size=(3, T, 5)).astype("float32")
    cell = keras.layers.LSTMCell(4)
    cell.build((None, 5))
    kernel, recurrent, bias = randomize(cell, rng)
    h0, c0 = (rng.normal(size=(3, 4)).astype("float32") for _ in range(2))
    h_mine, c_mine = lstm_step(x_seq[:, 0].astype("float64"), h0, c0, kernel, recurrent, bias)
    _, (h_keras, c_keras) = cell(x_seq[:, 0], [h0, c0])
    d_step = max(np.abs(h_mine - np.asarray(h_keras)).max(),
                 np.abs(c_mine - np.asarray(c_keras)).max())
    layer = keras.layers.LSTM(4, return_sequences=True)
    layer.build(x_seq.shape)
    layer.set_weights(cell.get_weights())
    h, c, ours = np.zeros((3, 4)), np.zeros((3, 4)), []
    for t in range(T):
        h, c = lstm_step(x_seq[:, t].astype("float64"), h, c, kernel, recurrent, bias)
        ours.append(h)
    d_seq = np.abs(np.stack(ours, 1) - np.asarray(layer(x_seq))).max()
    worst = max(d_step, d_seq)
    print(f"kernel {kernel.shape}, recurrent kernel {recurrent.shape}, bias {bias.shape}: "
          f"one step (h and c): max abs diff {d_step:.1e}; LSTM over T={T} steps: {d_seq:.1e}")
    print(f"LSTM check: max abs difference {worst:.1e} (< {TOLERANCE:g})")
    assert worst < TOLERANCE
    # Why the memory cell helps: along the path c_{t-1} -> c_t the derivative is just f_t.
    print("Along the memory path ∂c_t/∂c_{t-1} = diag(f_t) (plus terms through h_{t-1}): "
          "with f_t ≈ 1 the error flows back almost unchanged.")
    return worst


def reach(kind, T, units, batch, remember, seed):
    """RMS over a batch of ‖∂(uᵀ h_T)/∂x_t‖ for t = 1..T, at initialization (seeded)."""
    keras.utils.set_random_seed(seed)
    if kind == "elman":
        layer = keras.layers.RNN(ElmanRNNCell(units))
    elif kind == "gru":
        layer = keras.layers.GRU(units)
    else:
        layer = keras.layers.LSTM(units)
    x = tf.constant(np.random.default_rng(seed).normal(size=(batch, T, 8)).astype("float32"))
    layer.build(x.shape)
    if remember and kind != "elman":
        bias = np.asarray(layer.cell.bias).copy()
        if kind == "gru":  # b_z = 3: z ≈ 0.95, h_t ≈ h_{t-1} (update gate keeps the state)
            bias[..., :units] = 3.0
        else:  # b_f = 3: f ≈ 0.95, c_t ≈ c_{t-1} (forget gate keeps the memory)
            bias[units: 2 * units] = 3.0
        layer.cell.bias.assign(bias)
    u = tf.constant(np.random.default_rng(seed + 1).normal(size=(batch, units)), "float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(u * layer(x))
    grad = tape.gradient(loss, x).numpy()  # (B, T, d)
    return np.sqrt((np.linalg.norm(grad, axis=-1) ** 2).mean(axis=0))


def step3_reach(T, figures):
    print("\n== 3. How far back the gradient reaches: ‖∂L/∂x_t‖, L = uᵀ h_T ==")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    colors = {"elman": "C0", "gru": "C2", "lstm": "C3"}
    names = {"elman": "Elman (tanh)", "gru": "GRU", "lstm": "LSTM"}
    t_axis = np.arange(1, T + 1)
    results = {}
    for ax, remember, title in ((axes[0], False, "Keras initialization (LSTM b_f = 1)"),
                                (axes[1], True, "gates set to remember: GRU b_z = 3, "
                                                "LSTM b_f = 3")):
        for kind in ("elman", "gru", "lstm"):
            norms = reach(kind, T, units=32, batch=32, remember=remember, seed=0)
            results[(kind, remember)] = norms
            label = names[kind] + (" (no gates: as on the left)"
                                   if remember and kind == "elman" else "")
            ax.semilogy(t_axis, np.maximum(norms, 1e-30), color=colors[kind], label=label)
            print(f"{'remember' if remember else 'init    '} {names[kind]:13s}: "
                  f"‖∂L/∂x_T‖ = {norms[-1]:.2e}, ‖∂L/∂x_1‖ = {norms[0]:.2e}, ratio x_1/x_T "
                  f"= {norms[0] / norms[-1]:.1e}")
        ax.set_title(title)
        ax.set_xlabel(f"t (the loss reads h_T, T = {T})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("RMS over 32 sequences of ‖∂L/∂x_t‖")
    fig.tight_layout()
    path = pathlib.Path(figures) / "gradient_reach.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter sequences")
    parser.add_argument("--figures-dir", default=str(FIGURES),
                        help="where the figures go (default tutorials/figures)")
    args = parser.parse_args(argv)
    pathlib.Path(args.figures_dir).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    gru = step1_gru(6 if args.quick else 20, rng)
    lstm = step2_lstm(6 if args.quick else 20, rng)
    reach_norms = step3_reach(40 if args.quick else 100, args.figures_dir)
    return {"gru_difference": gru, "lstm_difference": lstm, "reach": reach_norms}


if __name__ == "__main__":
    main()
