"""Char-level language model on The Time Machine: text -> char ids -> stacked RNN -> fit -> export.

Run it as `keras-seq train char-lm [options]` or `python applications/char_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly), writes a run folder `runs/char-lm/<time>/`
(TensorBoard logs with perplexity, bits per char, gradient flow through time and generated
samples; backups; SavedModel export; config.json; metrics.json) and prints samples of the
exported model.

Text is turned into ids once (in TensorFlow, outside the training step); the export puts the
same tokenizer and the decode loop around the model.
"""

import argparse
import os
import pathlib
import sys
import time


from keras_seq.app_args import (
    add_output_arguments, add_text_corpus_arguments, apply_quick, float_in, model_scope,
    positive_int, restore_run_options, run_main)

APP_NAME = "char-lm"
PROMPTS = ("time traveller", "the machine")
QUICK = {"max_chars": 120000, "epochs": 4, "units": 128, "batch_size": 32, "num_steps": 32,
         "sample_chars": 40}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    add_text_corpus_arguments(g)
    g.add_argument("--tokenizer", choices=("d2l", "full"), default="d2l",
                   help="d2l: lower-case a-z + space (+ unknown), 28 symbols; full: every "
                        "character of the training text")
    g.add_argument("--max-chars", type=positive_int("--max-chars"), default=None,
                   help="use only the first N characters of the (standardized) text")
    g.add_argument("--val-fraction", type=float_in("--val-fraction", 0, 1, low_open=True),
                   default=0.1, help="last share of the text (by position) for validation")
    g = parser.add_argument_group("model")
    g.add_argument("--cell", choices=("elman", "rnn", "gru", "lstm"), default="lstm",
                   help="elman: the lecture's ElmanRNNCell; rnn: SimpleRNN; gru; lstm")
    g.add_argument("--units", type=positive_int("--units"), default=256)
    g.add_argument("--layers", type=positive_int("--layers"), default=1, help="stacked RNNs")
    g.add_argument("--embedding-dim", type=int, default=32,
                   help="character embedding size; 0 = one-hot inputs")
    g.add_argument("--dropout", type=float_in("--dropout", 0, 1), default=0.2,
                   help="dropout on the embedding and between layers")
    g.add_argument("--recurrent-dropout", type=float_in("--recurrent-dropout", 0, 1),
                   default=0.0, help="dropout on the recurrent connections (not elman)")
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int("--epochs"), default=20)
    g.add_argument("--batch-size", type=positive_int("--batch-size"), default=32)
    g.add_argument("--num-steps", type=positive_int("--num-steps"), default=64,
                   help="BPTT length: characters per training subsequence")
    g.add_argument("--sampling", choices=("random", "sequential"), default="random",
                   help="random: shuffled subsequences, zero state per batch; sequential: "
                        "contiguous rows (use with --stateful for truncated BPTT)")
    g.add_argument("--stateful", action="store_true",
                   help="carry the state across consecutive batches (truncated BPTT), reset "
                        "at each epoch start; implies --sampling sequential")
    g.add_argument("--learning-rate", type=float_in("--learning-rate", 0, 10, low_open=True),
                   default=3e-3)
    g.add_argument("--lr-decay", choices=("cosine", "none"), default="cosine",
                   help="cosine decay of the learning rate over all steps (default)")
    g.add_argument("--clip-norm", type=float, default=1.0,
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
                   help=f"smoke run: first {QUICK['max_chars']} characters, {QUICK['epochs']} "
                        f"epochs, {QUICK['units']} units, batch {QUICK['batch_size']}, "
                        f"{QUICK['num_steps']} steps")
    g.add_argument("--backup-every", type=positive_int("--backup-every"), default=100,
                   help="BackupAndRestore saves every N batches (default 100)")
    g = parser.add_argument_group("generation")
    g.add_argument("--prompt", action="append", default=None,
                   help=f"prompt for samples (repeatable; default {list(PROMPTS)})")
    g.add_argument("--sample-chars", type=positive_int("--sample-chars"), default=100,
                   help="characters generated per sample")
    g.add_argument("--temperature", type=float_in("--temperature", 0, 100), default=0.8,
                   help="sampling temperature of the sampled TensorBoard samples")
    g.add_argument("--top-k", type=int, default=None, help="top-k sampling for the samples")
    add_output_arguments(parser, run_dir_help="use this run folder; an existing one is resumed "
                         "from its backup, with the data/model/training options of its config.json")
    return parser


# Options that define the data, the tokenizer, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "data_file", "data_dir", "dataset", "no_download", "tokenizer", "max_chars", "val_fraction",
    "cell", "units", "layers", "embedding_dim", "dropout", "recurrent_dropout", "epochs",
    "batch_size", "num_steps", "sampling", "stateful", "learning_rate", "lr_decay", "clip_norm",
    "patience", "mixed_precision", "seed", "quick", "backup_every")


def _restore_options(args, log):
    """For `--run-dir` with a config.json: takes the run's options from it."""
    return restore_run_options(args, RESUMED_OPTIONS, log)


def _apply_quick(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    if args.stateful:
        args.sampling = "sequential"
    return args


def _check_args(args):
    if args.embedding_dim < 0:
        raise ValueError(f"`--embedding-dim` must be >= 0 (0 = one-hot), got {args.embedding_dim}.")
    if args.clip_norm < 0:
        raise ValueError(f"`--clip-norm` must be >= 0 (0 = off), got {args.clip_norm}.")
    if args.patience < 0:
        raise ValueError(f"`--patience` must be >= 0 (0 = off), got {args.patience}.")
    if args.recurrent_dropout and args.cell == "elman":
        raise ValueError("`--recurrent-dropout` is not supported by the elman cell, got "
                         f"--recurrent-dropout {args.recurrent_dropout} with --cell elman.")
    if args.top_k is not None and args.top_k <= 0:
        raise ValueError(f"`--top-k` must be a positive int, got {args.top_k}.")
    if args.stateful and getattr(args, "strategy", "none") in ("mirrored", "multi-worker"):
        raise ValueError(
            "`--stateful` carries each batch row's RNN state into the next batch, and a "
            "distributed strategy splits every batch across replicas, so the state would not "
            f"follow its row; got --stateful with --strategy {args.strategy}. Train stateful "
            "BPTT in one process (or use the default random windows).")


def make_datasets(train_ids, val_ids, args):
    """(train, validation) tf.data datasets of (x, y) [batch, num_steps]."""
    from keras_seq.data.sequence_batches import random_sampling_dataset, sequential_dataset

    need = args.batch_size * args.num_steps + args.num_steps + 1
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < need:
            raise ValueError(
                f"the {name} text has {len(ids)} characters; --batch-size {args.batch_size} x "
                f"--num-steps {args.num_steps} needs at least {need}. Use more text "
                "(--max-chars, --val-fraction) or smaller batches.")
    if args.sampling == "sequential":
        train = sequential_dataset(train_ids, args.batch_size, args.num_steps, seed=args.seed)
        val = sequential_dataset(val_ids, args.batch_size, args.num_steps, random_offset=False)
    else:
        train = random_sampling_dataset(train_ids, args.batch_size, args.num_steps,
                                        seed=args.seed)
        val = random_sampling_dataset(val_ids, args.batch_size, args.num_steps,
                                      random_offset=False, seed=args.seed)
    return train, val


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

    from keras_seq import runtime
    from keras_seq.callbacks.generated_text_samples import GeneratedTextSamples
    from keras_seq.callbacks.gradient_flow import GradientFlowTensorBoard
    from keras_seq.callbacks.perplexity_logger import PerplexityLogger
    from keras_seq.callbacks.reset_rnn_states import ResetRNNStates
    from keras_seq.callbacks.resumable_backup import ResumableBackupAndRestore
    from keras_seq.data.char_tokenizer import CharTokenizer
    from keras_seq.data.sequence_batches import split_by_position
    from keras_seq.data.timemachine import load_text
    from keras_seq.export.char_lm_module import CharLMServingModule
    from keras_seq.models.char_language_model import CharLanguageModel
    from keras_seq.runs import RunDirectory

    args = _apply_quick(_restore_options(args, log), log)
    _check_args(args)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    policy = "mixed_bfloat16" if args.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    jit = {"on": True, "off": False}.get(args.jit_compile)
    if jit is None:
        jit = runtime.default_jit_compile("train")

    # ---- data ---------------------------------------------------------------------------
    text, data_info = load_text(args.dataset, data_file=args.data_file, data_dir=args.data_dir,
                                download=not args.no_download, log=log)
    previous = pathlib.Path(args.run_dir) / "tokenizer.json" if args.run_dir else None
    if previous is not None and previous.is_file():  # a resumed run keeps its vocabulary
        tokenizer = CharTokenizer.load(previous)
    elif args.tokenizer == "full":
        tokenizer = CharTokenizer("full", CharTokenizer.build_vocabulary(text))
    else:
        tokenizer = CharTokenizer("d2l")
    ids = tokenizer.encode_text(text)
    if args.max_chars:
        ids = ids[: args.max_chars]
    train_ids, val_ids = split_by_position(ids, args.val_fraction)
    train_ds, val_ds = make_datasets(train_ids, val_ids, args)
    # The run folder is made only once the data is there (bad input leaves nothing behind).
    run_dir = RunDirectory(APP_NAME, root=args.runs_root, run_dir=args.run_dir,
                           logdir=args.logdir, export_dir=args.export_dir)
    for line in run_dir.describe():
        log(line)
    tokenizer.save(run_dir.file("tokenizer.json"))
    data_info.update(tokenizer=tokenizer.mode, vocabulary_size=tokenizer.vocabulary_size,
                     used_characters=int(len(ids)), train_characters=int(len(train_ids)),
                     validation_characters=int(len(val_ids)))

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
        model = CharLanguageModel(tokenizer.vocabulary_size, cell=args.cell, units=args.units,
                                  num_layers=args.layers, embedding_dim=args.embedding_dim or None,
                                  dropout=args.dropout, recurrent_dropout=args.recurrent_dropout,
                                  stateful=args.stateful)
        steps_per_epoch = int(train_ds.cardinality().numpy())
        learning_rate = args.learning_rate
        if args.lr_decay == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                args.learning_rate, decay_steps=max(1, steps_per_epoch * args.epochs), alpha=0.05)
        optimizer = keras.optimizers.Adam(learning_rate,
                                          global_clipnorm=args.clip_norm or None)
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        model(np.ones((args.batch_size, args.num_steps), "int32"))
    log(f"Model: {args.cell} x{args.layers}, {args.units} units, {model.count_params():,} "
        f"parameters; vocabulary {tokenizer.vocabulary_size} ids ({tokenizer.mode}); "
        f"{len(train_ids):,} training / {len(val_ids):,} validation characters; "
        f"{steps_per_epoch} batches per epoch; XLA train step: {jit}; dtype policy {policy}.")

    prompts = args.prompt or list(PROMPTS)
    probe = val_ids[: 8 * (args.num_steps + 1)].reshape(8, args.num_steps + 1) \
        if len(val_ids) >= 8 * (args.num_steps + 1) else None
    perplexity = PerplexityLogger(log=log if args.verbose else None)
    callbacks = []
    if args.stateful:
        callbacks.append(ResetRNNStates())
    callbacks += [
        ResumableBackupAndRestore(str(run_dir.backup), save_freq=args.backup_every),
        perplexity,
        GeneratedTextSamples(run_dir.logs / "samples", tokenizer, prompts,
                             num_chars=args.sample_chars, temperatures=(0.0, args.temperature),
                             top_k=args.top_k, seed=args.seed, log=log if args.verbose else None),
    ]
    if probe is not None:
        callbacks.append(GradientFlowTensorBoard(run_dir.logs / "gradient_flow", probe))
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
    model.reset_rnn_states()
    val_loss = float(model.evaluate(val_ds, verbose=0))
    model.reset_rnn_states()

    # ---- export and check it against the Keras model ------------------------------------
    module = CharLMServingModule(model, tokenizer, default_num_chars=args.sample_chars)
    module.save(run_dir.export)
    loaded = tf.saved_model.load(str(run_dir.export))
    exported = loaded.signatures["serving_default"](text=tf.constant(prompts))
    exported_cont = [c.decode("utf-8") for c in exported["continuation"].numpy()]
    keras_cont = []
    for p in prompts:
        row = tokenizer.encode(tf.constant([p])).to_list()[0] or tokenizer.encode_text(" ").tolist()
        gen = model.generate(np.array([row], "int32"), args.sample_chars)
        keras_cont.append(tokenizer.decode(gen[:, len(row):]).numpy()[0].decode("utf-8"))
    sampled = loaded.signatures["generate"](
        prompt=tf.constant(prompts), num_chars=tf.constant(args.sample_chars),
        temperature=tf.constant(float(args.temperature)))["text"].numpy()

    train_chars = steps_per_epoch * args.batch_size * args.num_steps
    metrics = {
        "dataset": data_info["dataset"],
        "validation_loss": val_loss,
        "validation_perplexity": PerplexityLogger.perplexity(val_loss),
        "validation_bits_per_char": PerplexityLogger.bits_per_char(val_loss),
        "epochs": args.epochs, "epochs_run_this_call": epochs_run,
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "train_chars_per_second": train_chars * epochs_run / fit_seconds if epochs_run else None,
        "parameters": int(model.count_params()),
        "export_greedy_matches_keras": exported_cont == keras_cont,
        "samples_greedy": dict(zip(prompts, exported_cont)),
        "samples_temperature": {p: s.decode("utf-8") for p, s in zip(prompts, sampled)},
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "perplexity_history": perplexity.history,
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    if data_info["dataset"] == "generated":
        log("DATA: the GENERATED corpus (not The Time Machine) - see --data-file/--data-dir.")
    else:
        log(f"DATA: {data_info['dataset']} from {data_info['path']}")
    log(f"Validation perplexity {metrics['validation_perplexity']:.3f}, bits/char "
        f"{metrics['validation_bits_per_char']:.3f} ({len(val_ids):,} characters); epochs "
        f"{epochs_run} run now, fit {fit_seconds:.0f} s.")
    log(f"Export (SavedModel; signatures serving_default, generate): {run_dir.export}")
    log("Export greedy continuation == Keras model.generate: "
        f"{metrics['export_greedy_matches_keras']}")
    for p, c in zip(prompts, exported_cont):
        log(f"  greedy  {p!r} -> {c!r}")
    for p, s in metrics["samples_temperature"].items():
        log(f"  T={args.temperature} {s!r}")
    log(f"Predict: keras-seq predict {run_dir.export} \"time traveller\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="char_lm", description="Train, evaluate and export a char-level language model.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/char_lm.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
