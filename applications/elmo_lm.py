"""ELMo-style bidirectional word LM: text -> words -> forward + backward LSTM LMs -> fit -> export.

Run it as `keras-seq train elmo-lm [options]` or `python applications/elmo_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly). Tokens are lower-cased words and punctuation
(`--tokenizer words`) or the IMDB classifier's tokenization (`--tokenizer review`); the
vocabulary holds the `--vocab-size` - 2 most frequent tokens of the training part (plus
padding and [UNK]). The first 90% of the tokens train, the last 10% validate (by position).

It writes a run folder `runs/elmo-lm/<time>/`: TensorBoard logs (forward, backward and mean
perplexity, learning rate, the most likely next and previous words of a few sentences),
backups, the weights and config the IMDB classifier loads (`keras-seq train imdb --elmo RUN`),
a SavedModel (`embed`: text -> contextual embeddings; `serving_default`: sentence embedding
and the most likely next/previous word), config.json and metrics.json.
"""

import argparse
import json
import os
import pathlib
import sys
import time


from keras_seq.app_args import (
    add_output_arguments, add_text_corpus_arguments, apply_quick, float_in, model_scope,
    positive_int, resolve_jit, restore_run_options, run_main)

APP_NAME = "elmo-lm"
SENTENCES = ("the time traveller", "i saw the machine", "the sun was setting",
             "and then", "he said")
QUICK = {"max_tokens": 12000, "epochs": 2, "units": 64, "embedding_dim": 64,
         "batch_size": 16, "sequence_length": 20, "vocab_size": 2000}
WEIGHTS_FILE = "bilm.weights.h5"
MODEL_CONFIG_FILE = "bilm_config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZATION = {
    "words": "lower-cased words and punctuation marks (each punctuation character is a "
             "token; apostrophes between letters stay in the word), split on white space",
    "review": "the IMDB classifier's: lower-cased, HTML line breaks and ASCII punctuation "
              "removed, split on white space",
}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    add_text_corpus_arguments(g)
    g.add_argument("--tokenizer", choices=("words", "review"), default="words",
                   help="words: lower-cased words and punctuation; review: the IMDB "
                        "classifier's tokenization (use it for `imdb --elmo`)")
    g.add_argument("--max-tokens", type=positive_int("--max-tokens"), default=None,
                   help="use only the first N tokens of the text")
    g.add_argument("--val-fraction", type=float_in("--val-fraction", 0, 1, low_open=True),
                   default=0.1, help="last share of the tokens (by position) for validation")
    g = parser.add_argument_group("model")
    g.add_argument("--vocab-size", type=positive_int("--vocab-size"), default=10000,
                   help="token ids, padding and [UNK] included: the N-2 most frequent "
                        "training tokens (default 10000)")
    g.add_argument("--embedding-dim", type=positive_int("--embedding-dim"), default=128)
    g.add_argument("--units", type=positive_int("--units"), default=256,
                   help="LSTM units per direction and layer (H; embeddings are 2H wide)")
    g.add_argument("--layers", type=positive_int("--layers"), default=2,
                   help="LSTM layers per direction (L)")
    g.add_argument("--dropout", type=float_in("--dropout", 0, 1), default=0.3,
                   help="dropout on the token layer, between layers and before the softmax")
    g.add_argument("--separate-softmax", action="store_true",
                   help="one output projection per direction (default: shared)")
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int("--epochs"), default=20)
    g.add_argument("--batch-size", type=positive_int("--batch-size"), default=32)
    g.add_argument("--sequence-length", type=positive_int("--sequence-length"), default=35,
                   help="tokens per training window (both LMs start fresh in each window)")
    g.add_argument("--learning-rate", type=float_in("--learning-rate", 0, 10, low_open=True),
                   default=2e-3)
    g.add_argument("--clip-norm", type=float_in("--clip-norm", 0, 1e6), default=1.0,
                   help="gradient clipping by global norm (0 = off)")
    g.add_argument("--patience", type=int, default=3,
                   help="early stopping on validation loss after N epochs without "
                        "improvement, best weights restored (0 = off)")
    g.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA for the train step; auto = keras_seq.runtime default")
    g.add_argument("--mixed-precision", action="store_true",
                   help="mixed_bfloat16 policy (logits and loss stay float32)")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--quick", action="store_true",
                   help=f"smoke run: first {QUICK['max_tokens']} tokens, {QUICK['epochs']} "
                        f"epochs, {QUICK['units']} units, vocabulary {QUICK['vocab_size']}, "
                        f"batch {QUICK['batch_size']}, windows of {QUICK['sequence_length']}")
    g.add_argument("--backup-every", type=positive_int("--backup-every"), default=100,
                   help="BackupAndRestore saves every N batches (default 100)")
    g.add_argument("--sentence", action="append", default=None,
                   help=f"sentence for the next/previous-word samples (repeatable; default "
                        f"{list(SENTENCES)})")
    add_output_arguments(parser, run_dir_help="use this run folder; an existing one is resumed "
                         "from its backup, with the data/model/training options of its config.json")
    return parser


# Options that define the data, the vocabulary, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "data_file", "data_dir", "dataset", "no_download", "tokenizer", "max_tokens", "val_fraction",
    "vocab_size", "embedding_dim", "units", "layers", "dropout", "separate_softmax", "epochs",
    "batch_size", "sequence_length", "learning_rate", "clip_norm", "patience",
    "mixed_precision", "seed", "quick", "backup_every")


def _apply_quick(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    return args


def _check_args(args):
    if args.vocab_size < 3:
        raise ValueError(f"`--vocab-size` must be >= 3 (padding, [UNK], one token), got "
                         f"{args.vocab_size}.")
    if args.sequence_length < 2:
        raise ValueError("`--sequence-length` must be >= 2 (a window needs a neighbour), got "
                         f"{args.sequence_length}.")
    if args.patience < 0:
        raise ValueError(f"`--patience` must be >= 0 (0 = off), got {args.patience}.")


def make_datasets(train_ids, val_ids, args):
    """(train, validation) tf.data datasets of (ids, targets, sample_weights) for the biLM."""
    from keras_seq.data.sequence_batches import random_sampling_dataset
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel

    t, b = args.sequence_length, args.batch_size
    for name, ids, need in (("training", train_ids, b * t + t + 1),
                            ("validation", val_ids, 2 * t + 2)):
        if len(ids) < need:
            raise ValueError(
                f"the {name} text has {len(ids)} tokens; --batch-size {b} x --sequence-length "
                f"{t} needs at least {need}. Use more text (--max-tokens, --val-fraction) or "
                "smaller batches/windows.")

    def with_targets(x, _):
        targets, weights = BidirectionalLanguageModel.targets(x)
        return x, targets, weights

    train = random_sampling_dataset(train_ids, b, t, seed=args.seed).map(with_targets)
    # Validation: every window of the held-out part once, in order (offset 0, last batch kept).
    val = random_sampling_dataset(val_ids, min(b, (len(val_ids) - t - 1) // t), t,
                                  random_offset=False, drop_remainder=False,
                                  seed=args.seed).map(with_targets)
    return train, val


def compile_bilm(model, learning_rate, clip_norm=1.0, jit_compile=False):
    """Adam + the joint loss: ½ CE(forward) + ½ CE(backward), masked by the sample weights;
    per-token cross entropies of both directions as weighted metrics."""
    import keras

    def ce_loss():
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def ce_metric():
        return keras.metrics.SparseCategoricalCrossentropy(from_logits=True,
                                                           name="cross_entropy")

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate,
                                        global_clipnorm=clip_norm if clip_norm else None),
        loss={"forward": ce_loss(), "backward": ce_loss()},
        loss_weights={"forward": 0.5, "backward": 0.5},
        weighted_metrics={"forward": [ce_metric()], "backward": [ce_metric()]},
        jit_compile=jit_compile)
    return model


def load_bilm(path):
    """The trained `(BidirectionalLanguageModel, WordTokenizer)` of an elmo-lm run folder.

    Args:
        path: a run folder of this application (holding bilm.weights.h5, bilm_config.json
            and tokenizer.json).

    Raises:
        ValueError: the folder lacks one of these files.
    """
    from keras_seq.data.word_tokenizer import WordTokenizer
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel

    folder = pathlib.Path(path)
    needed = [folder / WEIGHTS_FILE, folder / MODEL_CONFIG_FILE, folder / TOKENIZER_FILE]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise ValueError(f"`--elmo` must be a finished elmo-lm run folder holding "
                         f"{WEIGHTS_FILE}, {MODEL_CONFIG_FILE} and {TOKENIZER_FILE}; got "
                         f"{str(folder)!r}, which lacks {', '.join(missing)}.")
    config = json.loads((folder / MODEL_CONFIG_FILE).read_text(encoding="utf-8"))
    model = BidirectionalLanguageModel.from_config(config)
    model.build((None, None))
    model.load_weights(str(folder / WEIGHTS_FILE))
    return model, WordTokenizer.load(folder / TOKENIZER_FILE)


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates and exports; returns the metrics dict (also in RUN/metrics.json).

    Args:
        args: `argparse.Namespace` from a parser filled by `add_arguments`.
        extra_callbacks: more Keras callbacks for `fit` (tests use this to interrupt).
        log: function called with the printed lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_seq.callbacks import LearningRateLogger
    from keras_seq.callbacks.bidirectional_lm_logger import (
        BidirectionalLMLogger, most_likely_neighbours)
    from keras_seq.callbacks.resumable_backup import ResumableBackupAndRestore
    from keras_seq.data.sequence_batches import split_by_position
    from keras_seq.data.timemachine import load_text
    from keras_seq.data.word_tokenizer import WordTokenizer
    from keras_seq.export.elmo_module import ElmoServingModule
    from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
    from keras_seq.runs import RunDirectory

    args = _apply_quick(restore_run_options(args, RESUMED_OPTIONS, log), log)
    _check_args(args)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    policy = "mixed_bfloat16" if args.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    jit = resolve_jit(args.jit_compile, "train")

    # ---- data: tokens, 90/10 split by position, vocabulary of the training part ---------
    text, data_info = load_text(args.dataset, data_file=args.data_file, data_dir=args.data_dir,
                                download=not args.no_download, log=log)
    tokens = WordTokenizer.split_text(text, args.tokenizer)
    if args.max_tokens:
        tokens = tokens[: args.max_tokens]
    cut = int(round(len(tokens) * (1.0 - args.val_fraction)))
    previous = pathlib.Path(args.run_dir) / TOKENIZER_FILE if args.run_dir else None
    if previous is not None and previous.is_file():  # a resumed run keeps its vocabulary
        tokenizer = WordTokenizer.load(previous)
    else:
        if cut < 1:
            raise ValueError(f"the text has {len(tokens)} tokens: too few for training.")
        tokenizer = WordTokenizer(
            WordTokenizer.vocabulary_from_tokens(tokens[:cut], args.vocab_size - 2),
            mode=args.tokenizer)
    ids = tokenizer.ids_of_tokens(tokens).astype("int32")
    train_ids, val_ids = split_by_position(ids, args.val_fraction)
    train_ds, val_ds = make_datasets(train_ids, val_ids, args)
    run_dir = RunDirectory(APP_NAME, root=args.runs_root, run_dir=args.run_dir,
                           logdir=args.logdir, export_dir=args.export_dir)
    for line in run_dir.describe():
        log(line)
    tokenizer.save(run_dir.file(TOKENIZER_FILE))
    val_oov = float(np.mean(val_ids == 1)) if len(val_ids) else 0.0
    data_info.update(tokenizer=args.tokenizer, tokenization=TOKENIZATION[args.tokenizer],
                     vocabulary_size=tokenizer.vocabulary_size, used_tokens=int(len(ids)),
                     train_tokens=int(len(train_ids)), validation_tokens=int(len(val_ids)),
                     validation_unknown_rate=val_oov)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(app=APP_NAME, data=data_info, jit_compile_resolved=jit, dtype_policy=policy,
                  run_dir=str(run_dir.path), logdir=str(run_dir.logs),
                  export_dir=str(run_dir.export), keras=keras.__version__,
                  tensorflow=tf.__version__)
    if run_dir.read_json("config.json") is not None:
        log(f"Resuming run {run_dir.path} (config.json and backup found).")
        config["resumed_from_previous_config"] = True
    run_dir.write_json("config.json", config)

    # ---- model --------------------------------------------------------------------------
    with model_scope():  # the --strategy scope (a no-op without one)
        model = BidirectionalLanguageModel(
            tokenizer.vocabulary_size, embedding_dim=args.embedding_dim, units=args.units,
            num_layers=args.layers, dropout=args.dropout, share_softmax=not args.separate_softmax)
        model.build((None, None))
        steps_per_epoch = int(train_ds.cardinality().numpy())
        schedule = keras.optimizers.schedules.CosineDecay(
            args.learning_rate, decay_steps=max(1, steps_per_epoch * args.epochs), alpha=0.05)
        compile_bilm(model, schedule, clip_norm=args.clip_norm, jit_compile=jit)
    run_dir.write_json(MODEL_CONFIG_FILE, model.get_config())
    log(f"Model: biLM, {args.layers} LSTM layers x {args.units} units per direction, "
        f"embedding {args.embedding_dim}, {model.count_params():,} parameters; vocabulary "
        f"{tokenizer.vocabulary_size} ids ({args.tokenizer}); {len(train_ids):,} training / "
        f"{len(val_ids):,} validation tokens (unknown in validation: {val_oov:.1%}); "
        f"{steps_per_epoch} batches per epoch; XLA train step: {jit}; dtype policy {policy}.")

    sentences = args.sentence or list(SENTENCES)
    logger = BidirectionalLMLogger(run_dir.logs / "samples", tokenizer, sentences,
                                   log=log if args.verbose else None)
    callbacks = [
        ResumableBackupAndRestore(str(run_dir.backup), save_freq=args.backup_every),
        logger,
        LearningRateLogger(run_dir.logs / "train"),
    ]
    if args.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True))
    callbacks += [
        keras.callbacks.CSVLogger(str(run_dir.file("history.csv")), append=True),
        keras.callbacks.TensorBoard(str(run_dir.logs), write_graph=False, profile_batch=0),
        *extra_callbacks,
    ]
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose, shuffle=False)
    fit_seconds = time.time() - fit_started
    epochs_run = len(history.history.get("loss", []))

    # ---- evaluate (the weights fit ends with: the best ones with early stopping) ---------
    result = model.evaluate(val_ds, verbose=0, return_dict=True)
    f_ce, b_ce = result["forward_cross_entropy"], result["backward_cross_entropy"]
    model.save_weights(str(run_dir.file(WEIGHTS_FILE)))

    # ---- export and check it against the Keras model ------------------------------------
    ElmoServingModule(model, tokenizer, max_length=512).save(run_dir.export)
    loaded = tf.saved_model.load(str(run_dir.export))
    check = [s for s in sentences]
    exported = loaded.signatures["embed"](text=tf.constant(check))
    ids_check = tokenizer.encode(tf.constant(check)).to_tensor(default_value=0).numpy()
    keras_emb, _ = model.embed(ids_check)
    export_diff = float(np.max(np.abs(exported["embeddings"].numpy()
                                      - keras.ops.convert_to_numpy(keras_emb))))
    served = loaded.signatures["serving_default"](text=tf.constant(check))
    neighbours = most_likely_neighbours(model, tokenizer, sentences)

    metrics = {
        "dataset": data_info["dataset"],
        "tokenization": TOKENIZATION[args.tokenizer],
        "vocabulary_size": tokenizer.vocabulary_size,
        "validation_tokens": int(len(val_ids)),
        "validation_unknown_rate": val_oov,
        "validation_cross_entropy_forward": float(f_ce),
        "validation_cross_entropy_backward": float(b_ce),
        "validation_perplexity_forward": BidirectionalLMLogger._exp(f_ce),
        "validation_perplexity_backward": BidirectionalLMLogger._exp(b_ce),
        "validation_perplexity_mean": BidirectionalLMLogger._exp((f_ce + b_ce) / 2.0),
        "perplexity_unit": "per word-level token (words and punctuation as tokenized), "
                           "windows of --sequence-length tokens, context reset per window",
        "epochs": args.epochs, "epochs_run_this_call": epochs_run,
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "parameters": int(model.count_params()),
        "export_embed_max_abs_diff_vs_keras": export_diff,
        "export_next_words": [w.decode("utf-8") for w in served["next_word"].numpy()],
        "samples": neighbours,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "perplexity_history": logger.history,
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    if data_info["dataset"] == "generated":
        log("DATA: the GENERATED corpus (not The Time Machine) - see --data-file/--data-dir.")
    else:
        log(f"DATA: {data_info['dataset']} from {data_info['path']}")
    log(f"Tokens: {TOKENIZATION[args.tokenizer]}; vocabulary {tokenizer.vocabulary_size}.")
    log(f"Validation perplexity per token ({len(val_ids):,} tokens): forward "
        f"{metrics['validation_perplexity_forward']:.2f}, backward "
        f"{metrics['validation_perplexity_backward']:.2f}, mean "
        f"{metrics['validation_perplexity_mean']:.2f}; epochs {epochs_run} run now, fit "
        f"{fit_seconds:.0f} s.")
    for s in neighbours:
        log(f"  [{s['previous'][0][0]}] <- {s['text']!r} -> [{s['next'][0][0]}]")
    log(f"Export (SavedModel; signatures serving_default, embed): {run_dir.export}")
    log(f"Export embed vs Keras max |diff|: {export_diff:.2e}")
    log(f"Use in the IMDB classifier: keras-seq train imdb --elmo {run_dir.path}")
    log(f"Predict: keras-seq predict {run_dir.export} \"the time traveller\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="elmo_lm", description="Train, evaluate and export an ELMo-style biLM.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/elmo_lm.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
