"""`keras-seq train elmo-lm` end to end, and `keras-seq train imdb --elmo RUN` on tiny data."""

import collections
import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf

import keras_seq
from keras_seq import cli
from keras_seq.cli import import_application
from keras_seq.tasks.elmo_lm import load_bilm

elmo_lm = import_application("keras_seq.applications.elmo_lm")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    # --quick as users get it, on the generated corpus: the same data on every machine (CI
    # has the book), so the quality threshold below means the same everywhere.
    run_dir = tmp_path_factory.mktemp("elmo") / "run"
    code = cli.main(["train", "elmo-lm", "--quick", "--dataset", "generated",
                     "--run-dir", str(run_dir), "--backup-every", "20", "--verbose", "0"])
    assert code == 0
    return run_dir


def unigram_perplexities(run_dir):
    """The best context-free model of the run's validation targets: their own frequencies.

    exp(entropy) of the tokens that each direction scores in the validation windows (the
    same windows as the run, from its task); no unigram model, trained on any data, has a
    lower perplexity on them.
    """
    from keras_seq.data.timemachine import load_text
    from keras_seq.data.word_tokenizer import WordTokenizer

    config = json.loads((run_dir / "config.json").read_text())
    task = keras_seq.load(run_dir)
    text, _ = load_text(config["dataset"], data_file=config["data_file"],
                        data_dir=config["data_dir"], download=False, log=lambda line: None)
    tokens = WordTokenizer.split_text(text, config["tokenizer"])[: config["max_tokens"]]
    cut = int(round(len(tokens) * (1 - config["val_fraction"])))
    val_ds, _ = task.stream_dataset(task.preprocessor.tokenizer.ids_of_tokens(tokens[cut:]),
                                    config["batch_size"])
    result = {}
    for direction in ("forward", "backward"):
        targets = np.concatenate([t[direction].numpy()[w[direction].numpy() > 0]
                                  for _, t, w in val_ds])
        counts, n = collections.Counter(targets.tolist()).values(), len(targets)
        result[direction] = math.exp(-sum(c / n * math.log(c / n) for c in counts))
    return result


def test_quick_run_learns_far_more_than_a_unigram_model(quick_run):
    m = json.loads((quick_run / "metrics.json").read_text())
    baseline = unigram_perplexities(quick_run)
    # Measured (2 CPU cores shared, load ~8; fit 37-38 s, twice, identical): validation
    # perplexity 5.30 forward, 5.56 backward; the unigram baseline is 43.5 both ways
    # (vocabulary 82). Training off (--learning-rate 1e-9): 81.9 / 82.0, and this assertion
    # fails. Half the baseline leaves a wide margin on both sides.
    for direction in ("forward", "backward"):
        assert m[f"validation_perplexity_{direction}"] < 0.5 * baseline[direction], (
            direction, m[f"validation_perplexity_{direction}"], baseline)


def test_quick_run_writes_the_run_folder_metrics_logs_and_export(quick_run):
    run_dir = quick_run
    for name in ("config.json", "metrics.json", "tokenizer.json", "history.csv", "task.kseq",
                 "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    for key in ("forward", "backward"):
        ce = m[f"validation_cross_entropy_{key}"]
        assert m[f"validation_perplexity_{key}"] == pytest.approx(np.exp(ce))
    assert m["validation_perplexity_mean"] == pytest.approx(
        np.exp((m["validation_cross_entropy_forward"]
                + m["validation_cross_entropy_backward"]) / 2))
    assert "punctuation" in m["tokenization"] and m["dataset"] == "generated"
    assert m["export_embed_max_abs_diff_vs_keras"] < 1e-5
    assert len(m["history"]["val_forward_perplexity"]) == 3
    assert m["samples"][0]["next"] and m["samples"][0]["previous"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["hidden_dim"] == 48 and config["data"]["validation_tokens"] == 1200
    tags = set()
    for path in (run_dir / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    for tag in ("epoch_forward_perplexity", "epoch_backward_perplexity",
                "epoch_mean_perplexity", "learning_rate", "next_and_previous_words"):
        assert tag in tags, (tag, sorted(tags))


def test_predict_command_on_the_export_matches_the_task(quick_run):
    rows = cli.predict(str(quick_run / "export"), ["the time traveller", "and"])
    task = keras_seq.load(quick_run)
    predicted = task.predict(["the time traveller", "and"])
    assert [r["next_word"] for r in rows] == predicted["next_word"]
    assert len(rows[0]["sentence_embedding"]) == 96
    embed = cli.predict(str(quick_run / "export"), ["the time traveller"], signature="embed")
    assert np.array(embed[0]["embeddings"]).shape == (3, 96)
    assert embed[0]["mask"] == [True, True, True]


def test_bad_options_exit_with_status_2_and_leave_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "elmo-lm", "--help"])
    assert info.value.code == 0 and "--sentence" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "elmo-lm", "--vocabulary-size", "0", "--runs-root", str(tmp_path)])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "elmo-lm", "--data-file", str(tmp_path / "missing.txt"),
                  "--runs-root", str(tmp_path)])
    assert info.value.code == 2
    assert "--data-file" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_folder_of_the_previous_version_resumes_with_its_options(tmp_path):
    # The config.json of a run made before the task (the old app's argparse names).
    old = {"app": "elmo-lm", "data_file": None, "data_dir": None, "dataset": "generated",
           "no_download": False, "tokenizer": "review", "max_tokens": 5000,
           "val_fraction": 0.2, "vocab_size": 500, "embedding_dim": 16, "units": 16,
           "layers": 1, "dropout": 0.1, "separate_softmax": True, "epochs": 4,
           "batch_size": 8, "sequence_length": 12, "learning_rate": 0.003, "clip_norm": 0.5,
           "patience": 0, "mixed_precision": False, "seed": 7, "quick": False,
           "backup_every": 10, "verbose": 0}
    (tmp_path / "config.json").write_text(json.dumps(old))
    args = elmo_lm.build_parser().parse_args(["--run-dir", str(tmp_path)])
    config = elmo_lm.APPLICATION.config(args, log=lambda line: None)
    renamed = {"vocab_size": "vocabulary_size", "units": "hidden_dim"}  # renamed_from
    assert {k: getattr(config, renamed.get(k, k)) for k in old if k not in ("app", "verbose")} \
        == {k: v for k, v in old.items() if k not in ("app", "verbose")}


def test_load_bilm_reads_task_runs_and_runs_of_the_previous_version(quick_run, tmp_path):
    model, tokenizer = load_bilm(quick_run)
    old = tmp_path / "old"  # the files an elmo-lm run wrote before the task
    old.mkdir()
    (old / "bilm_config.json").write_text(json.dumps(model.get_config()))
    model.save_weights(str(old / "bilm.weights.h5"))
    shutil.copy(quick_run / "tokenizer.json", old / "tokenizer.json")
    again, tokenizer_again = load_bilm(old)
    ids = tokenizer.tokenize(["the time traveller"]).to_tensor().numpy()
    np.testing.assert_array_equal(np.asarray(again.embed(ids)[0]),
                                  np.asarray(model.embed(ids)[0]))
    assert tokenizer_again.get_vocabulary() == tokenizer.get_vocabulary()
    with pytest.raises(ValueError, match="--elmo.*task.kseq"):
        load_bilm(tmp_path)


IMDB_TINY = ["--dataset", "synthetic", "--train-size", "120", "--test-size", "40",
             "--max-length", "24", "--epochs", "1", "--hidden-dim", "8", "--embedding-dim", "8",
             "--batch-size", "32", "--verbose", "0"]


@pytest.mark.slow  # a second IMDB end-to-end run (the imdb tests keep one)
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
