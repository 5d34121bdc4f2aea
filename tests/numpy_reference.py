"""Direct NumPy transcriptions of the lecture's formulas, used as test oracles."""

import numpy as np


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def elman_sequence(x, U, V, W, b_h, b_o, f, g):
    """h_t = f(V h_{t-1} + U x_t + b_h), o_t = g(W h_t + b_o) for each sequence of x (B, T, d)."""
    B, T, _ = x.shape
    h = np.zeros((B, V.shape[0]))
    outs = []
    for t in range(T):
        h = np.stack([f(V @ h[b] + U @ x[b, t] + b_h) for b in range(B)])
        outs.append(np.stack([g(W @ h[b] + b_o) for b in range(B)]))
    return np.stack(outs, 1), h


def simple_rnn(x, kernel, recurrent, bias):
    """keras SimpleRNN (tanh) over x (T, d), returns all states (T, m)."""
    h = np.zeros(recurrent.shape[0])
    states = []
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ kernel + h @ recurrent + bias)
        states.append(h)
    return np.array(states)


def additive_attention(q, k, v, W_q, W_k, w_v, mask=None):
    """a(q, k_i) = w_v^T tanh(W_q q + W_k k_i); alpha = softmax; out = sum alpha_i v_i.

    q (Dq,), k (S, Dk), v (S, Dv), W_q (Dq, U) and W_k (Dk, U) in Keras (x @ W) layout,
    w_v (U,). Returns (out (Dv,), alpha (S,)).
    """
    scores = np.array([w_v @ np.tanh(q @ W_q + k[i] @ W_k) for i in range(len(k))])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    alpha = softmax(scores)
    return alpha @ v, alpha


def multi_head_attention(Q, K, V, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, mask=None):
    """MultiHead(Q,K,V) = [head_1..head_h] W_o, head_i = softmax(Q_i K_i^T / sqrt(d_k)) V_i.

    Q (T, Dq), K (S, Dk), V (S, Dv); W_q (Dq, h, dk) ...; mask bool (T, S).
    Returns (out (T, Dout), weights (h, T, S)).
    """
    h, dk = b_q.shape
    heads, weights = [], []
    for i in range(h):
        q = Q @ W_q[:, i] + b_q[i]
        k = K @ W_k[:, i] + b_k[i]
        v = V @ W_v[:, i] + b_v[i]
        s = q @ k.T / np.sqrt(dk)
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        a = softmax(s)
        weights.append(a)
        heads.append(a @ v)
    concat = np.concatenate(heads, axis=-1)  # (T, h*dv)
    return concat @ W_o.reshape(-1, W_o.shape[-1]) + b_o, np.stack(weights)


def sinusoidal(length, dim, start=0, base=10000.0):
    """p_{i,2j} = sin(i / base^{2j/d}), p_{i,2j+1} = cos(i / base^{2j/d})."""
    p = np.zeros((length, dim))
    for i in range(length):
        for j in range(dim):
            angle = (start + i) / base ** ((j // 2 * 2) / dim)
            p[i, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return p


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def feed_forward(x, W1, b1, W2, b2):
    """FFN(x) = W_2 relu(W_1 x + b_1) + b_2 (Keras x @ W layout)."""
    return np.maximum(x @ W1 + b1, 0) @ W2 + b2
