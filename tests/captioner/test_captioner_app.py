"""The captioner application end to end: run folder, TensorBoard, export, CLI predict."""

import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.shared_data import missing_data
from PIL import Image

from keras_seq import cli
from keras_seq.cli import import_application

captioner = import_application("keras_seq.applications.captioner")
REPO = pathlib.Path(__file__).resolve().parents[2]
# The default test's run: learns within ~1 min of 2 idle cores. Measured (2026-12-03, seed
# 1337, 200 test scenes of unseen combinations): test BLEU-2 0.633 (BLEU-1 0.719), against
# 0.154 for always writing the most frequent training caption; 102 s of CPU time for the
# whole run (data, fit, test, export). The same task untrained: BLEU-2 0.000 (empty captions),
# so the assertion fails without training.
QUICK_LEARNER = ["--train-size", "3000", "--validation-size", "100", "--test-size", "200",
                 "--epochs", "5", "--learning-rate", "0.003", "--image-size", "32",
                 "--embedding-dim", "32", "--hidden-dim", "64", "--encoder-filters", "16,32",
                 "--batch-size", "32"]
BLEU_2_MARGIN = 0.25  # measured 0.633 - 0.154 = 0.48 above the baseline


def _args(tmp_path, *extra):
    """The default test's run: small enough for the default suite, big enough to learn."""
    return captioner.build_parser().parse_args([
        "--runs-root", str(tmp_path), *QUICK_LEARNER, "--verbose", "0", *extra])


def _tiny_args(tmp_path, *extra):
    """A run too short to learn (slow tests of other options)."""
    return captioner.build_parser().parse_args([
        "--runs-root", str(tmp_path), "--train-size", "256", "--validation-size", "32",
        "--test-size", "32", "--epochs", "1", "--image-size", "32", "--embedding-dim", "16",
        "--hidden-dim", "24", "--encoder-filters", "8,16", "--batch-size", "32",
        "--verbose", "0", *extra])


def _most_frequent_caption_bleu(run):
    """BLEU of the chance baseline: the most frequent training caption for every test image.

    The scenes are regenerated from the run's config.json (they are deterministic).
    """
    import collections

    from keras_seq.data.shape_scenes import shape_scene_splits
    from keras_seq.metrics import caption_bleu

    config = json.loads((run / "config.json").read_text())
    mix = dict(zip(("single", "pair", "count"), map(float, config["train_mix"].split(","))))
    data = shape_scene_splits(config["train_size"], config["validation_size"],
                              config["test_size"], image_size=config["image_size"],
                              seed=config["seed"], train_kind_fractions=mix)
    top = collections.Counter(data["train"][1]).most_common(1)[0][0]
    return caption_bleu([top] * len(data["test"][1]), [[c] for c in data["test"][1]])


def _event_tags(logdir):
    import tensorflow as tf

    tags = set()
    for path in pathlib.Path(logdir).rglob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def _jpeg_bytes(mode="RGB", size=(50, 40), colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new(mode, size, colour if mode != "L" else 128).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_shapes_end_to_end_learns_and_exports_to_plain_tensorflow(tmp_path, capsys):
    lines = []
    metrics = captioner.run(_args(tmp_path), log=lines.append)
    run = next((tmp_path / "captioner").iterdir())
    for name in ("config.json", "metrics.json", "tokenizers.json", "combinations.json",
                 "model.weights.h5", "history.csv", "task.kseq"):
        assert (run / name).is_file(), name
    assert metrics["export_matches_in_process_decoding"] is True
    assert metrics["test_images"] == 200
    assert 0.0 <= metrics["test_bleu_4"] <= metrics["test_bleu_1"] <= 1.0
    # Quality clearly above chance on unseen combinations: BLEU-2 against the BLEU-2 of
    # always writing the most frequent training caption (see QUICK_LEARNER's measurements).
    baseline = _most_frequent_caption_bleu(run)["bleu_2"]
    assert metrics["test_bleu_2"] >= baseline + BLEU_2_MARGIN, (metrics["test_bleu_2"],
                                                                baseline)
    assert len(metrics["examples"]) == 3 and all("caption" in row for row in metrics["examples"])
    import keras_seq

    examples = [open(row["input"], "rb").read() for row in metrics["examples"]]
    assert keras_seq.load(run).predict(examples)["caption"] == [
        row["caption"] for row in metrics["examples"]]
    held_out = json.loads((run / "combinations.json").read_text())
    assert not set(held_out["test"]) & set(held_out["train"])  # unseen combinations
    tags = _event_tags(run / "logs" / "validation")
    assert {"captions", "captioned_images", "attention/0"} <= tags, tags
    assert any("TensorBoard: tensorboard --logdir" in line for line in lines)

    # A fresh process that imports only TensorFlow captions image files of any format.
    images = [_jpeg_bytes(), _jpeg_bytes("L"), _jpeg_bytes("CMYK", colour=(0, 200, 200, 0))]
    png = io.BytesIO()
    Image.new("RGBA", (70, 30), (0, 0, 255, 128)).save(png, format="PNG")
    images.append(png.getvalue())
    paths = []
    for i, data in enumerate(images):
        paths.append(tmp_path / f"image{i}.bin")
        paths[-1].write_bytes(data)
    # The same process then gets corrupt bytes: a clear error naming the accepted formats,
    # not a caption of garbage.
    script = (
        "import sys, tensorflow as tf\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "files = [open(p, 'rb').read() for p in sys.argv[2:]]\n"
        "out = f(image_bytes=tf.constant(files))['caption'].numpy()\n"
        "assert 'keras_seq' not in sys.modules\n"
        "print('\\n'.join(c.decode() for c in out))\n"
        "try:\n"
        "    f(image_bytes=tf.constant([b'not an image at all']))\n"
        "except tf.errors.InvalidArgumentError as error:\n"
        "    print('REFUSED:', ' '.join(error.message.split()), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(run / "export"), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # One line per image; a caption may be empty (a model this small may end at once).
    assert proc.stdout.endswith("\n"), proc.stdout
    captions = proc.stdout[:-1].split("\n")[-len(paths):]
    assert len(captions) == len(paths), proc.stdout
    refused = [line for line in proc.stderr.splitlines() if line.startswith("REFUSED:")]
    assert refused and "not a JPEG, PNG, GIF or BMP image" in refused[0], proc.stderr[-2000:]

    # `keras-seq predict EXPORT IMAGE...` reads the files and prints one caption per line.
    capsys.readouterr()
    assert cli.main(["predict", str(run / "export"), str(paths[0]), str(paths[3])]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith(captions[0]) and str(paths[0]) in out[0]
    assert cli.main(["predict", str(run / "export"), str(paths[1]), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["caption"] == captions[1] and row["input"] == str(paths[1])
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "text.jpg").write_bytes(b"plain text, no image")
    for name, reason in (("no_such_file.jpg", "no_such_file.jpg"),
                         (str(tmp_path / "corrupt.jpg"), "Invalid JPEG data"),
                         (str(tmp_path / "text.jpg"), "not a JPEG, PNG, GIF or BMP image")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["predict", str(run / "export"), name])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert reason in err and "Graph execution error" not in err, err


@pytest.mark.slow  # a second end-to-end run of the application (the default suite keeps one)
def test_lstm_without_attention_and_beam_search(tmp_path):
    metrics = captioner.run(_tiny_args(tmp_path, "--rnn", "lstm", "--attention", "off",
                                  "--condition-on", "state", "--sampler", "beam",
                                  "--num-beams", "2"), log=lambda line: None)
    assert metrics["attention"] == "off" and metrics["sampler"] == "beam"
    assert metrics["export_matches_in_process_decoding"] is True
    run = next((tmp_path / "captioner").iterdir())
    tags = _event_tags(run / "logs" / "validation")
    assert "captioned_images" in tags and not any(t.startswith("attention/") for t in tags)


def _shared_captions():
    import os

    candidates = [pathlib.Path(os.environ["KERAS_SEQ_DATA_DIR"]) / "captions"] \
        if os.environ.get("KERAS_SEQ_DATA_DIR") else []
    candidates.append(REPO.parent / "shared" / "datasets" / "captions")
    return next((c for c in candidates if (c / "Flickr8k.token.txt").is_file()), None)


def test_flickr8k_subset_trains_and_scores_against_all_references(tmp_path):
    root = _shared_captions()
    if root is None:
        missing_data("no Flickr8k copy ($KERAS_SEQ_DATA_DIR/captions or ../shared/datasets)")
    metrics = captioner.run(captioner.build_parser().parse_args([
        "--data-dir", str(root), "--runs-root", str(tmp_path), "--epochs", "1",
        "--image-size", "32", "--embedding-dim", "16", "--hidden-dim", "16",
        "--encoder-filters", "8,16", "--vocabulary-size", "300", "--verbose", "0"]),
        log=lambda line: None)
    assert metrics["dataset"] == "flickr8k" and metrics["test_images"] == 50
    run = next((tmp_path / "captioner").iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["images"] == {"train": 306, "validation": 43, "test": 50,
                                        "unsplit": 1}
    assert all(len(s["references"]) == 5 for s in metrics["test_samples"])


def test_bad_options_exit_with_code_2(tmp_path, capsys):
    # In process (`keras-seq` is `cli.main`; tests/test_cli.py runs the console script itself).
    for bad in (["--image-size", "8"], ["--encoder-filters", "8,x"],
                ["--backbone-weights", "w.h5"], ["--self-similarity-heads", "2",
                                                  "--self-similarity", "off"],
                ["--self-similarity", "on", "--backbone", "mobilenet_v2"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["train", "captioner", "--runs-root", str(tmp_path), *bad])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, (bad, err[-500:])
        assert bad[0] in err and "Traceback" not in err, (bad, err[-500:])
    assert not (tmp_path / "captioner").exists()


def test_bad_option_values_and_combinations_in_one_line():
    parse = captioner.build_parser().parse_args
    with pytest.raises(SystemExit):
        parse(["--train-mix", "0.5,0.6,0.2"])
    with pytest.raises(ValueError, match="--train-size: for the generated shapes only"):
        captioner.APPLICATION.config(parse(["--dataset", "flickr8k", "--train-size", "9"]))


def test_generated_scenes_travel_as_lossless_png():
    """The task trains on PNG bytes of the generated scenes: decoding gives the pixels back."""
    import tensorflow as tf

    from keras_seq.data.images import decode_images
    from keras_seq.data.shape_scenes import generate_shape_scenes, png_bytes

    images, _ = generate_shape_scenes(["two small red circles", "a large blue square"],
                                      image_size=32, seed=1)
    decoded = decode_images(tf.constant(png_bytes(images)), 32).numpy()
    np.testing.assert_allclose(decoded, images / 255.0, atol=1e-6)


@pytest.mark.slow  # a second end-to-end run
def test_evaluate_only_reproduces_the_test_scores(tmp_path):
    metrics = captioner.run(_tiny_args(tmp_path), log=lambda line: None)
    run = next((tmp_path / "captioner").iterdir())
    again = captioner.run(captioner.build_parser().parse_args(
        ["--evaluate-only", "--run-dir", str(run)]), log=lambda line: None)
    for key in ("test_bleu_4", "test_exact_match", "test_samples"):
        assert again[key] == metrics[key], key
    assert (run / "metrics_greedy.json").is_file()
    with pytest.raises(ValueError, match="--run-dir"):
        captioner.run(captioner.build_parser().parse_args(["--evaluate-only"]))


# The config.json of a run made by the application before it ran on keras_seq.lifecycle.
OLD_CONFIG = {
    "dataset": "shapes", "data_dir": None, "no_download": False, "train_size": 20000,
    "validation_size": 1000, "test_size": 2000, "train_mix": "0.2,0.6,0.2",
    "image_size": 64, "max_caption_length": 12, "vocabulary_size": 1000, "augment": False,
    "rnn": "gru", "attention": "on", "condition_on": "both", "embedding_dim": 64,
    "hidden_dim": 192, "encoder_filters": "16,32,64", "encoder_pooling": "both",
    "region_attention_heads": 2, "twin_heads": 0, "self_similarity": "on",
    "self_similarity_heads": 0, "backbone": "none", "backbone_weights": None,
    "fine_tune_backbone": False, "dropout": 0.3, "mixed_precision": False,
    "sampler": "greedy", "num_beams": 4, "evaluate_only": False, "epochs": 8,
    "batch_size": 64, "learning_rate": 0.001, "jit_compile": "auto", "seed": 7,
    "time_budget_minutes": None, "quick": False, "runs_root": "runs", "run_dir": "r",
    "logdir": None, "export_dir": None, "verbose": "auto", "strategy": "none",
    "cpu_devices": None, "collective_timeout": None, "explicit_options": [],
    "app": "captioner", "data": {"dataset": "shapes"}, "jit_compile_resolved": False}


def _resumed(run, *argv):
    args = captioner.build_parser().parse_args(["--run-dir", str(run), *argv])
    return captioner.APPLICATION.config(args, log=lambda line: None)


def test_old_run_folders_resume_with_their_options_or_are_refused_in_one_line(tmp_path):
    """A run made before the lifecycle keeps its model; one without an option is refused."""
    for name, config in (("old", OLD_CONFIG),
                         ("before_self_similarity",
                          {k: v for k, v in OLD_CONFIG.items() if k != "self_similarity"}),
                         ("before_pooling",
                          {k: v for k, v in OLD_CONFIG.items() if k != "encoder_pooling"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    config = _resumed(tmp_path / "old", "--hidden-dim", "8", "--sampler", "beam")
    assert (config.hidden_dim, config.seed, config.sampler) == (192, 7, "beam")
    # Made before --self-similarity existed: trained without the score, its weights say so.
    assert _resumed(tmp_path / "before_self_similarity").self_similarity == "off"
    with pytest.raises(ValueError, match="lacks --encoder-pooling.*cannot be resumed"):
        _resumed(tmp_path / "before_pooling")
    parse = captioner.build_parser().parse_args
    assert captioner.APPLICATION.config(parse([])).self_similarity == "on"  # shapes' default
    assert captioner.APPLICATION.config(parse(["--dataset", "flickr8k"])).self_similarity \
        == "off"
    quick = captioner.APPLICATION.config(parse(["--quick", "--test-size", "50"]))
    assert (quick.train_size, quick.test_size, quick.epochs) == (3000, 50, 2)
