"""`keras-seq train tagger`: a tiny end-to-end run, `keras-seq predict`, bad input."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_seq import cli
from keras_seq.data import span_tagging as st


def test_quick_run_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = cli.main(["train", "tagger", "--quick", "--train-size", "256", "--validation-size",
                     "32", "--test-size", "64", "--hidden-dim", "8",
                     "--embedding-dim", "8", "--layers", "1", "--cell", "gru",
                     "--batch-size", "16", "--epochs", "2", "--learning-rate", "0.01",
                     "--run-dir", str(run_dir), "--verbose", "0"])
    assert code == 0
    for name in ("config.json", "metrics.json", "history.csv", "task.kseq",
                 "export/saved_model.pb"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["export_matches_keras"] is True
    # Quality. Chance: tagging every character O gives token accuracy 0.731 (computed below)
    # and span F1 0; one epoch of batch 64 at 1e-3 stayed there (0.804, F1 0.009). Measured
    # with batch 16, 2 epochs, 1e-2 (seed 1337): token accuracy 0.848, span F1 0.123.
    config = json.loads((run_dir / "config.json").read_text())
    test = st.generated_splits(256, 32, 64, seed=config["seed"],
                               max_length=config["max_length"])["test"]
    tags = np.concatenate([st.spans_to_tags(ex["text"], ex["spans"]) for ex in test])
    all_o = float(np.mean(tags == 0))
    assert len(tags) == metrics["test_characters"] and all_o == pytest.approx(0.731, abs=1e-3)
    assert metrics["test_token_accuracy"] > all_o + 0.07
    assert metrics["test_span_f1"] > 0.06
    assert set(metrics["test_spans"]) == {"NUM", "DATE", "micro"}
    assert metrics["test_spans"]["micro"]["support"] > 64
    assert config["cell"] == "gru" and config["bidirectional"] is True
    assert config["data"]["tag_names"] == metrics["tag_names"] == st.tag_names()
    tags = set()
    for path in (run_dir / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {"epoch_loss", "epoch_accuracy", "epoch_span_f1", "epoch_learning_rate",
            "tagged_samples", "tagged_characters"} <= tags, tags
    assert "Test (64 texts" in capsys.readouterr().out
    assert cli.main(["predict", str(run_dir / "export"), "We paid 12 on 12 March 1998."]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith('"We paid 12 on 12 March 1998."')
    assert len(line.split("\t")[-1]) > 0 and " O " in line


@pytest.mark.slow  # a second end-to-end run: --data-file, other types, --no-bidirectional
def test_own_jsonl_data_with_other_types(tmp_path):
    examples = []
    for i in range(60):
        name = ["Alice", "Bob", "Carol"][i % 3]
        text = f"{name} lives in Paris and {i} cats."
        examples.append({"text": text, "spans": [[0, len(name), "PER"],
                                                 [text.index("Paris"), text.index("Paris") + 5,
                                                  "LOC"]]})
    data = st.write_jsonl(examples, tmp_path / "mine.jsonl")
    from keras_seq.cli import import_application

    tagger = import_application("keras_seq.applications.tagger")
    args = tagger.build_parser().parse_args(
        ["--data-file", str(data), "--epochs", "1", "--hidden-dim", "4", "--embedding-dim", "4",
         "--layers", "1", "--no-bidirectional", "--cell", "elman", "--batch-size", "16",
         "--run-dir", str(tmp_path / "run"), "--verbose", "0"])
    metrics = tagger.run(args, log=lambda line: None)
    assert metrics["tag_names"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert metrics["test_texts"] == 6 and metrics["dataset"] == "file"
    assert metrics["export_matches_keras"] is True


@pytest.mark.parametrize("argv, message", [
    (["--data-file", "MISSING.jsonl"], "--data-file"),
    (["--max-length", "10"], "--max-length"),
    (["--hidden-dim", "0"], "--hidden-dim"),
])
def test_bad_input_exits_with_code_2(tmp_path, capsys, argv, message):
    argv = [a.replace("MISSING", str(tmp_path / "missing")) for a in argv]
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "tagger", *argv, "--run-dir", str(tmp_path / "r")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_data_dir_splits_and_cut_texts(tmp_path):
    from keras_seq.cli import import_application

    tagger = import_application("keras_seq.applications.tagger")
    examples = st.generate_examples(50, seed=2)
    long_text = "x" * 60 + " on 12 March 1998."
    examples.append({"text": long_text, "spans": [[64, 77, "DATE"]]})
    st.write_jsonl(examples, tmp_path / "train.jsonl")
    st.write_jsonl(st.generate_examples(7, seed=3), tmp_path / "test.jsonl")
    args = tagger.build_parser().parse_args(["--data-dir", str(tmp_path), "--max-length", "70"])
    config = tagger.APPLICATION.config(args, log=lambda line: None)
    splits, types, info = st.load_splits(config.data_file, config.data_dir,
                                         max_length=config.max_length, seed=config.seed,
                                         log=lambda line: None)
    assert types == ["DATE", "NUM"] and info["dataset"] == "dir"
    assert len(splits["test"]) == 7  # given; validation is taken out of train.jsonl
    assert len(splits["validation"]) == 5 and len(splits["train"]) == 51 - 5 - 5
    assert max(len(ex["text"]) for split in splits.values() for ex in split) <= 70
    assert info["texts_cut"] >= 1
    for split in splits.values():
        for ex in split:  # every remaining span fits its (cut) text
            st.spans_to_tags(ex["text"], ex["spans"], types)
    with pytest.raises(ValueError, match="--data-dir"):
        st.load_splits(data_dir=tmp_path / "nothing")
