"""IMDB sentiment: raw reviews -> TextVectorization -> BiRNN classifier -> fit -> evaluate -> export.

Run it as `keras-seq train imdb [options]` or `python applications/imdb_sentiment.py [options]`.
Without options it trains on the real IMDB reviews when they are found (see `--data-dir`) and
otherwise on a generated review corpus (said loudly), writes a run folder
`runs/imdb/<time>/` (TensorBoard logs, backups, SavedModel export, config.json, metrics.json)
and prints a summary with predictions of the exported model.

String processing (standardize, split, vocabulary lookup) happens once, outside the training
step, in tf.data/TensorFlow; the model trains on integer ids, so the whole train step can be
XLA-compiled (`--jit-compile on`). The export puts the same string processing in front of
the model.
"""

import argparse
import os
import pathlib
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_seq.app_args import (  # noqa: E402
    add_output_arguments, float_in, model_scope, positive_int, restore_run_options, run_main)

APP_NAME = "imdb"
EXAMPLES = ("this movie is so great", "this movie is so bad")
QUICK = {"train_size": 4000, "test_size": 1000, "batch_size": 32, "epochs": 1, "max_length": 200,
         "vocab_size": 10000}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    g.add_argument("--data-dir", default=None,
                   help="folder with the IMDB data: aclImdb/{train,test}/{pos,neg}/*.txt (or "
                        "the folder holding aclImdb/), or train.jsonl.gz + test.jsonl.gz. "
                        "Default: $KERAS_SEQ_DATA_DIR, ../shared/datasets/imdb, the cache, "
                        "or a download")
    g.add_argument("--dataset", choices=("auto", "imdb", "synthetic"), default="auto",
                   help="auto: real IMDB data if found/downloadable, else the generated "
                        "corpus; imdb: real data or an error; synthetic: the generated corpus")
    g.add_argument("--no-download", action="store_true", help="never try to download")
    g.add_argument("--val-fraction", type=float_in("--val-fraction", 0.0, 1.0, low_open=True),
                   default=0.1,
                   help="share of the training reviews held out for validation (default 0.1)")
    g.add_argument("--train-size", type=positive_int("--train-size"), default=None,
                   help="use only this many training reviews (seeded sample)")
    g.add_argument("--test-size", type=positive_int("--test-size"), default=None,
                   help="evaluate on only this many test reviews (seeded sample)")
    g = parser.add_argument_group("model")
    g.add_argument("--vocab-size", type=positive_int("--vocab-size"), default=25000,
                   help="vocabulary size, padding and OOV included (default 25000)")
    g.add_argument("--max-length", type=positive_int("--max-length"), default=1000,
                   help="reviews are cut to this many tokens (default 1000)")
    g.add_argument("--punctuation", choices=("strip", "marks"), default="strip",
                   help="strip: all punctuation becomes spaces (default); marks: '!' and '?' "
                        "stay, as tokens of their own")
    g.add_argument("--embedding-dim", type=positive_int("--embedding-dim"), default=128)
    g.add_argument("--rnn", choices=("lstm", "gru"), default="lstm")
    g.add_argument("--units", type=positive_int("--units"), default=64,
                   help="units per RNN direction (default 64)")
    g.add_argument("--stacked", type=int, default=0,
                   help="bidirectional sequence layers below the mean-pooled BiRNN (default 0)")
    g.add_argument("--dropout", type=float_in("--dropout", 0.0, 1.0), default=0.5,
                   help="dropout after the embedding and before the head (default 0.5)")
    g.add_argument("--word-dropout", type=float_in("--word-dropout", 0.0, 1.0), default=0.2,
                   help="in training, drop whole word vectors at this rate (default 0.2; "
                        "0 = off)")
    g.add_argument("--pooling", choices=("mean", "mean_max"), default="mean_max",
                   help="mean: the mean of the BiRNN states (the seed's h̄); mean_max (default): "
                        "the mean and the element-wise maximum over the review, concatenated")
    g.add_argument("--elmo", default=None, metavar="ELMO_RUN",
                   help="an elmo-lm run folder: its pretrained biLM adds ELMo vectors (a "
                        "learned mix of its layers) to the word embedding; the vocabulary "
                        "becomes the biLM's (--vocab-size is ignored). Pretrain it with "
                        "`keras-seq train elmo-lm --tokenizer review --data-file REVIEWS.txt`")
    g.add_argument("--elmo-trainable", action="store_true",
                   help="fine-tune the biLM's weights with the classifier (default: frozen "
                        "feature extractor, only the layer mix is learned)")
    g.add_argument("--elmo-gamma", type=float_in("--elmo-gamma", 0.0, 100.0), default=1.0,
                   help="initial scale γ of the ELMo vectors (default 1, as in the paper; 0 "
                        "starts from the word embedding alone and lets the task switch ELMo on)")
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int("--epochs"), default=2)
    g.add_argument("--batch-size", type=positive_int("--batch-size"), default=64)
    g.add_argument("--learning-rate", type=float_in("--learning-rate", 0.0, 10.0, low_open=True),
                   default=1e-3)
    g.add_argument("--lr-schedule", choices=("constant", "cosine"), default="cosine",
                   help="cosine: decay the learning rate to 0 over all epochs (default)")
    g.add_argument("--ema-momentum", type=float_in("--ema-momentum", 0.0, 1.0, low_open=True),
                   default=None,
                   help="keep an exponential moving average of the weights with this momentum "
                        "(e.g. 0.999); validation, the best-epoch checkpoint, the test split "
                        "and the export all use the average")
    g.add_argument("--adversarial", type=float_in("--adversarial", 0.0, 100.0), default=None,
                   metavar="EPSILON",
                   help="adversarial training of the word vectors (Miyato et al., 2017): also "
                        "train on each review with its word vectors moved by EPSILON typical "
                        "word-vector lengths in the direction that raises the loss fastest. "
                        "Default 0.5 (0 with --elmo, which it cannot be combined with); 0 = "
                        "off. Costs about 2x per step")
    g.add_argument("--adversarial-weight",
                   type=float_in("--adversarial-weight", 0.0, 100.0, low_open=True), default=1.0,
                   help="weight of the adversarial loss beside the usual one (default 1)")
    g.add_argument("--no-bucketing", action="store_true",
                   help="pad every batch to --max-length instead of bucketing by length")
    g.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA for the train step; auto = keras_seq.runtime default "
                        "(on for GPU/TPU, off for CPU training where it measured slower)")
    g.add_argument("--mixed-precision", action="store_true",
                   help="mixed_bfloat16 policy (head and loss stay float32)")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK['train_size']} train / {QUICK['test_size']} test "
                        f"reviews, batch {QUICK['batch_size']}, 1 epoch, max length {QUICK['max_length']}, vocab "
                        f"{QUICK['vocab_size']}")
    g.add_argument("--backup-every", type=positive_int("--backup-every"), default=50,
                   help="BackupAndRestore saves every N batches (default 50)")
    add_output_arguments(parser, run_dir_help="use this run folder; an existing one is resumed "
                         "from its backup, with the data/model/training options of its config.json")
    return parser


def _apply_quick(args):
    if args.quick:
        args.train_size = args.train_size or QUICK["train_size"]
        args.test_size = args.test_size or QUICK["test_size"]
        args.epochs = QUICK["epochs"]
        args.batch_size = min(args.batch_size, QUICK["batch_size"])
        args.max_length = min(args.max_length, QUICK["max_length"])
        args.vocab_size = min(args.vocab_size, QUICK["vocab_size"])
    return args


# Options that define the data, the vocabulary, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "data_dir", "dataset", "no_download", "val_fraction", "train_size", "test_size",
    "vocab_size", "max_length", "punctuation", "embedding_dim", "rnn", "units", "stacked", "dropout",
    "word_dropout", "pooling", "elmo", "elmo_trainable", "elmo_gamma",
    "epochs", "batch_size", "learning_rate", "lr_schedule", "ema_momentum", "adversarial",
    "adversarial_weight", "no_bucketing",
    "mixed_precision", "seed", "quick", "backup_every")
# Options newer than some runs: the value those runs were made with.
ABSENT_IN_OLD_RUNS = {"adversarial": 0.0, "adversarial_weight": 1.0, "word_dropout": 0.0,
                      "pooling": "mean"}
DEFAULT_ADVERSARIAL = 0.5  # epsilon without --elmo


def _restore_options(args, log):
    """For `--run-dir` with a config.json: takes the run's options from it."""
    return restore_run_options(args, RESUMED_OPTIONS, log, absent_in_old_runs=ABSENT_IN_OLD_RUNS)


def _sample(split, size, seed):
    import numpy as np

    if size is None or size >= len(split):
        return split
    order = np.random.default_rng(seed).permutation(len(split))[:size]
    return split.take(np.sort(order))


def _write_vocabulary(path, vocabulary):
    from keras_seq.runs import write_json_atomic

    write_json_atomic(path, [str(t) for t in vocabulary])


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates and exports; returns the metrics dict (also in RUN/metrics.json).

    Args:
        args: `argparse.Namespace` from a parser filled by `add_arguments`.
        extra_callbacks: more Keras callbacks for `fit` (tests use this to interrupt).
        log: function called with the printed lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import json

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_seq import runtime
    from keras_seq.callbacks import (
        LearningRateLogger, ResumableBackupAndRestore, SamplePredictionsText)
    from keras_seq.data.pipeline import token_id_dataset
    from keras_seq.data.reviews import load_reviews, split_validation
    from keras_seq.data.text import REVIEW_STANDARDIZERS
    from keras_seq.export.sentiment_module import SentimentServingModule
    from keras_seq.models import build_sentiment_classifier, compile_sentiment_classifier
    from keras_seq.runs import RunDirectory

    args = _apply_quick(_restore_options(args, log))
    if args.stacked < 0:
        raise ValueError(f"`--stacked` must be >= 0, got stacked={args.stacked!r}.")
    if args.elmo_trainable and not args.elmo:
        raise ValueError("`--elmo-trainable` needs `--elmo ELMO_RUN` (an elmo-lm run folder), "
                         "got no --elmo.")
    if args.adversarial is None:  # the default: on, except with ELMo (no single embedding)
        args.adversarial = 0.0 if args.elmo else DEFAULT_ADVERSARIAL
    if args.adversarial and args.elmo:
        raise ValueError(f"`--adversarial {args.adversarial}` perturbs the word embedding, "
                         "which must be the classifier's only input layer; it cannot be "
                         f"combined with `--elmo {args.elmo}`.")
    bilm = bilm_tokenizer = None
    if args.elmo:  # load it first: a bad --elmo leaves nothing behind
        from keras_seq.cli import import_application

        with model_scope():  # its variables join the classifier's (mirrored, if distributed)
            bilm, bilm_tokenizer = import_application(
                "keras_seq.applications.elmo_lm").load_bilm(args.elmo)
        if bilm_tokenizer.mode != "review":
            log(f"NOTE: the biLM of --elmo {args.elmo} was trained with --tokenizer "
                f"{bilm_tokenizer.mode}; the classifier feeds it review-tokenized text "
                "(no punctuation). Pretrain with --tokenizer review for a perfect match.")
        log(f"ELMo: biLM from {args.elmo} ({bilm.num_layers} layers x {bilm.units} units, "
            f"vocabulary {bilm.vocabulary_size}), "
            f"{'fine-tuned' if args.elmo_trainable else 'frozen'}; --vocab-size ignored.")
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    policy = "mixed_bfloat16" if args.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    jit = {"on": True, "off": False}.get(args.jit_compile)
    if jit is None:
        jit = runtime.default_jit_compile("train")

    # ---- data ---------------------------------------------------------------------------
    splits, data_info = load_reviews(
        args.dataset, data_dir=args.data_dir, download=not args.no_download, seed=args.seed,
        log=log)
    train_all = _sample(splits["train"], args.train_size, args.seed)
    test = _sample(splits["test"], args.test_size, args.seed + 1)
    train, val = split_validation(train_all, args.val_fraction, args.seed)
    data_info.update(used_train=len(train), used_validation=len(val), used_test=len(test))

    # The run folder is made only once the data is there (a bad --data-dir leaves nothing).
    run_dir = RunDirectory(APP_NAME, root=args.runs_root, run_dir=args.run_dir,
                           logdir=args.logdir, export_dir=args.export_dir)
    for line in run_dir.describe():
        log(line)

    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(app=APP_NAME, data=data_info, jit_compile_resolved=jit, dtype_policy=policy,
                  run_dir=str(run_dir.path), logdir=str(run_dir.logs),
                  export_dir=str(run_dir.export), keras=keras.__version__,
                  tensorflow=tf.__version__)
    previous = run_dir.read_json("config.json")
    if previous is not None:
        log(f"Resuming run {run_dir.path} (config.json and backup found).")
        config["resumed_from_previous_config"] = True
    run_dir.write_json("config.json", config)

    # ---- text -> ids (outside the compiled step) ----------------------------------------
    vocab_file = run_dir.file("vocabulary.json")
    standardize = REVIEW_STANDARDIZERS[getattr(args, "punctuation", "strip") or "strip"]
    vectorizer_args = dict(max_tokens=args.vocab_size, standardize=standardize,
                           ragged=True)
    if bilm_tokenizer is not None:  # the biLM's ids, so ELMo reads the words it learned
        vectorizer = keras.layers.TextVectorization(
            vocabulary=bilm_tokenizer.get_vocabulary()[2:], **vectorizer_args)
        _write_vocabulary(vocab_file, vectorizer.get_vocabulary())
    elif vocab_file.is_file():  # a resumed run keeps its vocabulary (and its embeddings)
        vectorizer = keras.layers.TextVectorization(
            vocabulary=json.loads(vocab_file.read_text(encoding="utf-8"))[2:],
            **vectorizer_args)
    else:
        vectorizer = keras.layers.TextVectorization(**vectorizer_args)
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train.texts).batch(1024))
        _write_vocabulary(vocab_file, vectorizer.get_vocabulary())
    vocabulary = vectorizer.get_vocabulary()

    def to_ids(texts):
        return vectorizer(tf.constant(texts, tf.string))[:, : args.max_length]

    train_ids, val_ids, test_ids = to_ids(train.texts), to_ids(val.texts), to_ids(test.texts)
    bucket = not args.no_bucketing
    train_ds = token_id_dataset(train_ids, train.labels, args.batch_size, shuffle=True,
                                seed=args.seed, bucket=bucket, max_length=args.max_length)
    val_ds = token_id_dataset(val_ids, val.labels, args.batch_size, bucket=bucket,
                              max_length=args.max_length)
    test_ds = token_id_dataset(test_ids, test.labels, args.batch_size, bucket=bucket,
                               max_length=args.max_length)

    # ---- model --------------------------------------------------------------------------
    elmo = None
    with model_scope():  # the --strategy scope (a no-op without one)
        if bilm is not None:
            from keras_seq.models.elmo_embedding import ElmoEmbedding

            elmo = ElmoEmbedding(bilm, fine_tune=args.elmo_trainable,
                                 initial_gamma=args.elmo_gamma, name="elmo")
        model = build_sentiment_classifier(
            vocab_size=len(vocabulary), embedding_dim=args.embedding_dim, rnn=args.rnn,
            units=args.units, num_stacked=args.stacked, dropout=args.dropout, elmo=elmo,
            word_dropout=args.word_dropout, pooling=args.pooling)
        learning_rate = args.learning_rate
        if args.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                args.learning_rate,
                decay_steps=max(1, int(train_ds.cardinality()) * args.epochs))
        # The model `fit` trains: the classifier itself, or a trainer around it that adds
        # the adversarial loss (the same weights either way; the export is `model`).
        fit_model = model
        if args.adversarial:
            from keras_seq.training import AdversarialEmbeddingTrainer

            fit_model = AdversarialEmbeddingTrainer(
                model, epsilon=args.adversarial, adversarial_weight=args.adversarial_weight)
        compile_sentiment_classifier(fit_model, learning_rate=learning_rate, jit_compile=jit,
                                     ema_momentum=args.ema_momentum)
    log(f"Model: {model.count_params():,} parameters "
        f"({sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} trainable); "
        f"vocabulary {len(vocabulary)}; "
        f"max length {args.max_length}; XLA train step: {jit}; dtype policy {policy}"
        + (f"; adversarial training, epsilon {args.adversarial}, weight "
           f"{args.adversarial_weight}." if args.adversarial else "."))

    history_file = run_dir.file("history.csv")
    best_so_far = None
    if history_file.is_file():
        import csv

        with open(history_file, newline="") as f:
            values = [float(r["val_accuracy"]) for r in csv.DictReader(f) if r.get("val_accuracy")]
        best_so_far = max(values) if values else None
    best_weights = run_dir.file("best.weights.h5")
    n_samples = min(8, len(val))
    sample_ids = val_ids[:n_samples].to_tensor(default_value=0)
    callbacks = [
        ResumableBackupAndRestore(str(run_dir.backup), save_freq=args.backup_every),
        # With --ema-momentum: the average is in the model from validation until the next
        # epoch begins, so the checkpoint below keeps the best *averaged* weights.
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if args.ema_momentum else []),
        keras.callbacks.ModelCheckpoint(str(best_weights), monitor="val_accuracy", mode="max",
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best_so_far),
        LearningRateLogger(run_dir.logs / "train"),
        SamplePredictionsText(run_dir.logs / "validation", val.texts[:n_samples], sample_ids,
                              val.labels[:n_samples]),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TensorBoard(str(run_dir.logs), write_graph=False, profile_batch=0),
        *extra_callbacks,
    ]
    fit_started = time.time()
    history = fit_model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                            callbacks=callbacks, verbose=args.verbose,
                            shuffle=False)  # tf.data shuffles (seeded, every epoch)
    fit_seconds = time.time() - fit_started
    epochs_run = len(history.history.get("loss", []))
    if best_weights.is_file():
        fit_model.load_weights(str(best_weights))

    # ---- evaluate on the test split (only here) -----------------------------------------
    test_results = fit_model.evaluate(test_ds, verbose=0, return_dict=True)
    test_loss, test_accuracy = test_results["loss"], test_results["accuracy"]

    # ---- export and check the export ----------------------------------------------------
    module = SentimentServingModule(model, vocabulary, max_length=args.max_length,
                                    standardize=standardize)
    module.save(run_dir.export)
    serving = tf.saved_model.load(str(run_dir.export)).signatures["serving_default"]
    examples = serving(text=tf.constant(list(EXAMPLES)))
    example_rows = [
        {"text": t, "label": lab.decode(), "probability": float(p)}
        for t, lab, p in zip(EXAMPLES, examples["label"].numpy(), examples["probability"].numpy())
    ]
    check_texts = test.texts[:16]
    exported_p = serving(text=tf.constant(check_texts))["probability"].numpy()
    keras_p = model.predict(to_ids(check_texts).to_tensor(default_value=0), verbose=0)[:, 0]
    export_diff = float(np.max(np.abs(exported_p - keras_p)))

    val_history = history.history.get("val_accuracy", [])
    metrics = {
        "dataset": data_info["dataset"],
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "test_size": len(test),
        "best_val_accuracy": float(max(val_history + ([best_so_far] if best_so_far else [])))
        if (val_history or best_so_far) else None,
        "epochs_run_this_call": epochs_run, "epochs": args.epochs,
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "train_samples_per_second": (len(train) * epochs_run / fit_seconds)
        if epochs_run else None,
        "export_max_abs_diff_vs_keras": export_diff,
        "elmo": args.elmo, "elmo_trainable": bool(args.elmo_trainable),
        "elmo_gamma": (float(keras.ops.convert_to_numpy(elmo.task_mix.gamma))
                       if elmo is not None else None),
        "elmo_layer_weights": ([float(w) for w in keras.ops.convert_to_numpy(
            elmo.task_mix.layer_weights())] if elmo is not None else None),
        "examples": example_rows, "history": {k: [float(x) for x in v]
                                              for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    # ---- summary ------------------------------------------------------------------------
    banner = "=" * 78
    log(banner)
    if data_info["dataset"] == "synthetic":
        log("DATA: the GENERATED synthetic review corpus (not IMDB) - see --data-dir.")
    else:
        log(f"DATA: IMDB ({data_info['format']}) from {data_info['path']}")
    log(f"Test accuracy: {test_accuracy:.4f} on {len(test)} reviews (loss {test_loss:.4f}); "
        f"epochs {args.epochs} ({epochs_run} run now), fit {fit_seconds:.0f} s.")
    log(f"Run folder: {run_dir.path}")
    log(f"Export (SavedModel, serving_default: text -> probability, label): {run_dir.export}")
    log(f"Export vs keras max |diff|: {export_diff:.2e}")
    for row in example_rows:
        log(f"  {row['text']!r:32} -> {row['label']} (p(positive)={row['probability']:.3f})")
    log(f"Predict: keras-seq predict {run_dir.export} \"an absolute joy to watch\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="imdb_sentiment",
        description="Train, evaluate and export the IMDB sentiment classifier.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/imdb_sentiment.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
