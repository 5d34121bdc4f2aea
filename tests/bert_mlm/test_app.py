"""`keras-seq train bert-mlm --quick` end to end (it must learn), options, old run folders."""

import dataclasses
import json
import math

import numpy as np
import pytest
import tensorflow as tf

import keras_seq
from keras_seq import cli
from keras_seq.data.word_pieces import RESERVED_TOKENS
from tests.bert_mlm.helpers import TINY_TEXT


def _app():
    return cli.import_application("keras_seq.applications.bert_mlm")


def unigram_baseline(run_dir, config):
    """What a model without context scores on the run's validation masked tokens.

    p(w) = (count of w in the training word pieces + 1) / normalizer over the non-reserved
    pieces; the same validation pairs and fixed masks as the run (checked by the count).
    Returns `(accuracy of always guessing the most frequent piece, perplexity of p)`.
    """
    splits, _ = _app().prepare_data(config, log=lambda line: None)
    task = keras_seq.load(run_dir)
    counts = np.ones(task.preprocessor.vocabulary_size)
    for ids in task.preprocessor.tokenizer(splits["train"]):
        np.add.at(counts, np.asarray(ids), 1)
    counts[: len(RESERVED_TOKENS)] = 0
    p = counts / counts.sum()
    val, _ = task.dataset(splits["validation"], batch_size=config.batch_size,
                          seed=config.seed + 1)
    labels = np.concatenate([y.numpy()[w.numpy() > 0] for _, y, w in val])
    return len(labels), float(np.mean(labels == p.argmax())), math.exp(-np.log(p[labels]).mean())


def test_cli_quick_run_learns_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    code = cli.main(["train", "bert-mlm", "--quick", "--dataset", "generated", "--run-dir",
                     str(run_dir), "--verbose", "0", "--sample", "The time [MASK] was late.",
                     "--top-k", "3"])
    assert code == 0
    for name in ("config.json", "metrics.json", "vocabulary.txt", "history.csv", "task.kseq",
                 "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["quick"] and config["layers"] == 1 and config["app"] == "bert-mlm"
    assert metrics["export_matches_keras"] is True and metrics["dataset"] == "generated"
    by = metrics["validation_by_corruption"]
    assert sum(by[g]["tokens"] for g in by) == metrics["validation_masked_tokens"]

    # Quality: clearly better than the unigram frequencies of the same masked tokens.
    # Measured on 2 shared (overloaded) CPU cores, seed 1337, 449 masked validation tokens,
    # unigram baseline accuracy 0.187 / perplexity 45.5: this command (15 epochs) 0.359 /
    # 10.75; the same with --epochs 8: 0.294 / 18.4; --epochs 3: 0.249 / 34.1. With training
    # off (--learning-rate 1e-9) the model is at chance and both assertions fail (see the
    # report of issue 21). Thresholds: half the measured gain (+0.17 accuracy, 0.24x
    # perplexity), so that a slower-learning but working run still passes.
    fields = {f.name for f in dataclasses.fields(_app().BertMLMConfig)}
    tokens, base_accuracy, base_perplexity = unigram_baseline(
        run_dir, _app().BertMLMConfig(**{k: v for k, v in config.items() if k in fields}))
    assert tokens == metrics["validation_masked_tokens"] >= 400
    assert metrics["validation_masked_accuracy"] >= base_accuracy + 0.1, (metrics, base_accuracy)
    assert metrics["validation_masked_perplexity"] <= 0.5 * base_perplexity, (
        metrics, base_perplexity)

    sample = metrics["fill_mask_samples"][0]
    assert sample["text"] == "The time [MASK] was late." and len(sample["candidates"]) == 1
    assert len(sample["candidates"][0]) == 3 and "[MASK]" not in sample["filled"]
    vocab = (run_dir / "vocabulary.txt").read_text().splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tags = set()
    for path in (run_dir / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {"epoch_loss", "epoch_accuracy", "epoch_perplexity", "learning_rate",
            "fill_mask_samples"} <= tags, tags
    rows = cli.predict(str(run_dir / "export"), ["the [MASK] machine"])
    assert rows[0]["num_masks"] == 1 and len(rows[0]["candidates"][0]) == 3


@pytest.mark.parametrize("extra, match", [
    (["--embedding-dim", "30", "--heads", "4"], "--embedding-dim"),
    (["--sample", "no mask"], "--sample"),
    (["--mask-rate", "1.5"], "--mask-rate"),
])
def test_bad_options_exit_with_code_2_and_write_nothing(tmp_path, capsys, extra, match):
    data = tmp_path / "tiny.txt"
    data.write_text(TINY_TEXT)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "bert-mlm", "--data-file", str(data), "--run-dir",
                  str(tmp_path / "r"), *extra])
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_too_short_text_is_a_clear_error(tmp_path, capsys):
    data = tmp_path / "short.txt"
    data.write_text("One sentence. Two sentences.")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "bert-mlm", "--data-file", str(data), "--run-dir",
                  str(tmp_path / "r")])
    assert exit_info.value.code == 2 and "sentences" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# The config.json of a run made before the lifecycle rewrite (its argparse options).
OLD_CONFIG = {
    "data_file": None, "data_dir": None, "dataset": "generated", "no_download": False,
    "val_fraction": 0.1, "max_sentences": 400, "vocabulary_size": 400, "sequence_length": 32,
    "mask_rate": 0.15, "layers": 1, "heads": 2, "embedding_dim": 32, "intermediate_dim": 64,
    "dropout": 0.1, "top_k": 5, "sample": None, "epochs": 1, "batch_size": 16,
    "learning_rate": 0.002, "jit_compile": "auto", "seed": 1337, "time_budget_minutes": None,
    "quick": True, "strategy": "none", "runs_root": "runs", "run_dir": "old",
    "verbose": 0, "app": "bert-mlm", "jit_compile_resolved": False}


def test_an_old_run_folder_resumes_with_its_options(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(OLD_CONFIG))
    app = _app()
    args = app.build_parser().parse_args(["--run-dir", str(tmp_path), "--epochs", "3"])
    config = app.APPLICATION.config(args, log=lambda line: None)
    assert (config.vocabulary_size, config.embedding_dim, config.epochs, config.max_sentences) == (
        400, 32, 1, 400)


def test_a_run_folder_lacking_an_option_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text(
        json.dumps({k: v for k, v in OLD_CONFIG.items() if k != "mask_rate"}))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "bert-mlm", "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--mask-rate" in err and len(err.splitlines()) == 1
