"""The lecture tutorials run in quick mode, print their checks and write their figures.

Each tutorial is loaded from its file and its `main(["--quick", ...])` runs in this process
(TensorFlow is imported once for all of them), writing its figures into `tmp_path`.
"""

import importlib.util
import re

import numpy as np

from tests.tutorial_runner import ROOT, assert_figures


def _run(name, tmp_path, capsys):
    path = ROOT / "tutorials" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lecture_tutorial_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--figures-dir", str(tmp_path)])
    return result, capsys.readouterr().out


def _number(pattern, text):
    match = re.search(pattern, text)
    assert match, pattern
    return float(match.group(1))


def test_attention_kernel_regression(tmp_path, capsys):
    errors, out = _run("attention_kernel_regression", tmp_path, capsys)
    for step in ("== 1.", "== 2.", "== 3."):
        assert step in out
    assert _number(r"max \|Σ_i α_i - 1\| = (\S+)", out) < 1e-5
    # The printed errors are the returned ones; the kernel beats the average, training the
    # width beats the fixed kernel, and dot-product scores need features to localize.
    assert f"{errors['Nadaraya-Watson (Gaussian)']:.4f}" in out
    assert errors["Nadaraya-Watson (Gaussian)"] < errors["average pooling"]
    assert errors["Gaussian, learned width w"] < errors["Nadaraya-Watson (Gaussian)"]
    assert errors["dot-product on φ(x)"] < errors["dot-product on x"]
    assert_figures(tmp_path, ("kernel_regression_weights.png", "kernel_regression_fits.png"))


def test_seq2vec_pooling(tmp_path, capsys):
    result, out = _run("seq2vec_pooling", tmp_path, capsys)
    for step in ("== 1.", "== 2.", "== 3."):
        assert step in out
    assert "GENERATED synthetic review corpus" in out
    moved = result["padding_change"]
    assert moved["last state, no mask"] > 1e-4  # reads the padding
    for variant in ("last state, masked", "bi last [h→_T;h←_1], masked", "bi mean h̄, masked"):
        assert moved[variant] < 1e-5
        assert np.ptp(result["padding_curve"][variant]) < 1e-5  # trained, too
        assert 0.0 <= result["accuracy"][variant] <= 1.0
        assert f"{variant:28s}: test accuracy {result['accuracy'][variant]:.3f}" in out
    assert_figures(tmp_path, ("seq2vec_pooling.png",))


def test_positional_encoding(tmp_path, capsys):
    result, out = _run("positional_encoding", tmp_path, capsys)
    for step in ("== 1.", "== 2.", "== 3."):
        assert step in out
    deviation = _number(r"\|p_i · p_j - f\(\|i - j\|\)\| = (\S+)", out)
    assert deviation < 1e-4 and abs(deviation - result["dot_product_deviation"]) < 1e-6
    assert _number(r"Δ = 7: max over i of \|p_\(i\+Δ\) - R_Δ p_i\| = (\S+)", out) < 1e-5
    assert_figures(tmp_path, ("positional_encoding_matrix.png",
                               "positional_encoding_dot_products.png"))


def test_bptt(tmp_path, capsys):
    result, out = _run("bptt", tmp_path, capsys)
    for step in ("== 1.", "== 2.", "== 3.", "== 4."):
        assert step in out
    assert _number(r"max abs difference to tf.GradientTape = (\S+)", out) < 1e-10
    assert result["tape_difference"] < 1e-10
    assert _number(r"unrolled sum .*: max abs difference (\S+)", out) < 1e-12
    assert_figures(tmp_path, ("bptt_truncation.png",))


def test_gru_lstm_from_equations(tmp_path, capsys):
    result, out = _run("gru_lstm_from_equations", tmp_path, capsys)
    for step in ("== 1.", "== 2.", "== 3."):
        assert step in out
    assert _number(r"GRU check: max abs difference (\S+)", out) < 1e-5
    assert _number(r"LSTM check: max abs difference (\S+)", out) < 1e-5
    assert "reset_after=False" in out and "reset_after=True" in out
    reach = result["reach"]

    def ratio(kind, remember):
        norms = reach[(kind, remember)]
        return norms[0] / norms[-1]

    # Gates set to remember carry the gradient back much further than at initialization.
    assert ratio("lstm", True) > 100 * ratio("lstm", False)
    assert ratio("gru", True) > 100 * ratio("gru", False)
    assert_figures(tmp_path, ("gradient_reach.png",))
