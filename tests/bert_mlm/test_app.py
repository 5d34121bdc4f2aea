"""`keras-seq train bert-mlm --quick` end to end: run folder, TensorBoard tags, export, errors."""

import json

import pytest
import tensorflow as tf

from keras_seq import cli
from tests.bert_mlm.helpers import TINY_TEXT


def test_cli_quick_run_end_to_end(tmp_path):
    data = tmp_path / "tiny.txt"
    data.write_text(TINY_TEXT * 2)
    run_dir = tmp_path / "run"
    code = cli.main(["train", "bert-mlm", "--quick", "--data-file", str(data), "--run-dir",
                     str(run_dir), "--verbose", "0", "--sample", "The time [MASK] was late.",
                     "--top-k", "3"])
    assert code == 0
    for name in ("config.json", "metrics.json", "vocabulary.txt", "history.csv",
                 "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["export_matches_keras"] is True
    assert metrics["dataset"] == "file"
    assert metrics["validation_masked_perplexity"] > 1.0
    assert 0.0 <= metrics["validation_masked_accuracy"] <= 1.0
    assert metrics["validation_masked_tokens"] > 0
    by = metrics["validation_by_corruption"]
    assert sum(by[g]["tokens"] for g in by) == metrics["validation_masked_tokens"]
    sample = metrics["fill_mask_samples"][0]
    assert sample["text"] == "The time [MASK] was late." and len(sample["candidates"]) == 1
    assert len(sample["candidates"][0]) == 3 and "[MASK]" not in sample["filled"]
    vocab = (run_dir / "vocabulary.txt").read_text().splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["quick"] and config["layers"] == 1
    assert "WordPiece" in config["data"]["tokenization"]
    tags = set()
    for path in (run_dir / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {"epoch_loss", "epoch_accuracy", "epoch_perplexity", "learning_rate",
            "fill_mask_samples"} <= tags, tags
    rows = cli.predict(str(run_dir / "export"), ["the [MASK] machine"])
    assert rows[0]["num_masks"] == 1 and len(rows[0]["candidates"][0]) == 3


@pytest.mark.parametrize("extra, match", [
    (["--embed-dim", "30", "--heads", "4"], "--embed-dim"),
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
