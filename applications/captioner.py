"""Image captioning: the `captioner` task (image bytes → CNN → GRU/LSTM decoder → caption).

Run it as `keras-seq train captioner [options]` or `python applications/captioner.py`.
Without `--data-dir` it trains on generated scenes of coloured shapes ("a small red circle
left of a large blue square", "two yellow triangles") whose test split holds only caption
combinations never seen in training; with `--dataset flickr8k` (or `--data-dir` holding
`Flickr8k.token.txt`) it trains on Flickr8k photos. It writes a run folder
`runs/captioner/<time>/` (TensorBoard logs with captioned images and attention maps per
word, backups, task.kseq, the SavedModel, config.json, metrics.json with BLEU-1..4 and exact
match). The task decodes the image bytes in `tf.data` and in the export with one function.
"""

import dataclasses
import sys
import time

from keras_seq.lifecycle import (AppConfig, Application, entry_points, fraction, option,
                                 positive_int)

DEFAULTS = {
    "shapes": dict(train_size=20000, validation_size=1000, test_size=2000,
                   train_mix="0.2,0.6,0.2", image_size=64, max_caption_length=12,
                   vocabulary_size=1000, epochs=8, embedding_dim=64, hidden_dim=192,
                   encoder_filters="16,32,64", encoder_pooling="flatten",
                   region_attention_heads=2, twin_heads=0, self_similarity="on", dropout=0.3),
    "flickr8k": dict(image_size=128, max_caption_length=20, vocabulary_size=5000, epochs=30,
                     embedding_dim=128, hidden_dim=256, encoder_filters="32,64,128,256",
                     encoder_pooling="both", region_attention_heads=0, twin_heads=0,
                     self_similarity="off", dropout=0.3),
}
QUICK_SHAPES = dict(train_size=3000, validation_size=300, test_size=300)
SHAPES_ONLY = ("train_size", "validation_size", "test_size", "train_mix")


def _filters(text):
    values = tuple(int(v) for v in str(text).split(","))
    if not values or any(v <= 0 for v in values):
        raise ValueError
    return ",".join(str(v) for v in values)


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _mix(text):
    values = [float(v) for v in str(text).split(",")]
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError("three fractions single,pair,count summing to 1")
    return ",".join(f"{v:g}" for v in values)


def _by_dataset(help, type=positive_int, group="data", **kwargs):
    return option(None, group, help + " (default depends on --dataset)", type=type, **kwargs)


@dataclasses.dataclass
class CaptionerConfig(AppConfig):
    """The options of `keras-seq train captioner`."""

    APP = "captioner"

    dataset: str = option("auto", "data", "auto: flickr8k with --data-dir, else the generated "
                          "shapes", choices=("auto", "shapes", "flickr8k"))
    data_dir: str = option(None, "data", "Flickr8k folder in its original layout. Default: "
                           "$KERAS_SEQ_DATA_DIR/captions, ../shared/datasets/captions, the "
                           "cache, or a download")
    no_download: bool = option(False, "data", "never try to download")
    train_size: int = _by_dataset("generated shapes: training scenes (--quick: 3000)")
    validation_size: int = _by_dataset("generated shapes: validation scenes (--quick: 300)")
    test_size: int = _by_dataset("generated shapes: test scenes (--quick: 300)")
    train_mix: str = _by_dataset("generated shapes: fractions of single,pair,count captions "
                                 "in the train split", type=_mix)
    image_size: int = _by_dataset("side of the square images (>= 32)")
    max_caption_length: int = _by_dataset("caption tokens, [END] included")
    vocabulary_size: int = _by_dataset("caption vocabulary size", renamed_from="vocab_size")
    augment: bool = option(False, "data", "random brightness/contrast/crop on training images "
                           "(no flips: captions say left and right)")
    rnn: str = option("gru", "model", "decoder cell", choices=("gru", "lstm"))
    attention: str = option("on", "model", "Bahdanau attention over the image regions",
                            choices=("on", "off"))
    condition_on: str = option("both", "model", "the image sets the initial state, enters "
                               "every step's input, or both", choices=("both", "state", "input"))
    embedding_dim: int = _by_dataset("word and image vector size", group="model",
                                     renamed_from="embed_dim")
    hidden_dim: int = _by_dataset("RNN state size", group="model")
    encoder_filters: str = _by_dataset("channels of the conv encoder's stages, e.g. 32,64,128",
                                       type=_filters, group="model")
    encoder_pooling: str = _by_dataset("the global image vector: the conv grid flattened "
                                       "(where), averaged (what), or both; the shapes' "
                                       "flatten was chosen on validation over both",
                                       type=str, group="model",
                                       choices=("both", "flatten", "mean"))
    region_attention_heads: int = _by_dataset("self-attention heads over the image regions in "
                                              "the encoder (0 = off)", _non_negative_int,
                                              "model")
    twin_heads: int = _by_dataset("RegionTwinScores heads in the encoder (0 = off)",
                                  _non_negative_int, "model")
    self_similarity: str = option(
        None, "model", "append the image's self-similarity under a shift (ImageSelfSimilarity) "
        "to its vector; default: on for the shapes, off for Flickr8k and with --backbone",
        choices=("on", "off"), before="off")
    self_similarity_heads: int = option(0, "model", "learned ImageSelfSimilarity heads (needs "
                                        "--self-similarity on)", type=_non_negative_int)
    backbone: str = option("none", "model", "a keras.applications CNN instead of our conv "
                           "stack (random init unless --backbone-weights)",
                           choices=("none", "mobilenet_v2", "resnet50", "efficientnet_b0"))
    backbone_weights: str = option(None, "model", "weights file of the headless backbone")
    fine_tune_backbone: bool = option(False, "model", "train the backbone too")
    dropout: float = _by_dataset("dropout rate", type=fraction, group="model")
    mixed_precision: bool = option(False, "model", "mixed_bfloat16 policy")
    epochs: int = _by_dataset("passes over the training data", group="training", quick=2)
    sampler: str = option("greedy", "decoding", "decoding of the test split and the export",
                          choices=("greedy", "beam"), resumed=False)
    num_beams: int = option(4, "decoding", "beam width", type=positive_int, resumed=False)
    evaluate_only: bool = option(False, "decoding", "with --run-dir of a finished run: caption "
                                 "its test split again with --sampler; no training",
                                 resumed=False)


class CaptionerApplication(Application):
    """Trains the `captioner` task, scores BLEU on the test split once, exports it."""

    config_class = CaptionerConfig
    description = "Train, evaluate and export an image captioner."
    export_input = "image_bytes"

    def resolve(self, config):
        dataset = config.dataset
        if dataset == "auto":
            dataset = "flickr8k" if config.data_dir else "shapes"
        if config.backbone_weights and config.backbone == "none":
            raise ValueError("--backbone-weights needs --backbone (mobilenet_v2, resnet50 or "
                             "efficientnet_b0)")
        if config.self_similarity == "on" and config.backbone != "none":
            raise ValueError("--self-similarity is a feature of our conv encoder; not with "
                             "--backbone")
        given = [f"--{k.replace('_', '-')}" for k in SHAPES_ONLY if getattr(config, k)]
        if dataset == "flickr8k" and given:
            raise ValueError(f"{', '.join(given)}: for the generated shapes only; Flickr8k "
                             "uses its official train/dev/test split lists")
        defaults = dict(DEFAULTS[dataset], **(QUICK_SHAPES if config.quick and
                                               dataset == "shapes" else {}))
        if config.backbone != "none":
            defaults["self_similarity"] = "off"
        config = dataclasses.replace(config, dataset=dataset, **{
            k: v for k, v in defaults.items() if getattr(config, k) is None})
        if config.self_similarity_heads and config.self_similarity != "on":
            raise ValueError("--self-similarity-heads needs --self-similarity on")
        if config.image_size < 32:
            raise ValueError(f"--image-size must be >= 32, got {config.image_size}")
        return config

    def load_data(self, config, log):
        """Splits of (PNG bytes, or Flickr8k image paths read when used; references)."""
        if config.dataset == "shapes":
            from keras_seq.data.shape_scenes import png_bytes, shape_scene_splits

            mix = dict(zip(("single", "pair", "count"), map(float, config.train_mix.split(","))))
            data = shape_scene_splits(config.train_size, config.validation_size,
                                      config.test_size, image_size=config.image_size,
                                      seed=config.seed, train_kind_fractions=mix)
            splits = {name: (png_bytes(data[name][0]), [[c] for c in data[name][1]])
                      for name in ("train", "validation", "test")}
            # The lists of combinations go to combinations.json, not into every log line.
            splits["combinations"] = data["info"].pop("combinations")
            info = {"dataset": "shapes", "description": "generated by "
                    "keras_seq.data.shape_scenes", **data["info"]}
        else:
            from keras_seq.data.flickr8k import flickr8k_info, locate_flickr8k, read_flickr8k

            root = locate_flickr8k(config.data_dir, download=not config.no_download, log=log)
            listed = read_flickr8k(root)
            splits = {name: ([p for p, _ in listed[name]], [c for _, c in listed[name]])
                      for name in ("train", "validation", "test")}
            info = {"dataset": "flickr8k", "root": str(root), "description": str(root),
                    **flickr8k_info(listed)}
        info.update({f"{name}_images": len(splits[name][0])
                     for name in ("train", "validation", "test")})
        return splits, info

    def build_task(self, config, splits, run_dir, log):
        if "combinations" in splits:
            run_dir.write_json("combinations.json", splits["combinations"])
        task = build_task(config, splits, run_dir)
        train_ds, _ = task.dataset(*_task_input(splits["train"], config.seed), shuffle=True,
                                   batch_size=config.batch_size, seed=config.seed)
        val_ds, _ = task.dataset(*_task_input(splits["validation"]),
                                 batch_size=config.batch_size)
        grid = task.network.grid_shape
        log(f"Captioner ({config.rnn}, attention {config.attention}, image -> "
            f"{config.condition_on}): vocabulary {task.preprocessor.tokenizer.vocabulary_size};"
            f" {grid[0]}x{grid[1]} regions.")
        return task, train_ds, val_ds, None

    def callbacks(self, task, config, splits, run_dir):
        from keras_seq.callbacks import CaptionSamples

        images, references = splits["validation"][0][:4], splits["validation"][1][:4]
        shown = task.preprocessor.decode_images(_image_bytes(images)).numpy()
        return [CaptionSamples(run_dir.logs / "validation", shown, references,
                               task.preprocessor.tokenizer, config.max_caption_length,
                               decode=task.decoder("greedy", jit_compile=False))]

    def evaluate(self, task, config, splits, history, run_dir, log):
        task.network.save_weights(str(run_dir.file("model.weights.h5")))  # --evaluate-only
        self.test_images = _image_bytes(splits["test"][0])
        self.hypotheses, scores = score_test_split(task, self.test_images, splits["test"][1],
                                                   config)
        run_dir.file("examples").mkdir(exist_ok=True)  # test images for `keras-seq predict`
        self.example_files = [str(run_dir.file(f"examples/test_{i}.{_suffix(data)}"))
                              for i, data in enumerate(self.test_images[:3])]
        for path, data in zip(self.example_files, self.test_images):
            with open(path, "wb") as f:
                f.write(data)
        return {"rnn": config.rnn, "attention": config.attention,
                "condition_on": config.condition_on, "backbone": config.backbone,
                "parameters": int(task.network.count_params()), **scores}

    def examples(self, config):
        return self.example_files

    def example_inputs(self, examples):
        return _image_bytes(examples)

    def check_export(self, task, config, splits, serving):
        import tensorflow as tf

        exported = serving(image_bytes=tf.constant(self.test_images[:16], tf.string))
        return {"export_matches_in_process_decoding": self.hypotheses[:16] == [
            c.decode("utf-8") for c in exported["caption"].numpy()]}

    def summary(self, config, metrics, run_dir):
        bleu = ", ".join(f"BLEU-{n} {metrics[f'test_bleu_{n}']:.3f}" for n in range(1, 5))
        return [f"Test ({metrics['test_images']} images, {config.sampler}): {bleu}; exact "
                f"match {metrics['test_exact_match']:.3f}{_by_kind(metrics)}; decoding "
                f"{metrics['test_decode_ms_per_image']:.1f} ms/image; the export agrees with "
                f"in-process decoding: {metrics['export_matches_in_process_decoding']}.",
                *[f"  {s['caption']!r:50} ref {s['references'][0]!r}"
                  for s in metrics["test_samples"][:4]]]

    def rescore(self, config, run_dir, log):
        """`--evaluate-only`: captions the test split again (the scenes are deterministic for
        the stored seed and sizes) with `--sampler`; writes `metrics_<sampler>.json`."""
        splits, _ = self.load_data(config, log)
        task = build_task(config, splits, run_dir)
        task.network.load_weights(str(run_dir.file("model.weights.h5")))
        _, scores = score_test_split(task, _image_bytes(splits["test"][0]), splits["test"][1],
                                     config)
        metrics = {"dataset": config.dataset, "attention": config.attention,
                   "weights": str(run_dir.file("model.weights.h5")), **scores}
        return (f"metrics_{config.sampler}.json", metrics,
                f"BLEU-4 {metrics['test_bleu_4']:.3f}, exact match "
                f"{metrics['test_exact_match']:.3f} on {metrics['test_images']} test images")


def _by_kind(metrics):
    """Exact match per caption kind, e.g. " (count 0.950, pair 0.980)"; "" if not scored."""
    kinds = metrics.get("test_exact_match_by_kind") or {}
    return " (" + ", ".join(f"{k} {v:.3f}" for k, v in kinds.items()) + ")" if kinds else ""


def _suffix(data):
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def _image_bytes(images):
    """Image bytes as they are; image files (Flickr8k paths) are read."""
    return [i if isinstance(i, bytes) else open(i, "rb").read() for i in images]


def _task_input(split, shuffle_seed=None):
    """`Captioner.dataset`'s input: lists of bytes, or a dataset reading the image files."""
    images, references = split
    if not images or isinstance(images[0], bytes):
        return images, references
    import tensorflow as tf

    most = max(len(r) for r in references)
    refs = tf.constant([r + [""] * (most - len(r)) for r in references], tf.string)
    ds = tf.data.Dataset.from_tensor_slices((images, refs))
    if shuffle_seed is not None:  # shuffle the paths, not the files' bytes
        ds = ds.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    return (ds.map(lambda path, r: (tf.io.read_file(path), r),
                   num_parallel_calls=tf.data.AUTOTUNE),)


def build_task(config, splits, run_dir):
    """A fresh `Captioner` of the config; its vocabulary learnt, or a resumed run's."""
    from keras_seq.tasks import Captioner, CaptionerPreprocessor
    from keras_seq.tasks.captioner import build_network

    saved = run_dir.read_json("tokenizers.json")
    if saved:  # a resumed run keeps its vocabulary (its embeddings depend on it)
        preprocessor = CaptionerPreprocessor(saved["caption"], config.image_size,
                                             config.max_caption_length)
    else:
        preprocessor = CaptionerPreprocessor.build_from_captions(
            splits["train"][1], config.vocabulary_size, config.image_size,
            config.max_caption_length)
        run_dir.write_json("tokenizers.json", {"caption": preprocessor.tokenizer.get_config()})
    network = build_network(
        preprocessor.tokenizer.vocabulary_size, config.image_size, config.embedding_dim,
        config.hidden_dim, config.rnn, config.attention == "on", config.condition_on,
        tuple(int(v) for v in config.encoder_filters.split(",")), config.encoder_pooling,
        config.region_attention_heads, config.twin_heads, config.self_similarity == "on",
        config.self_similarity_heads, None if config.backbone == "none" else config.backbone,
        config.backbone_weights, config.fine_tune_backbone, config.dropout)
    return Captioner(network, preprocessor, augment=config.augment, sampler=config.sampler,
                     num_beams=config.num_beams)


def score_test_split(task, images, references, config):
    """Captions the test images with `--sampler`; returns (captions, metrics dict)."""
    import collections

    from keras_seq.metrics import caption_bleu, caption_exact_match

    started = time.time()
    hypotheses = task.generate(images, sampler=config.sampler)
    seconds = time.time() - started
    by_kind, errors = {}, []
    if config.dataset == "shapes":  # exact match per caption kind (single / pair / count)
        from keras_seq.data.shape_scenes import caption_kind

        kinds = [caption_kind(r[0]) for r in references]
        for kind in sorted(set(kinds)):
            pairs = [(h, r) for h, r, k in zip(hypotheses, references, kinds) if k == kind]
            by_kind[kind] = caption_exact_match(*zip(*pairs))
        # The most frequent mistakes, "reference -> caption" with how often (one reference each).
        wrong = collections.Counter((r[0], h) for h, r in zip(hypotheses, references)
                                    if h not in r)
        errors = [{"reference": r, "caption": h, "times": n}
                  for (r, h), n in wrong.most_common(10)]
    return hypotheses, {
        "sampler": config.sampler,
        "num_beams": config.num_beams if config.sampler == "beam" else None,
        **{f"test_{k}": v for k, v in caption_bleu(hypotheses, references).items()},
        "test_bleu_note": "corpus BLEU-n (sacreBLEU 13a, lowercased) against all references "
                          "of each image, 0-1 scale",
        "test_exact_match": caption_exact_match(hypotheses, references),
        "test_exact_match_by_kind": by_kind, "test_frequent_errors": errors,
        "test_images": len(references),
        "test_decode_ms_per_image": 1000 * seconds / max(1, len(references)),
        "test_samples": [{"caption": h, "references": r}
                         for h, r in zip(hypotheses[:10], references[:10])]}


APPLICATION = CaptionerApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
