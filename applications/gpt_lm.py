"""GPT-style causal transformer LM: text -> char (or word-piece) ids -> decoder blocks -> export.

Run it as `keras-seq train gpt-lm [options]` or `python applications/gpt_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly): the first 90% of the text (by position) trains,
the last 10% validates. It writes a run folder `runs/gpt-lm/<time>/` (TensorBoard logs with
loss, perplexity, learning rate and generated samples; backups; SavedModel export with
`serving_default` and `generate`; config.json; metrics.json with the validation perplexity per
token and per character) and prints samples of the exported model.
"""

import argparse
import os
import pathlib
import sys
import time


from keras_seq.app_args import (
    add_run_arguments, add_text_corpus_arguments, apply_quick, float_in, model_scope, positive_int,
    restore_run_options, run_main)

APP_NAME = "gpt-lm"
PROMPTS = ("time traveller", "the machine")
SAMPLERS = ("greedy", "random", "top_k", "top_p")
QUICK = {"max_chars": 60000, "epochs": 2, "layers": 2, "heads": 2, "embed_dim": 64,
         "intermediate_dim": 128, "sequence_length": 64, "batch_size": 32, "sample_tokens": 30}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    add_text_corpus_arguments(g)
    g.add_argument("--tokenizer", choices=("char", "word-piece"), default="char",
                   help="char: characters (see --char-vocabulary); word-piece: a WordPiece "
                        "vocabulary trained on the training part (see --vocab-size)")
    g.add_argument("--char-vocabulary", choices=("d2l", "full"), default="d2l",
                   help="d2l: lower-case a-z + space (+ unknown), as the char-lm baseline; "
                        "full: every character of the training text")
    g.add_argument("--vocab-size", type=positive_int("--vocab-size"), default=2000,
                   help="word-piece vocabulary size (with the reserved tokens)")
    g.add_argument("--max-chars", type=positive_int("--max-chars"), default=None,
                   help="use only the first N characters of the text")
    g.add_argument("--val-fraction", type=float_in("--val-fraction", 0, 1, low_open=True),
                   default=0.1, help="last share of the text (by position) for validation")
    g = parser.add_argument_group("model")
    g.add_argument("--layers", type=positive_int("--layers"), default=3, help="decoder blocks")
    g.add_argument("--heads", type=positive_int("--heads"), default=4)
    g.add_argument("--embed-dim", type=positive_int("--embed-dim"), default=128)
    g.add_argument("--intermediate-dim", type=positive_int("--intermediate-dim"), default=512)
    g.add_argument("--sequence-length", type=positive_int("--sequence-length"), default=64,
                   help="tokens per training window = the model's context (max positions)")
    g.add_argument("--dropout", type=float_in("--dropout", 0, 1), default=0.1)
    g.add_argument("--position", choices=("learned", "sinusoidal"), default="learned")
    g.add_argument("--post-norm", action="store_true",
                   help="post-norm blocks (Vaswani et al.) instead of pre-norm (GPT-2)")
    g.add_argument("--tie-weights", dest="tie_weights", action="store_true", default=True,
                   help="output logits through the token embedding matrix (default)")
    g.add_argument("--no-tie-weights", dest="tie_weights", action="store_false",
                   help="a separate output projection")
    add_run_arguments(parser, default_epochs=12, default_batch_size=32,
                      quick_help=f"smoke run: first {QUICK['max_chars']} characters, "
                                 f"{QUICK['epochs']} epochs, {QUICK['layers']} blocks of "
                                 f"{QUICK['embed_dim']}, windows of {QUICK['sequence_length']}")
    parser.set_defaults(learning_rate=3e-3)
    g = parser.add_argument_group("generation")
    g.add_argument("--prompt", action="append", default=None,
                   help=f"prompt for samples (repeatable; default {list(PROMPTS)})")
    g.add_argument("--sample-tokens", type=positive_int("--sample-tokens"), default=48,
                   help="tokens generated per sample (< --sequence-length)")
    g.add_argument("--sampler", choices=SAMPLERS, default="top_p",
                   help="sampler of the sampled TensorBoard/summary samples (greedy always too)")
    g.add_argument("--temperature", type=float_in("--temperature", 0, 100, low_open=True),
                   default=0.8)
    g.add_argument("--top-k", type=positive_int("--top-k"), default=10)
    g.add_argument("--top-p", type=float_in("--top-p", 0, 1, low_open=True, high_open=False),
                   default=0.9)
    return parser


# Options that define the data, the tokenizer, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "data_file", "data_dir", "dataset", "no_download", "tokenizer", "char_vocabulary",
    "vocab_size", "max_chars", "val_fraction", "layers", "heads", "embed_dim",
    "intermediate_dim", "sequence_length", "dropout", "position", "post_norm", "tie_weights",
    "epochs", "batch_size", "learning_rate", "seed", "quick")


def _apply_quick(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    return args


def _check_args(args):
    if args.embed_dim % args.heads:
        raise ValueError(f"`--embed-dim` must be a multiple of --heads, got --embed-dim "
                         f"{args.embed_dim} and --heads {args.heads}.")
    if args.sample_tokens >= args.sequence_length:
        raise ValueError(f"`--sample-tokens` must be < --sequence-length ({args.sequence_length}"
                         f", the model's context), got {args.sample_tokens}.")
    if args.tokenizer == "word-piece" and args.vocab_size < 16:
        raise ValueError(f"`--vocab-size` must be >= 16 for word pieces, got {args.vocab_size}.")


def split_text(text, val_fraction):
    """(train, validation) text: the last `val_fraction` of the characters validates."""
    cut = int(round(len(text) * (1.0 - val_fraction)))
    return text[:cut], text[cut:]


def make_tokenizer(args, train_text, run_path=None):
    """The tokenizer: a `CharTokenizer`, or the word-piece wrapper (trained on `train_text`).

    A resumed run (a `tokenizer.json` / `vocabulary.txt` in `run_path`) keeps its own.
    """
    if args.tokenizer == "word-piece":
        from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer

        stored = pathlib.Path(run_path) / "vocabulary.txt" if run_path else None
        if stored is not None and stored.is_file():
            return WordPieceTextTokenizer.load(stored)
        return WordPieceTextTokenizer.train(train_text, args.vocab_size)
    from keras_seq.data.char_tokenizer import CharTokenizer

    stored = pathlib.Path(run_path) / "tokenizer.json" if run_path else None
    if stored is not None and stored.is_file():
        return CharTokenizer.load(stored)
    if args.char_vocabulary == "full":
        return CharTokenizer("full", CharTokenizer.build_vocabulary(train_text))
    return CharTokenizer("d2l")


def save_tokenizer(tokenizer, run_dir):
    """Writes the tokenizer next to the run (tokenizer.json or vocabulary.txt)."""
    if hasattr(tokenizer, "save_vocabulary"):
        return tokenizer.save_vocabulary(run_dir.file("vocabulary.txt"))
    return tokenizer.save(run_dir.file("tokenizer.json"))


def encode(tokenizer, text):
    """1-D int32 numpy ids of one str."""
    return tokenizer.encode_text(text)


def evaluation_windows(ids, sequence_length):
    """Non-overlapping (x, y) windows `[n, sequence_length]` over the whole stream (offset 0)."""
    n = (len(ids) - 1) // sequence_length
    if n < 1:
        raise ValueError(f"the validation text has {len(ids)} tokens; --sequence-length "
                         f"{sequence_length} needs at least {sequence_length + 1}.")
    x = ids[: n * sequence_length].reshape(n, sequence_length)
    y = ids[1: n * sequence_length + 1].reshape(n, sequence_length)
    return x.astype("int32"), y.astype("int32")


def make_datasets(train_ids, val_ids, args):
    """(train, validation) tf.data datasets of (x, y) `[batch, sequence_length]`."""
    import tensorflow as tf

    from keras_seq.data.sequence_batches import random_sampling_dataset

    need = args.batch_size * args.sequence_length + args.sequence_length + 1
    if len(train_ids) < need:
        raise ValueError(
            f"the training text has {len(train_ids)} tokens; --batch-size {args.batch_size} x "
            f"--sequence-length {args.sequence_length} needs at least {need}. Use more text "
            "(--max-chars, --data-file) or smaller batches/windows.")
    train = random_sampling_dataset(train_ids, args.batch_size, args.sequence_length,
                                    seed=args.seed)
    x, y = evaluation_windows(val_ids, args.sequence_length)
    val = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size)
    return train, val, int(x.size)


def make_sample_callback(log_dir, tokenizer, prompts, args, log=None):
    """Greedy + `--sampler` continuations of `prompts` each epoch, as a TensorBoard text table."""
    from keras_seq.callbacks.generated_text_samples import GeneratedTextSamples

    class GPTSamples(GeneratedTextSamples):
        """`GeneratedTextSamples` over `GPTLanguageModel.generate`'s sampler settings."""

        def generate(self, model):
            ids = prompt_ids(tokenizer, self.prompts, args.sequence_length - self.num_chars)
            out = {}
            for t in self.temperatures:
                sampler = args.sampler if t else "greedy"
                gen = model.generate(ids, self.num_chars, sampler=sampler,
                                     temperature=t or 1.0, top_k=args.top_k, top_p=args.top_p,
                                     seed=self.seed)
                texts = tokenizer.decode(gen[:, ids.shape[1]:]).numpy()
                for prompt, text in zip(self.prompts, texts):
                    out[(prompt, t)] = text.decode("utf-8", errors="replace")
            return out

    return GPTSamples(log_dir, tokenizer, prompts, num_chars=args.sample_tokens,
                      temperatures=(0.0, args.temperature), seed=args.seed, log=log)


def prompt_ids(tokenizer, prompts, keep=None):
    """Right-padded ids `[n, width]` of the prompts, each cut to its last `keep` ids (as the
    export does, so prompt + continuation fit the context); an empty one becomes the id of
    " " (the export's filler) or 1 (unknown)."""
    import numpy as np
    import tensorflow as tf

    filler = (tokenizer.encode(tf.constant([" "])).flat_values.numpy().tolist() or [1])[:1]
    rows = [(r or filler)[-keep:] if keep else (r or filler)
            for r in tokenizer.encode(tf.constant(list(prompts))).to_list()]
    ids = np.zeros((len(rows), max(len(r) for r in rows)), "int32")
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids


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

    from keras_seq.app_args import compile_token_classifier, resolve_jit, training_callbacks
    from keras_seq.callbacks.perplexity_logger import PerplexityLogger
    from keras_seq.data.timemachine import load_text
    from keras_seq.export.gpt_lm_module import GPTLMServingModule
    from keras_seq.models.gpt_language_model import GPTLanguageModel
    from keras_seq.runs import RunDirectory

    args = _apply_quick(restore_run_options(args, RESUMED_OPTIONS, log), log)
    _check_args(args)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    jit = resolve_jit(args.jit_compile, "train")

    # ---- data ---------------------------------------------------------------------------
    text, data_info = load_text(args.dataset, data_file=args.data_file, data_dir=args.data_dir,
                                download=not args.no_download, log=log)
    if args.max_chars:
        text = text[: args.max_chars]
    train_text, val_text = split_text(text, args.val_fraction)
    tokenizer = make_tokenizer(args, train_text, args.run_dir)
    train_ids, val_ids = encode(tokenizer, train_text), encode(tokenizer, val_text)
    train_ds, val_ds, val_tokens_scored = make_datasets(train_ids, val_ids, args)
    # Characters of the validation text as the tokenizer sees it (d2l: letters + spaces).
    val_chars = int(tf.strings.length(tokenizer.standardize(tf.constant([val_text])),
                                      unit="UTF8_CHAR").numpy()[0])
    if args.tokenizer == "word-piece":
        tokenization = (f"word pieces (WordPiece, {tokenizer.vocabulary_size} ids, lower-case, "
                        "trained on the training part)")
    else:
        tokenization = (f"characters ({tokenizer.mode}: "
                        + ("lower-case a-z + space, other runs -> one space"
                           if tokenizer.mode == "d2l" else "every character kept")
                        + f", {tokenizer.vocabulary_size} ids)")
    # The run folder is made only once the data is there (bad input leaves nothing behind).
    run_dir = RunDirectory(APP_NAME, root=args.runs_root, run_dir=args.run_dir,
                           logdir=args.logdir, export_dir=args.export_dir)
    for line in run_dir.describe():
        log(line)
    save_tokenizer(tokenizer, run_dir)
    data_info.update(tokenization=tokenization, vocabulary_size=tokenizer.vocabulary_size,
                     used_characters=len(text), train_tokens=int(len(train_ids)),
                     validation_tokens=int(len(val_ids)), validation_characters=val_chars)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(app=APP_NAME, data=data_info, jit_compile_resolved=jit,
                  run_dir=str(run_dir.path), logdir=str(run_dir.logs),
                  export_dir=str(run_dir.export), keras=keras.__version__,
                  tensorflow=tf.__version__)
    if run_dir.read_json("config.json") is not None:
        log(f"Resuming run {run_dir.path} (config.json and backup found).")
        config["resumed_from_previous_config"] = True
    run_dir.write_json("config.json", config)

    # ---- model --------------------------------------------------------------------------
    with model_scope():  # the --strategy scope (a no-op without one)
        model = GPTLanguageModel(
            tokenizer.vocabulary_size, max_length=args.sequence_length, num_layers=args.layers,
            num_heads=args.heads, embed_dim=args.embed_dim, intermediate_dim=args.intermediate_dim,
            dropout=args.dropout, position=args.position, norm_first=not args.post_norm,
            tie_weights=args.tie_weights)
        steps_per_epoch = int(train_ds.cardinality().numpy())
        compile_token_classifier(model, args, steps=max(1, steps_per_epoch * args.epochs), jit=jit)
        model(np.ones((1, args.sequence_length), "int32"))
    log(f"Model: GPT {args.layers} blocks x {args.heads} heads, d={args.embed_dim}, ffn "
        f"{args.intermediate_dim}, context {args.sequence_length}, "
        f"{'tied' if args.tie_weights else 'separate'} output, "
        f"{'post' if args.post_norm else 'pre'}-norm, {args.position} positions; "
        f"{model.count_params():,} parameters. Tokens: {tokenization}; {len(train_ids):,} "
        f"training / {len(val_ids):,} validation tokens; {steps_per_epoch} batches per epoch; "
        f"XLA train step: {jit}.")

    prompts = args.prompt or list(PROMPTS)
    perplexity = PerplexityLogger(log=log if args.verbose else None)
    samples = make_sample_callback(run_dir.logs / "samples", tokenizer, prompts, args,
                                   log=log if args.verbose else None)
    callbacks, budget = training_callbacks(run_dir, args, app_callbacks=(samples,),
                                           extra_callbacks=extra_callbacks, log=log)
    callbacks.insert(0, perplexity)  # before TensorBoard/CSVLogger: they log its keys
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose, shuffle=False)
    fit_seconds = time.time() - fit_started
    epochs_run = len(history.history.get("loss", []))

    # ---- evaluate -----------------------------------------------------------------------
    val_loss = float(model.evaluate(val_ds, verbose=0, return_dict=True)["loss"])
    # Per character: the same total of nats spread over the characters the tokens cover.
    chars_scored = val_chars * val_tokens_scored / max(1, len(val_ids))
    nats_per_char = val_loss * val_tokens_scored / max(1.0, chars_scored)

    # ---- export and check it against the Keras model ------------------------------------
    GPTLMServingModule(model, tokenizer, default_num_tokens=args.sample_tokens).save(
        run_dir.export)
    loaded = tf.saved_model.load(str(run_dir.export))
    exported = loaded.signatures["serving_default"](text=tf.constant(prompts))
    exported_greedy = [c.decode("utf-8") for c in exported["generated"].numpy()]
    ids = prompt_ids(tokenizer, prompts, args.sequence_length - args.sample_tokens)
    keras_greedy = [t.decode("utf-8") for t in tokenizer.decode(
        model.generate(ids, args.sample_tokens)[:, ids.shape[1]:]).numpy()]
    sampled = loaded.signatures["generate"](
        prompt=tf.constant(prompts), num_tokens=tf.constant(args.sample_tokens),
        temperature=tf.constant(float(args.temperature)),
        top_k=tf.constant(args.top_k if args.sampler == "top_k" else 0),
        top_p=tf.constant(float(args.top_p) if args.sampler == "top_p" else 1.0))["text"]

    metrics = {
        "dataset": data_info["dataset"],
        "tokenization": tokenization,
        "validation_loss_per_token": val_loss,
        "validation_perplexity_per_token": PerplexityLogger.perplexity(val_loss),
        "validation_perplexity_per_char": PerplexityLogger.perplexity(nats_per_char),
        "validation_bits_per_char": PerplexityLogger.bits_per_char(nats_per_char),
        "validation_protocol": (f"last {args.val_fraction:g} of the text by position, "
                                f"{val_tokens_scored:,} tokens scored in non-overlapping "
                                f"windows of {args.sequence_length} (each window starts "
                                "without context)"),
        "epochs": args.epochs, "epochs_run_this_call": epochs_run,
        "stopped_by_time_budget": bool(budget is not None and budget.stopped_at),
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "parameters": int(model.count_params()),
        "export_greedy_matches_keras": exported_greedy == keras_greedy,
        "samples_greedy": dict(zip(prompts, exported_greedy)),
        "samples_sampled": {
            "sampler": args.sampler, "temperature": args.temperature,
            "top_k": args.top_k, "top_p": args.top_p,
            "texts": [s.decode("utf-8") for s in sampled.numpy()]},
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
    log(f"Tokens: {tokenization}")
    log(f"Validation perplexity {metrics['validation_perplexity_per_token']:.3f} per token, "
        f"{metrics['validation_perplexity_per_char']:.3f} per character "
        f"({metrics['validation_bits_per_char']:.3f} bits/char); epochs {epochs_run} run now, "
        f"fit {fit_seconds:.0f} s.")
    log(f"Export (SavedModel; signatures serving_default, generate): {run_dir.export}")
    log(f"Export greedy continuation == Keras model.generate: "
        f"{metrics['export_greedy_matches_keras']}")
    for p, c in zip(prompts, exported_greedy):
        log(f"  greedy  {p!r} -> {c!r}")
    for s in metrics["samples_sampled"]["texts"]:
        log(f"  {args.sampler} T={args.temperature} {s!r}")
    log(f"Predict: keras-seq predict {run_dir.export} \"time traveller\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="gpt_lm", description="Train, evaluate and export a GPT-style language model.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/gpt_lm.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
