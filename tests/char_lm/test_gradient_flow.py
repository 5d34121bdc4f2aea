import numpy as np

from keras_seq.callbacks.gradient_flow import GradientFlowTensorBoard, gradient_flow_through_time
from keras_seq.models.char_language_model import CharLanguageModel


def _direct_elman_gradient_norms(model, ids):
    """‖∂L_T/∂h_t‖ by hand: NumPy forward, then the BPTT recursion of the lecture's Elman cell."""
    cell = model.rnn_layers[0].cell
    U, V, b = (np.asarray(w, "float64") for w in (cell.U, cell.V, cell.b_h))
    Wd, bd = (np.asarray(w, "float64") for w in model.head.weights)
    x, y = ids[:, :-1], ids[:, 1:]
    B, T = x.shape
    onehot = np.eye(model.vocabulary_size)[x]  # one-hot inputs (embedding_dim=None)
    h = np.zeros((B, U.shape[0]))
    hs = []
    for t in range(T):
        h = np.tanh(onehot[:, t] @ U.T + h @ V.T + b)  # h_t = tanh(U x_t + V h_{t-1} + b_h)
        hs.append(h)
    logits = hs[-1] @ Wd + bd
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(B), y[:, -1]] -= 1.0
    g = p / B @ Wd.T  # ∂L_T/∂h_T
    norms = [np.linalg.norm(g)]
    for t in range(T - 1, 0, -1):
        g = (g * (1.0 - hs[t] ** 2)) @ V  # ∂L_T/∂h_{t-1} = (diag(1 - h_t^2) V)^T ∂L_T/∂h_t
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])


def test_gradient_flow_matches_the_direct_bptt_computation():
    model = CharLanguageModel(11, cell="elman", hidden_dim=6, embedding_dim=None)
    ids = np.random.default_rng(1).integers(2, 11, (3, 9))
    model(ids)
    got = gradient_flow_through_time(model, ids)
    want = _direct_elman_gradient_norms(model, ids)
    assert got.shape == (8,)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert got[-1] > 0 and got[0] > 0


def test_callback_writes_one_scalar_per_step(tmp_path):
    import tensorflow as tf

    model = CharLanguageModel(11, cell="gru", hidden_dim=6, embedding_dim=4)
    ids = np.random.default_rng(2).integers(2, 11, (2, 6))
    model(ids)
    cb = GradientFlowTensorBoard(tmp_path, ids)
    cb.set_model(model)
    cb.on_epoch_end(0)
    cb.on_train_end()
    tags = set()
    for path in tmp_path.rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {f"gradient_flow/t_{t:03d}" for t in range(1, 6)} <= tags
    assert len(cb.history) == 1 and cb.history[0][1].shape == (5,)
