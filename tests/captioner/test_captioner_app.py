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


def _args(tmp_path, *extra):
    return captioner.build_parser().parse_args([
        "--runs-root", str(tmp_path), "--train-size", "256", "--validation-size", "32",
        "--test-size", "32", "--epochs", "1", "--image-size", "32", "--embed-dim", "16",
        "--hidden-dim", "24", "--encoder-filters", "8,16", "--batch-size", "32",
        "--verbose", "0", *extra])


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


def test_shapes_end_to_end_export_loads_in_plain_tensorflow(tmp_path, capsys):
    lines = []
    metrics = captioner.run(_args(tmp_path), log=lines.append)
    run = next((tmp_path / "captioner").iterdir())
    for name in ("config.json", "metrics.json", "tokenizers.json", "combinations.json",
                 "model.weights.h5", "history.csv"):
        assert (run / name).is_file(), name
    assert metrics["export_matches_in_process_decoding"] is True
    assert metrics["test_images"] == 32
    assert 0.0 <= metrics["test_bleu_4"] <= metrics["test_bleu_1"] <= 1.0
    assert 0.0 <= metrics["test_exact_match"] <= 1.0
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
    script = (
        "import sys, tensorflow as tf\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "files = [open(p, 'rb').read() for p in sys.argv[2:]]\n"
        "out = f(image_bytes=tf.constant(files))['caption'].numpy()\n"
        "assert 'keras_seq' not in sys.modules\n"
        "print('\\n'.join(c.decode() for c in out))\n")
    proc = subprocess.run([sys.executable, "-c", script, str(run / "export"), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # One line per image; a caption may be empty (a model this small may end at once).
    assert proc.stdout.endswith("\n"), proc.stdout
    captions = proc.stdout[:-1].split("\n")[-len(paths):]
    assert len(captions) == len(paths), proc.stdout

    # Corrupt bytes: a clear error naming the accepted formats, not a caption of garbage.
    bad = subprocess.run(
        [sys.executable, "-c", "import sys, tensorflow as tf\n"
         "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
         "f(image_bytes=tf.constant([b'not an image at all']))", str(run / "export")],
        capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "not a JPEG, PNG, GIF or BMP image" in bad.stderr

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
    metrics = captioner.run(_args(tmp_path, "--rnn", "lstm", "--attention", "off",
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
        "--image-size", "32", "--embed-dim", "16", "--hidden-dim", "16",
        "--encoder-filters", "8,16", "--vocab-size", "300", "--verbose", "0"]),
        log=lambda line: None)
    assert metrics["dataset"] == "flickr8k" and metrics["test_images"] == 50
    run = next((tmp_path / "captioner").iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["images"] == {"train": 306, "validation": 43, "test": 50,
                                        "unsplit": 1}
    assert all(len(s["references"]) == 5 for s in metrics["test_samples"])


def test_bad_options_exit_with_code_2(tmp_path):
    for bad in (["--image-size", "8"], ["--encoder-filters", "8,x"],
                ["--backbone-weights", "w.h5"], ["--self-similarity-heads", "2",
                                                  "--self-similarity", "off"],
                ["--self-similarity", "on", "--backbone", "mobilenet_v2"]):
        proc = subprocess.run([sys.executable, "-m", "keras_seq.cli", "train", "captioner",
                               "--runs-root", str(tmp_path), *bad],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (bad, proc.stderr[-500:])
        assert bad[0] in proc.stderr


def test_generated_dataset_images_decode_like_the_export():
    """The in-process images (uint8 / 255) equal what the export decodes from PNG bytes."""
    import tensorflow as tf

    from keras_seq.data.images import decode_images
    from keras_seq.data.shape_scenes import generate_shape_scenes

    images, _ = generate_shape_scenes(["two small red circles", "a large blue square"],
                                      image_size=32, seed=1)
    decoded = decode_images(tf.constant(captioner._png_bytes(images)), 32).numpy()
    np.testing.assert_allclose(decoded, images / 255.0, atol=1e-6)


@pytest.mark.slow  # a second end-to-end run
def test_evaluate_only_reproduces_the_test_scores(tmp_path):
    metrics = captioner.run(_args(tmp_path), log=lambda line: None)
    run = next((tmp_path / "captioner").iterdir())
    again = captioner.run(captioner.build_parser().parse_args(
        ["--evaluate-only", "--run-dir", str(run)]), log=lambda line: None)
    for key in ("test_bleu_4", "test_exact_match", "test_samples"):
        assert again[key] == metrics[key], key
    assert (run / "metrics_greedy.json").is_file()
    with pytest.raises(ValueError, match="--run-dir"):
        captioner.run(captioner.build_parser().parse_args(["--evaluate-only"]))


def test_a_run_made_before_self_similarity_keeps_its_model(tmp_path):
    """config.json without the key: the run was trained without the score (its weights say so)."""
    old, new = tmp_path / "old", tmp_path / "new"
    for run, config in ((old, {"dataset": "shapes"}),
                        (new, {"dataset": "shapes", "self_similarity": "on"})):
        run.mkdir()
        (run / "config.json").write_text(json.dumps(config))
    parser = captioner.build_parser()
    parse = parser.parse_args

    def resumed(run):
        return captioner._resolve(captioner.restore_run_options(
            parse(["--run-dir", str(run)]), captioner.RESUMED_OPTIONS, log=lambda line: None,
            absent_in_old_runs=captioner.ABSENT_IN_OLD_RUNS))

    assert resumed(old).self_similarity == "off"
    assert resumed(new).self_similarity == "on"
    assert captioner._resolve(parse([])).self_similarity == "on"  # the shapes' default
    assert captioner._resolve(parse(["--dataset", "flickr8k"])).self_similarity == "off"
