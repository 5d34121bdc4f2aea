"""`keras-seq train forecaster` end to end on a small CSV, and `keras-seq predict` on its export."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_seq import cli


def _csv(tmp_path, n=216):
    """A monthly-like series (season 12, trend, noise) as CRLF CSV without a final newline."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    y = 50 + 0.2 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, n)
    rows = ['"Month","Value"'] + [f'"{2000 + i // 12}-{i % 12 + 1:02d}",{v:.3f}'
                                  for i, v in enumerate(y)]
    path = tmp_path / "series.csv"
    path.write_bytes("\r\n".join(rows).encode())
    return path, y


def _tags(logdir):
    tags = set()
    for path in logdir.rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    return tags


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("app")
    path, y = _csv(tmp_path)
    run_dir = tmp_path / "run"
    code = cli.main(["train", "forecaster", "--csv", str(path), "--quick", "--window", "12",
                     "--season", "12", "--test-periods", "24", "--val-periods", "24",
                     "--learning-rate", "0.01", "--run-dir", str(run_dir), "--verbose", "0"])
    assert code == 0
    return run_dir, y


def test_quick_run_writes_the_run_folder_and_honest_metrics(quick_run):
    run_dir, y = quick_run
    for name in ("config.json", "metrics.json", "task.kseq", "history.csv",
                 "forecast_vs_truth.png", "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "forecast_vs_truth.png").stat().st_size > 5000
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    assert test["points"] == 24 and metrics["epochs_run_this_call"] == 3
    # the baselines are recomputed here from the raw series over the same 24 points
    truth = y[-24:]
    assert test["persistence_mae"] == pytest.approx(np.mean(np.abs(truth - y[-25:-1])), rel=1e-3)
    assert test["seasonal_naive_mae"] == pytest.approx(np.mean(np.abs(truth - y[-36:-12])),
                                                       rel=1e-3)
    assert test["mae_ratio_to_persistence"] == pytest.approx(
        test["model_mae"] / test["persistence_mae"])
    # Quality. Chance: the same run with training off (--learning-rate 1e-9) forecasts with
    # MAE 11.2 = 3.95x persistence (the training mean: MAE 24.0). Measured with --quick
    # (3 epochs) and --learning-rate 0.01: MAE 2.83 = 1.00x persistence (with the default 1e-3
    # the 3 epochs only reach 7.3 = 2.6x persistence).
    assert test["mae_ratio_to_persistence"] < 1.5
    assert metrics["export_max_abs_diff"] < 1e-3
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["dataset"] == "csv" and config["data"]["settings"]["window"] == 12
    assert config["hidden_dim"] == 16  # --quick
    assert {"epoch_loss", "epoch_mae_original", "epoch_rmse_original", "learning_rate",
            "forecast_vs_truth/validation", "forecast_vs_truth/test"} <= _tags(run_dir / "logs")


def test_keras_seq_predict_on_the_export(quick_run, capsys):
    run_dir, y = quick_run
    history = ",".join(f"{v:.3f}" for v in y[-12:])
    rows = cli.predict(str(run_dir / "export"), [history, "1,2,3,4,5,6,7,8,9,10,11,12,13"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert rows[0]["forecast_text"] == metrics["forecast_after_series_end"]
    assert len(rows[1]["forecast"]) == 1 and np.isfinite(rows[1]["forecast"][0])
    assert cli.main(["predict", str(run_dir / "export"), history]) == 0
    assert metrics["forecast_after_series_end"] in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", str(run_dir / "export"), "1, 2, 3"])
    assert exit_info.value.code == 2
    assert "at least 12 comma-separated values" in capsys.readouterr().err


@pytest.mark.slow  # a second end-to-end run of the application (the default suite keeps one)
def test_gaussian_multi_step_seasonal_delta_run(tmp_path):
    path, y = _csv(tmp_path)
    run_dir = tmp_path / "run"
    assert cli.main(["train", "forecaster", "--csv", str(path), "--value-column", "Value",
                     "--window", "12", "--horizon", "3", "--season", "12", "--test-periods", "24",
                     "--val-periods", "24", "--loss", "gaussian", "--target", "seasonal-delta",
                     "--epochs", "2", "--hidden-dim", "8", "--run-dir", str(run_dir),
                     "--verbose", "0"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["horizon"] == 3 and metrics["test"]["points"] == 22 * 3
    assert 0.0 <= metrics["test"]["test_coverage_95"] <= 1.0
    assert len(metrics["test"]["per_horizon_mae"]["model"]) == 3
    loaded = tf.saved_model.load(str(run_dir / "export"))
    out = loaded.signatures["serving_default"](text=tf.constant([",".join(map(str, y[-20:]))]))
    assert out["forecast"].shape == (1, 3)
    assert np.all(out["lower_95"].numpy() < out["upper_95"].numpy())


@pytest.mark.parametrize("extra,needle", [
    (["--value-column", "Nope"], "--value-column"),
    (["--window", "500"], "--window 500"),
    (["--target", "seasonal-delta", "--window", "6"], "--target seasonal-delta needs"),
    (["--test-periods", "200", "--val-periods", "20"], "--test-periods"),
])
def test_bad_input_exits_with_code_2_and_leaves_nothing(tmp_path, capsys, extra, needle):
    path, _ = _csv(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "forecaster", "--csv", str(path), "--season", "12",
                  "--run-dir", str(tmp_path / "r"), *extra])
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_failing_export_keeps_the_test_figures_and_says_how_to_export_again(
        tmp_path, monkeypatch, capsys):
    """The lifecycle writes metrics.json and task.kseq before the export: nothing is lost."""
    from keras_seq.tasks import Forecaster

    def broken_export(self, path):
        raise RuntimeError("export broke")

    monkeypatch.setattr(Forecaster, "export", broken_export)
    path, _ = _csv(tmp_path, n=120)
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="export broke"):  # an unexpected error: raised
        cli.main(["train", "forecaster", "--csv", str(path), "--quick", "--epochs", "1",
                  "--window", "12", "--season", "12", "--test-periods", "12",
                  "--val-periods", "12", "--run-dir", str(run_dir), "--verbose", "0"])
    assert "The export failed." in capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["points"] == 12 and "model_mae" in metrics["test"]
    assert (run_dir / "task.kseq").is_file() and not (run_dir / "export").exists()
