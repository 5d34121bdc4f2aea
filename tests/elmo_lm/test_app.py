"""`keras-seq train elmo-lm` end to end, and `keras-seq train imdb --elmo RUN` on tiny data."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_seq import cli
from keras_seq.cli import import_application

elmo_lm = import_application("keras_seq.applications.elmo_lm")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("elmo") / "run"
    code = cli.main(["train", "elmo-lm", "--quick", "--max-tokens", "3000", "--units", "16",
                     "--embedding-dim", "12", "--batch-size", "8", "--sequence-length", "12",
                     "--run-dir", str(run_dir), "--backup-every", "5", "--verbose", "0"])
    assert code == 0
    return run_dir


def test_quick_run_writes_the_run_folder_metrics_logs_and_export(quick_run):
    run_dir = quick_run
    for name in ("config.json", "metrics.json", "tokenizer.json", "history.csv",
                 "bilm.weights.h5", "bilm_config.json", "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    for key in ("forward", "backward"):
        ce = m[f"validation_cross_entropy_{key}"]
        assert m[f"validation_perplexity_{key}"] == pytest.approx(np.exp(ce))
        # better than uniform over the vocabulary after two epochs
        assert 1.0 < m[f"validation_perplexity_{key}"] < m["vocabulary_size"]
    assert m["validation_perplexity_mean"] == pytest.approx(
        np.exp((m["validation_cross_entropy_forward"]
                + m["validation_cross_entropy_backward"]) / 2))
    assert "punctuation" in m["tokenization"]
    assert m["export_embed_max_abs_diff_vs_keras"] < 1e-5
    assert len(m["history"]["val_forward_perplexity"]) == 2
    assert m["samples"][0]["next"] and m["samples"][0]["previous"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["units"] == 16 and config["data"]["validation_tokens"] == 300
    tags = set()
    for path in (run_dir / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    for tag in ("epoch_forward_perplexity", "epoch_backward_perplexity",
                "epoch_mean_perplexity", "learning_rate", "next_and_previous_words"):
        assert tag in tags, (tag, sorted(tags))


def test_predict_command_on_the_export(quick_run, capsys):
    rows = cli.predict(str(quick_run / "export"), ["the time traveller", "and"])
    assert len(rows) == 2
    assert len(rows[0]["sentence_embedding"]) == 32 and isinstance(rows[0]["next_word"], str)
    embed = cli.predict(str(quick_run / "export"), ["the time traveller"], signature="embed")
    assert np.array(embed[0]["embeddings"]).shape == (3, 32)
    assert embed[0]["mask"] == [True, True, True]


def test_bad_options_exit_with_status_2_and_leave_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "elmo-lm", "--vocab-size", "0", "--runs-root", str(tmp_path)])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "elmo-lm", "--data-file", str(tmp_path / "missing.txt"),
                  "--runs-root", str(tmp_path)])
    assert info.value.code == 2
    assert "--data-file" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


IMDB_TINY = ["--dataset", "synthetic", "--train-size", "120", "--test-size", "40",
             "--max-length", "24", "--epochs", "1", "--units", "8", "--embedding-dim", "8",
             "--batch-size", "32", "--verbose", "0"]


def test_imdb_classifier_with_frozen_elmo(quick_run, tmp_path):
    imdb = import_application("keras_seq.applications.imdb")
    common = IMDB_TINY + ["--elmo", str(quick_run)]
    lines = []
    frozen = imdb.run(imdb.build_parser().parse_args(
        common + ["--run-dir", str(tmp_path / "frozen")]), log=lines.append)
    assert any("frozen" in line for line in lines)
    assert any("--tokenizer review" in line for line in lines)  # words-mode biLM: a note
    weights = frozen["elmo_layer_weights"]
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert frozen["export_max_abs_diff_vs_keras"] < 1e-5  # raw strings in, same probabilities
    # the classifier's vocabulary is the biLM's
    vocab = json.loads((tmp_path / "frozen" / "vocabulary.json").read_text())
    assert vocab == ["", "[UNK]"] + json.loads(
        (quick_run / "tokenizer.json").read_text())["vocabulary"]
    with pytest.raises(ValueError, match="--elmo"):
        imdb.run(imdb.build_parser().parse_args(
            common[:-2] + ["--elmo-trainable", "--run-dir", str(tmp_path / "x")]))
    with pytest.raises(ValueError, match="--elmo"):
        imdb.run(imdb.build_parser().parse_args(
            common[:-1] + [str(tmp_path), "--run-dir", str(tmp_path / "y")]))


@pytest.mark.slow
def test_imdb_classifier_with_fine_tuned_elmo(quick_run, tmp_path):
    imdb = import_application("keras_seq.applications.imdb")
    argv = IMDB_TINY + ["--elmo", str(quick_run), "--elmo-trainable",
                        "--run-dir", str(tmp_path / "tuned")]
    tuned = imdb.run(imdb.build_parser().parse_args(argv), log=lambda line: None)
    assert tuned["elmo_trainable"] is True and 0.0 <= tuned["test_accuracy"] <= 1.0
    assert tuned["export_max_abs_diff_vs_keras"] < 1e-5
