"""Tutorial: the lecture's RNN worked example, unrolling, backpropagation through time (BPTT), and
gradient flow through time in Elman/SimpleRNN vs GRU vs LSTM (with and without clipping).

Run:  python tutorials/char_rnn_bptt.py            (about 2-4 minutes on 2 CPU cores)
It prints each step and writes two figures:
  tutorials/figures/gradient_flow.png      ‖∂L_T/∂h_t‖ vs t for the four cells, at
                                           initialization and after a short training run
  tutorials/figures/exploding_clipping.png ReLU-Elman with a large recurrent gain: gradient
                                           norms per step, and training with/without clipping
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
# KERAS_SEQ_FIGURES_DIR: write the figures elsewhere (the tests do).
FIGURES = pathlib.Path(os.environ.get("KERAS_SEQ_FIGURES_DIR", ROOT / "tutorials" / "figures"))

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_seq.callbacks.gradient_flow import gradient_flow_through_time  # noqa: E402
from keras_seq.data.char_tokenizer import CharTokenizer  # noqa: E402
from keras_seq.data.sequence_batches import random_sampling_dataset  # noqa: E402
from keras_seq.data.timemachine import load_text  # noqa: E402
from keras_seq.layers import ElmanRNNCell  # noqa: E402
from keras_seq.models.char_language_model import CharLanguageModel  # noqa: E402


def section(title):
    print("\n" + "=" * 78 + f"\n{title}\n" + "=" * 78)


# ---------------------------------------------------------------------------------------------
section("1. The lecture's worked example: one step of an Elman RNN")
# h_t = f(V h_{t-1} + U x_t + b_h),  o_t = g(W h_t + b_o), f = ReLU, g = identity, no biases.
U = np.array([[1, 0], [0, 1], [-1, 0]], "float32")     # m x d = 3 x 2
V = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], "float32")  # m x m
W = np.array([[1, 0, -1]], "float32")                  # n x m = 1 x 3
h_prev = np.array([1, 0, 0], "float32")
x_t = np.array([1, 0], "float32")
a_t = V @ h_prev + U @ x_t
h_t = np.maximum(a_t, 0)
o_t = W @ h_t
print(f"V h_prev = {V @ h_prev},  U x_t = {U @ x_t},  a_t = {a_t}")
print(f"h_t = ReLU(a_t) = {h_t},  o_t = W h_t = {o_t}")
assert h_t.tolist() == [1, 0, 0] and o_t.tolist() == [1]

cell = ElmanRNNCell(3, output_units=1, activation="relu")
cell.build((None, 2))
cell.U.assign(U), cell.V.assign(V), cell.W.assign(W)
cell.b_h.assign(np.zeros(3)), cell.b_o.assign(np.zeros(1))
o_keras, (h_keras,) = cell(x_t[None], [h_prev[None]])
print(f"keras_seq ElmanRNNCell: h_t = {np.asarray(h_keras)[0]}, o_t = {np.asarray(o_keras)[0]}")
np.testing.assert_allclose(np.asarray(h_keras)[0], h_t)
np.testing.assert_allclose(np.asarray(o_keras)[0], o_t)

# ---------------------------------------------------------------------------------------------
section("2. Unrolling: the same cell applied at every step, sharing U, V, W")
xs = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], "float32")
h, hand = h_prev, []
for t, x in enumerate(xs, start=1):
    h = np.maximum(V @ h + U @ x, 0)
    hand.append(W @ h)
    print(f"t={t}: x_t={x}, h_t={h}, o_t={W @ h}")
rnn = keras.layers.RNN(cell, return_sequences=True)
o_seq = np.asarray(rnn(xs[None], initial_state=[h_prev[None]]))[0]
np.testing.assert_allclose(o_seq, np.array(hand), atol=1e-6)
print("keras.layers.RNN(ElmanRNNCell) over the sequence gives the same outputs:", o_seq[:, 0])

# ---------------------------------------------------------------------------------------------
section("3. Backpropagation through time for a loss at the last step")
# L = 1/2 (o_T - y)^2. Going backwards: ∂L/∂h_T = W^T (o_T - y) and
# ∂L/∂h_{t-1} = V^T diag(f'(a_t)) ∂L/∂h_t ; ∂L/∂V = sum_t diag(f'(a_t)) ∂L/∂h_t h_{t-1}^T.
y = 0.5
hs, as_ = [h_prev], []
for x in xs:
    as_.append(V @ hs[-1] + U @ x)
    hs.append(np.maximum(as_[-1], 0))
o_T = W @ hs[-1]
g = W.T @ (o_T - y)
dV = np.zeros_like(V)
grads_h = [g]
for t in range(len(xs), 0, -1):
    delta = (as_[t - 1] > 0) * g          # diag(f'(a_t)) ∂L/∂h_t
    dV += np.outer(delta, hs[t - 1])
    g = V.T @ delta
    grads_h.append(g)
grads_h = grads_h[::-1]   # ∂L/∂h_0 .. ∂L/∂h_T
for t, gh in enumerate(grads_h):
    print(f"∂L/∂h_{t} = {gh}")
Vt = tf.Variable(V)
with tf.GradientTape() as tape:
    h = tf.constant(h_prev[None])
    for x in xs:
        h = tf.nn.relu(h @ tf.transpose(Vt) + x[None] @ U.T)
    loss = 0.5 * tf.reduce_sum((h @ W.T - y) ** 2)
np.testing.assert_allclose(tape.gradient(loss, Vt).numpy(), dV, atol=1e-6)
print(f"∂L/∂V by hand =\n{dV}\n(equals tf.GradientTape's)")

# ---------------------------------------------------------------------------------------------
section("4. Gradient flow through time: Elman / SimpleRNN vs GRU vs LSTM")
text, info = load_text("auto", download=False, log=print)
tokenizer = CharTokenizer("d2l")
ids = tokenizer.tokenize_text(text)
print(f"text: {info['dataset']} ({len(ids):,} characters)")
T = 100
probe = np.stack([ids[i: i + T + 1] for i in range(50_000, 50_000 + 16 * 997, 997)])
train_ds = random_sampling_dataset(ids[:40_000], batch_size=32, num_steps=T, seed=0)
STEPS = int(os.environ.get("TUTORIAL_TRAIN_STEPS", 150))
flows = {}
for cell_name in ("elman", "rnn", "gru", "lstm"):
    keras.utils.set_random_seed(0)
    model = CharLanguageModel(tokenizer.vocabulary_size, cell=cell_name, hidden_dim=64,
                              embedding_dim=16)
    model(probe[:1, :-1])
    at_init = gradient_flow_through_time(model, probe)
    model.compile(keras.optimizers.Adam(3e-3, global_clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(train_ds.repeat(), steps_per_epoch=STEPS, epochs=1, verbose=0,
                     shuffle=False)
    trained = gradient_flow_through_time(model, probe)
    flows[cell_name] = (at_init, trained)
    print(f"{cell_name:>5}: loss after {STEPS} steps {hist.history['loss'][-1]:.3f}; "
          f"‖∂L_T/∂h_1‖/‖∂L_T/∂h_T‖ = {at_init[0] / at_init[-1]:.1e} at init, "
          f"{trained[0] / trained[-1]:.1e} trained")

# ---------------------------------------------------------------------------------------------
print("(Elman and SimpleRNN implement the same equations with the same initializers and seeds, "
      "so their curves coincide: the dashed SimpleRNN line lies on the Elman line.)")

# ---------------------------------------------------------------------------------------------
section("5. Exploding gradients (ReLU Elman, recurrent gain > 1) and clipping by global norm")
gains = (1.0, 1.5, 2.0)
explode = {}
for gain in gains:
    keras.utils.set_random_seed(0)
    m = CharLanguageModel(tokenizer.vocabulary_size, cell="elman", hidden_dim=64, embedding_dim=16,
                          activation="relu")
    m(probe[:1, :-1])
    v = m.rnn_layers[0].cell.V
    v.assign(gain * keras.initializers.Orthogonal(seed=0)(v.shape))
    explode[gain] = gradient_flow_through_time(m, probe)
    print(f"gain {gain}: ‖∂L_T/∂h_1‖/‖∂L_T/∂h_T‖ = {explode[gain][0] / explode[gain][-1]:.2e}")


TRAIN_GAIN, TRAIN_LR, SEEDS = 1.5, 0.5, (0, 1, 2, 3)


def train_curve(clip, seed):
    """100 SGD steps of a ReLU Elman with recurrent gain TRAIN_GAIN; losses and raw grad norms."""
    keras.utils.set_random_seed(seed)
    m = CharLanguageModel(tokenizer.vocabulary_size, cell="elman", hidden_dim=64, embedding_dim=16,
                          activation="relu")
    m(probe[:1, :-1])
    v = m.rnn_layers[0].cell.V
    v.assign(TRAIN_GAIN * keras.initializers.Orthogonal(seed=seed)(v.shape))
    opt = keras.optimizers.SGD(TRAIN_LR, global_clipnorm=clip)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    losses, norms = [], []
    data = random_sampling_dataset(ids[:40_000], batch_size=32, num_steps=T, seed=seed)
    for x, y in data.repeat().take(100):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, m(x, training=True))
        grads = tape.gradient(loss, m.trainable_variables)
        norms.append(float(tf.linalg.global_norm(grads)))
        opt.apply_gradients(zip(grads, m.trainable_variables))
        losses.append(float(loss))
    return np.array(losses), np.array(norms)


curves = {clip: [train_curve(clip, seed) for seed in SEEDS] for clip in (None, 1.0)}
for clip, runs in curves.items():
    diverged = sum(int(not np.isfinite(r[0]).all() or r[0][-1] > 10) for r in runs)
    finals = [f"{r[0][-1]:.2f}" for r in runs]
    print(f"clip={clip}: final losses over seeds {SEEDS}: {finals}; runs that diverged "
          f"(non-finite or > 10): {diverged}/{len(runs)}; largest raw gradient norm "
          f"{max(np.nanmax(r[1]) for r in runs):.1e}")

# ---------------------------------------------------------------------------------------------
FIGURES.mkdir(parents=True, exist_ok=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
colors = {"elman": "C0", "rnn": "C1", "gru": "C2", "lstm": "C3"}
labels = {"elman": "Elman (keras_seq)", "rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}
t_axis = np.arange(1, T + 1)
for ax, which, title in ((axes[0], 0, "at initialization"),
                         (axes[1], 1, f"after {STEPS} training steps")):
    for name, pair in flows.items():
        ax.semilogy(t_axis, np.maximum(pair[which], 1e-30), color=colors[name], label=labels[name],
                    ls="--" if name == "rnn" else "-")
    ax.set_title(f"‖∂L_T/∂h_t‖, T={T}, 64 units, {title}")
    ax.set_xlabel("t (the loss is at step T)")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("gradient norm (log scale; 1e-30 = underflow to 0)")
axes[0].legend()
fig.tight_layout()
fig.savefig(FIGURES / "gradient_flow.png", dpi=110)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for gain, norms in explode.items():
    # Mean factor per step going back in time: < 1 vanishes, > 1 explodes. ReLU passes only
    # the active units, so the recurrent gain where it turns is above 1 (gain 1.0 vanishes).
    factor = (norms[0] / norms[-1]) ** (1 / (T - 1))
    axes[0].semilogy(t_axis, norms, label=f"recurrent gain {gain}: x{factor:.2f} per step back")
axes[0].set_title("ReLU Elman: ‖∂L_T/∂h_t‖ (per-step factor < 1 vanishes, > 1 explodes)")
axes[0].set_xlabel("t")
axes[0].legend()
axes[0].grid(True, which="both", alpha=0.3)
for clip, runs in curves.items():
    for i, (losses, _) in enumerate(runs):
        axes[1].plot(np.arange(1, len(losses) + 1),
                     np.where(np.isfinite(losses), losses, np.nan),
                     color="C3" if clip is None else "C0", alpha=0.8, lw=1,
                     label=None if i else ("no clipping" if clip is None
                                           else f"clip global norm {clip}"))
axes[1].set_title(f"ReLU Elman, gain {TRAIN_GAIN}, SGD lr {TRAIN_LR}: loss, {len(SEEDS)} seeds "
                  "(gaps = NaN)")
axes[1].set_xlabel("training step")
axes[1].set_yscale("log")
axes[1].legend()
axes[1].grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(FIGURES / "exploding_clipping.png", dpi=110)
print(f"\nwrote {FIGURES / 'gradient_flow.png'} and {FIGURES / 'exploding_clipping.png'}")
