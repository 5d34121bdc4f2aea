"""Image captioning (conditional Vec2Seq): a CNN encoder and an RNN decoder, optional attention.

Run it as `keras-seq train captioner [options]` or `python applications/captioner.py`.
Without `--data-dir` it trains on generated scenes of coloured shapes ("a small red circle
left of a large blue square", "two yellow triangles") whose test split holds only caption
combinations never seen in training; with `--dataset flickr8k` (or `--data-dir` holding
`Flickr8k.token.txt`) it trains on Flickr8k photos. It writes a run folder
`runs/captioner/<time>/` (TensorBoard logs with captioned images and attention maps per
word, backups, the SavedModel, config.json, metrics.json with BLEU-1..4 and exact match).

Images are decoded and resized once, in TensorFlow; the train step sees float images and
integer caption ids (so it can be XLA-compiled); the export puts image decoding, the CNN,
the compiled decode loop and the detokenizer into one SavedModel that takes image bytes.
"""

import argparse
import os
import sys
import time


from keras_seq.app_args import (
    add_run_arguments, apply_quick, compile_token_classifier, float_in, model_scope,
    open_finished_run, open_run, positive_int, resolve_jit, restore_run_options, run_main,
    training_callbacks)

APP_NAME = "captioner"
DEFAULTS = {
    "shapes": dict(train_size=20000, validation_size=1000, test_size=2000,
                   train_mix="0.2,0.6,0.2", image_size=64, max_caption_length=12,
                   vocab_size=1000, epochs=8, embed_dim=64, hidden_dim=192,
                   encoder_filters="16,32,64", region_attention_heads=2, twin_heads=0,
                   self_similarity="on", dropout=0.3),
    "flickr8k": dict(image_size=128, max_caption_length=20, vocab_size=5000, epochs=30,
                     embed_dim=128, hidden_dim=256, encoder_filters="32,64,128,256",
                     region_attention_heads=0, twin_heads=0, self_similarity="off", dropout=0.3),
}
QUICK = dict(train_size=3000, validation_size=300, test_size=300, epochs=2)
RESUMED_OPTIONS = (
    "dataset", "data_dir", "no_download", "train_size", "validation_size", "test_size",
    "train_mix", "image_size", "max_caption_length", "vocab_size", "augment", "rnn", "attention",
    "condition_on", "embed_dim", "hidden_dim", "encoder_filters", "encoder_pooling",
    "region_attention_heads", "twin_heads", "self_similarity", "self_similarity_heads", "backbone",
    "backbone_weights", "fine_tune_backbone", "dropout", "mixed_precision", "epochs",
    "batch_size", "learning_rate", "seed", "quick")
# Options newer than some runs, with the value those runs were made with.
ABSENT_IN_OLD_RUNS = {"self_similarity": "off"}


def _filters(text):
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"--encoder-filters must be comma-separated positive ints, got {text!r}")
    return ",".join(str(v) for v in values)


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"--region-attention-heads must be an int >= 0, got {text!r}")
    return value


def _mix(text):
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"--train-mix must be three fractions single,pair,count summing to 1, got {text!r}")
    return ",".join(f"{v:g}" for v in values)


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=("auto", "shapes", "flickr8k"), default="auto",
                   help="auto: flickr8k when --data-dir is given, else the generated shapes")
    g.add_argument("--data-dir", default=None,
                   help="Flickr8k folder in its original layout (Flickr8k.token.txt, "
                        "Flickr_8k.{train,dev,test}Images.txt, the image folder). Default: "
                        "$KERAS_SEQ_DATA_DIR/captions, ../shared/datasets/captions, the "
                        "cache, or a download")
    g.add_argument("--no-download", action="store_true", help="never try to download")
    for name in ("train-size", "validation-size", "test-size"):
        g.add_argument(f"--{name}", type=positive_int(f"--{name}"), default=None,
                       help="generated shapes only (default depends on --dataset)")
    g.add_argument("--train-mix", type=_mix, default=None,
                   help="generated shapes: fractions of single,pair,count captions in the "
                        "train split (held-out splits: pairs and counts 3:1)")
    for name in ("image-size", "max-caption-length", "vocab-size"):
        g.add_argument(f"--{name}", type=positive_int(f"--{name}"), default=None,
                       help="default depends on --dataset")
    g.add_argument("--augment", action="store_true",
                   help="random brightness/contrast/crop on training images (no flips: "
                        "captions say left and right)")
    g = parser.add_argument_group("model")
    g.add_argument("--rnn", choices=("gru", "lstm"), default="gru")
    g.add_argument("--attention", choices=("on", "off"), default="on",
                   help="Bahdanau attention over the image regions at every step")
    g.add_argument("--condition-on", choices=("both", "state", "input"), default="both",
                   help="the image sets the initial state, enters every step's input, or both")
    for name in ("embed-dim", "hidden-dim"):
        g.add_argument(f"--{name}", type=positive_int(f"--{name}"), default=None,
                       help="default depends on --dataset")
    g.add_argument("--encoder-filters", type=_filters, default=None,
                   help="channels of our conv encoder's stages, e.g. 32,64,128 (each stage "
                        "halves the resolution)")
    g.add_argument("--encoder-pooling", choices=("both", "flatten", "mean"), default="both",
                   help="the global image vector reads the conv grid flattened (where things "
                        "are), averaged (what is there, wherever it is: helps counting), or both")
    g.add_argument("--region-attention-heads", type=_nonnegative_int, default=None,
                   help="self-attention over the image regions inside the encoder (0 = off): "
                        "lets the encoder compare regions (same/different, counting); "
                        "default depends on --dataset")
    g.add_argument("--twin-heads", type=_nonnegative_int, default=None,
                   help="heads of RegionTwinScores in the encoder (0 = off): a similarity "
                        "between regions far apart, so 'two X' (identical objects) can carry "
                        "over to new combinations; default depends on --dataset")
    g.add_argument("--self-similarity", choices=("on", "off"), default=None,
                   help="append how strongly the image repeats itself under a shift "
                        "(ImageSelfSimilarity: its autocorrelation peak, 1/2 for two "
                        "identical objects whatever they are) to the global image vector; "
                        "default: on for the shapes, off for Flickr8k and with --backbone")
    g.add_argument("--self-similarity-heads", type=_nonnegative_int, default=0,
                   help="learned ImageSelfSimilarity heads over the first conv stage, "
                        "appended too (needs --self-similarity on)")
    g.add_argument("--backbone", choices=("none", "mobilenet_v2", "resnet50",
                                          "efficientnet_b0"), default="none",
                   help="a keras.applications CNN instead of our conv stack (random init "
                        "unless --backbone-weights; nothing is downloaded)")
    g.add_argument("--backbone-weights", default=None,
                   help="weights file of the headless backbone (e.g. saved with save_weights)")
    g.add_argument("--fine-tune-backbone", action="store_true",
                   help="train the backbone too (default: frozen)")
    g.add_argument("--dropout", type=float_in("--dropout", 0.0, 1.0), default=None,
                   help="dropout on the image vector, embeddings and RNN outputs (default 0.3)")
    g.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16 policy")
    g.add_argument("--sampler", choices=("greedy", "beam"), default="greedy",
                   help="decoding for the test split and the export (default greedy)")
    g.add_argument("--num-beams", type=positive_int("--num-beams"), default=4)
    g.add_argument("--evaluate-only", action="store_true",
                   help="with --run-dir of a finished run: caption its test split again with "
                        "--sampler (e.g. beam) and write metrics_<sampler>.json; no training")
    add_run_arguments(parser, default_epochs=None, default_batch_size=64,
                      quick_help="smoke run: 3000 training scenes, 2 epochs (checks the "
                                 "whole pipeline in ~1 min; too short to learn captions)")
    return parser


def _resolve(args, log=print):
    if args.dataset == "auto":
        args.dataset = "flickr8k" if args.data_dir else "shapes"
    if args.backbone_weights and args.backbone == "none":
        raise ValueError("--backbone-weights needs --backbone (mobilenet_v2, resnet50 or "
                         "efficientnet_b0)")
    if getattr(args, "self_similarity", None) == "on" and args.backbone != "none":
        raise ValueError("--self-similarity is a feature of our conv encoder; not with "
                         "--backbone")
    if args.dataset == "flickr8k":
        given = [f"--{k.replace('_', '-')}" for k in ("train_size", "validation_size",
                                                      "test_size", "train_mix")
                 if getattr(args, k, None) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: for the generated shapes only; Flickr8k "
                             "uses its official train/dev/test split lists")
    # --quick sets what the command line left unset (None); given options win over it.
    apply_quick(args, QUICK if args.dataset == "shapes" else dict(epochs=QUICK["epochs"]), log)
    for key, value in DEFAULTS[args.dataset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.backbone != "none":
        args.self_similarity = "off"
    if getattr(args, "self_similarity_heads", 0) and args.self_similarity != "on":
        raise ValueError("--self-similarity-heads needs --self-similarity on")
    if args.image_size < 32:
        raise ValueError(f"--image-size must be >= 32, got {args.image_size}")
    return args


def load_data(args, log):
    """Returns `(splits, info)`: split -> (uint8 images (N, S, S, 3), lists of references)."""
    if args.dataset == "shapes":
        from keras_seq.data.shape_scenes import shape_scene_splits

        mix = dict(zip(("single", "pair", "count"), map(float, args.train_mix.split(","))))
        data = shape_scene_splits(args.train_size, args.validation_size, args.test_size,
                                  image_size=args.image_size, seed=args.seed,
                                  train_kind_fractions=mix)
        splits = {name: (data[name][0], [[c] for c in data[name][1]])
                  for name in ("train", "validation", "test")}
        # The full lists of combinations go to combinations.json, not into every log line.
        info = {"dataset": "shapes", "source": "generated by keras_seq.data.shape_scenes",
                **{k: v for k, v in data["info"].items() if k != "combinations"}}
        splits["combinations"] = data["info"]["combinations"]
    else:
        from keras_seq.data.flickr8k import flickr8k_info, locate_flickr8k, read_flickr8k

        root = locate_flickr8k(args.data_dir, download=not args.no_download, log=log)
        listed = read_flickr8k(root)
        splits = {}
        for name in ("train", "validation", "test"):
            paths = [p for p, _ in listed[name]]
            log(f"Decoding {len(paths)} {name} images to {args.image_size}x{args.image_size} ...")
            splits[name] = (_decode_files(paths, args.image_size), [c for _, c in listed[name]])
        info = {"dataset": "flickr8k", "root": str(root), **flickr8k_info(listed)}
    for name in ("train", "validation", "test"):
        info[f"{name}_images"] = len(splits[name][0])
    return splits, info


def _decode_files(paths, image_size):
    import numpy as np
    import tensorflow as tf

    from keras_seq.data.images import image_file_dataset

    if not paths:
        return np.zeros((0, image_size, image_size, 3), "uint8")
    ds = image_file_dataset(paths, image_size).batch(64)
    return np.concatenate([np.asarray(tf.cast(tf.round(b * 255.0), tf.uint8)) for b in ds])


def _tokenizer(args, splits, run_dir):
    from keras_seq.data.sequence_tokenizer import SequenceTokenizer

    saved = run_dir.read_json("tokenizers.json")
    if saved:  # a resumed run keeps its vocabulary (its embeddings depend on it)
        return SequenceTokenizer(**saved["caption"])
    captions = (c for refs in splits["train"][1] for c in refs)
    tokenizer = SequenceTokenizer.build_from_texts(captions, max_tokens=args.vocab_size,
                                                   name="caption_tokenizer")
    run_dir.write_json("tokenizers.json", {"caption": tokenizer.get_config()})
    return tokenizer


def make_dataset(images, references, tokenizer, args, training):
    """tf.data of ({"image", "caption_in"}, caption_out, weights).

    Each image appears once per epoch; in training it gets one of its references drawn at
    random every time (Flickr8k has 5), otherwise the first.
    """
    import numpy as np
    import tensorflow as tf

    most = max(len(r) for r in references)
    flat = [r[i] if i < len(r) else "" for r in references for i in range(most)]
    ids = tokenizer.tokenize(flat, args.max_caption_length + 1, add_start_end=True).numpy()
    ids = ids.reshape(len(references), most, -1)  # (N, R, L+1)
    counts = np.array([len(r) for r in references], "int32")
    ds = tf.data.Dataset.from_tensor_slices((images, ids, counts))
    if training:
        ds = ds.shuffle(len(images), seed=args.seed, reshuffle_each_iteration=True)
    # Per-example seeds (2 int64 each) for the reference draw and the augmentation.
    seeds = tf.data.Dataset.random(seed=args.seed).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds)

    def to_example(example, seed):
        from keras_seq.data.images import augment_image

        image, caption_ids, count = example
        pick = 0
        if training:
            pick = tf.random.stateless_uniform((), seed, 0, count, dtype=tf.int32)
        caption = caption_ids[pick]
        x = tf.cast(image, tf.float32) / 255.0
        if training and args.augment:
            x = augment_image(x, seed)
        weights = tf.cast(caption[1:] != 0, tf.float32)
        return {"image": x, "caption_in": caption[:-1]}, caption[1:], weights

    ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)


def build_model(args, vocab_size):
    from keras_seq.models import ImageCaptioner

    return ImageCaptioner(
        vocab_size, image_size=args.image_size, embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim, rnn=args.rnn, attention=args.attention == "on",
        condition_on=args.condition_on,
        encoder_filters=tuple(int(v) for v in args.encoder_filters.split(",")),
        encoder_pooling=getattr(args, "encoder_pooling", "both"),
        encoder_self_attention_heads=args.region_attention_heads or 0,
        encoder_twin_heads=getattr(args, "twin_heads", None) or 0,
        encoder_self_similarity=getattr(args, "self_similarity", "off") == "on",
        encoder_self_similarity_heads=getattr(args, "self_similarity_heads", 0) or 0,
        backbone=None if args.backbone == "none" else args.backbone,
        backbone_weights=args.backbone_weights, trainable_backbone=args.fine_tune_backbone,
        dropout=args.dropout)


def _sampler(args):
    from keras_seq.generation import get_sampler

    return get_sampler("beam", num_beams=args.num_beams) if args.sampler == "beam" else "greedy"


def caption_images(model, images, tokenizer, max_caption_length, sampler="greedy",
                   batch_size=128, jit=True):
    """Captions uint8 images `(N, S, S, 3)` in batches with one compiled loop; returns strings."""
    import tensorflow as tf

    decode = tf.function(lambda x: model.generate(x, max_caption_length + 1, sampler=sampler),
                         jit_compile=jit, autograph=False)
    out = []
    for i in range(0, len(images), batch_size):
        x = tf.cast(images[i:i + batch_size], tf.float32) / 255.0
        out += [t.decode("utf-8") for t in tokenizer.detokenize(decode(x)).numpy()]
    return out


def score_test_split(model, images, references, tokenizer, args):
    """Captions the test images with `--sampler`; returns (captions, metrics dict)."""
    from keras_seq.metrics import caption_bleu, caption_exact_match

    started = time.time()
    hypotheses = caption_images(model, images, tokenizer, args.max_caption_length,
                                _sampler(args), jit=resolve_jit("auto", "inference"))
    seconds = time.time() - started
    bleu = caption_bleu(hypotheses, references)
    by_kind, errors = {}, []
    if args.dataset == "shapes":  # exact match per caption kind (single / pair / count)
        import collections

        from keras_seq.data.shape_scenes import caption_kind

        kinds = [caption_kind(r[0]) for r in references]
        for kind in sorted(set(kinds)):
            idx = [i for i, k in enumerate(kinds) if k == kind]
            by_kind[kind] = caption_exact_match([hypotheses[i] for i in idx],
                                                [references[i] for i in idx])
        # The most frequent mistakes, "reference -> caption" with how often (one reference each).
        wrong = collections.Counter((r[0], h) for h, r in zip(hypotheses, references)
                                    if h not in r)
        errors = [{"reference": r, "caption": h, "times": n} for (r, h), n in
                  wrong.most_common(10)]
    return hypotheses, {
        "sampler": args.sampler, "num_beams": args.num_beams if args.sampler == "beam" else None,
        **{f"test_{k}": v for k, v in bleu.items()},
        "test_bleu_note": "corpus BLEU-n (sacreBLEU 13a, lowercased) against all references "
                          "of each image, 0-1 scale",
        "test_exact_match": caption_exact_match(hypotheses, references),
        "test_exact_match_by_kind": by_kind,
        "test_frequent_errors": errors,
        "test_images": len(references),
        "test_decode_ms_per_image": 1000 * seconds / max(1, len(references)),
        "test_samples": [{"caption": h, "references": r}
                         for h, r in zip(hypotheses[:10], references[:10])],
    }


def _png_bytes(images):
    import tensorflow as tf

    return [tf.io.encode_png(image).numpy() for image in images]


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates (BLEU-1..4, exact match) and exports; returns the metrics dict."""
    if getattr(args, "evaluate_only", False):
        return evaluate_run(args, log)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from keras_seq.callbacks import CaptionSamples
    from keras_seq.export.captioner_module import CaptionerServingModule

    args = _resolve(restore_run_options(args, RESUMED_OPTIONS, log, ABSENT_IN_OLD_RUNS), log)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    jit = resolve_jit(args.jit_compile, "train")
    jit_decode = resolve_jit("auto", "inference")

    splits, data_info = load_data(args, log)
    run_dir = open_run(APP_NAME, args, data_info, log, jit_compile_resolved=jit)
    if "combinations" in splits:
        run_dir.write_json("combinations.json", splits["combinations"])

    tokenizer = _tokenizer(args, splits, run_dir)
    train_ds = make_dataset(*splits["train"], tokenizer, args, training=True)
    val_ds = make_dataset(*splits["validation"], tokenizer, args, training=False)

    keras.config.set_dtype_policy("mixed_bfloat16" if args.mixed_precision else "float32")
    with model_scope():  # the --strategy scope (a no-op without one)
        model = build_model(args, tokenizer.vocabulary_size)
        steps = -(-len(splits["train"][0]) // args.batch_size) * args.epochs
        compile_token_classifier(model, args, steps, jit, max_warmup_steps=500)
        model.build()
    log(f"Captioner ({args.rnn}, attention {args.attention}, image -> {args.condition_on}, "
        f"encoder {args.backbone if args.backbone != 'none' else args.encoder_filters}): "
        f"{model.count_params():,} parameters; vocabulary {tokenizer.vocabulary_size}; "
        f"{model.grid_shape[0]}x{model.grid_shape[1]} regions; XLA train step: {jit}.")

    shown_images, shown_refs = splits["validation"][0][:4], splits["validation"][1][:4]
    samples = CaptionSamples(run_dir.logs / "validation", shown_images, shown_refs, tokenizer,
                             args.max_caption_length)
    callbacks, budget = training_callbacks(run_dir, args, [samples], extra_callbacks, log)
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose, shuffle=False)
    fit_seconds = time.time() - fit_started
    model.save_weights(str(run_dir.file("model.weights.h5")))

    test_images, test_refs = splits["test"]
    hypotheses, test_metrics = score_test_split(model, test_images, test_refs, tokenizer, args)

    module = CaptionerServingModule(model, tokenizer, args.max_caption_length,
                                    sampler=_sampler(args), jit_compile=jit_decode)
    module.save(run_dir.export)
    serving = tf.saved_model.load(str(run_dir.export)).signatures["serving_default"]
    check = min(16, len(test_images))
    exported = [c.decode("utf-8") for c in serving(
        image_bytes=tf.constant(_png_bytes(test_images[:check])))["caption"].numpy()]
    export_agrees = exported == hypotheses[:check]

    metrics = {
        "dataset": args.dataset, "rnn": args.rnn, "attention": args.attention,
        "condition_on": args.condition_on, "backbone": args.backbone, **test_metrics,
        "epochs": args.epochs, "epochs_run": len(history.history.get("loss", [])),
        "time_budget_minutes": args.time_budget_minutes,
        "stopped_by_time_budget": budget.stopped_at if budget else None,
        "parameters": int(model.count_params()),
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "export_matches_in_process_decoding": export_agrees,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    log(f"DATA: {data_info}")
    bleu = ", ".join(f"BLEU-{n} {metrics[f'test_bleu_{n}']:.3f}" for n in range(1, 5))
    log(f"Test ({metrics['test_images']} images, {args.sampler}): {bleu}; exact match "
        f"{metrics['test_exact_match']:.3f} {metrics['test_exact_match_by_kind'] or ''}; fit "
        f"{fit_seconds:.0f} s; decoding "
        f"{metrics['test_decode_ms_per_image']:.1f} ms/image.")
    for sample in metrics["test_samples"][:4]:
        log(f"  {sample['caption']!r:50} ref {sample['references'][0]!r}")
    log(f"Export (serving_default: image_bytes -> caption): {run_dir.export}  "
        f"(agrees with in-process decoding: {export_agrees})")
    log(f"Predict: keras-seq predict {run_dir.export} IMAGE.jpg ...")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def evaluate_run(args, log=print):
    """`--evaluate-only`: captions the test split of a finished run again, e.g. with beam search.

    Rebuilds the data (the generated scenes are deterministic for the stored seed and sizes;
    Flickr8k is read again), the tokenizer (`tokenizers.json`) and the model (`config.json`),
    loads `model.weights.h5` and writes `metrics_<sampler>.json`. Nothing is trained.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from keras_seq.data.sequence_tokenizer import SequenceTokenizer

    run_dir, args = open_finished_run(APP_NAME, args, ("tokenizers.json", "model.weights.h5"),
                                      RESUMED_OPTIONS, ABSENT_IN_OLD_RUNS)
    args = _resolve(args, log)
    saved, weights = run_dir.read_json("tokenizers.json"), run_dir.file("model.weights.h5")
    splits, _ = load_data(args, log)
    tokenizer = SequenceTokenizer(**saved["caption"])
    keras.config.set_dtype_policy("mixed_bfloat16" if args.mixed_precision else "float32")
    model = build_model(args, tokenizer.vocabulary_size)
    model.build()
    model.load_weights(str(weights))
    _, scores = score_test_split(model, *splits["test"], tokenizer, args)
    metrics = {"dataset": args.dataset, "attention": args.attention, "weights": str(weights),
               **scores}
    out = run_dir.write_json(f"metrics_{args.sampler}.json", metrics)
    log(f"{args.run_dir}, {args.sampler} decoding: BLEU-4 {metrics['test_bleu_4']:.3f}, exact "
        f"match {metrics['test_exact_match']:.3f} on {metrics['test_images']} test images -> "
        f"{out}")
    return metrics


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(
        prog="captioner", description="Train, evaluate and export an image captioner.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/captioner.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
