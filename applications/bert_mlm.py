"""BERT-style masked language model on The Time Machine (or any text): word pieces -> MLM -> export.

Run it as `keras-seq train bert-mlm [options]` or `python applications/bert_mlm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly).

Steps: the text is split into sentences, the first 90% (by position) train and the rest
validate; a WordPiece vocabulary (lower-cased, `--vocab-size`, reserved tokens [PAD] [UNK]
[CLS] [SEP] [MASK] [BOS] [EOS] first) is learned on the training sentences; consecutive
sentences become pairs `[CLS] A [SEP] B [SEP]` (segment ids 0/1, `--sequence-length`);
the tf.data masker selects 15% of the non-special tokens (80% [MASK], 10% random, 10% kept;
new masks every epoch for training, fixed ones for validation); the model predicts the
original word pieces at the selected positions only. The run folder `runs/bert-mlm/<time>/`
holds TensorBoard logs (loss, masked-token accuracy and perplexity, learning rate, fill-mask
samples), backups, the vocabulary, the SavedModel export (`serving_default`, `fill_mask`),
config.json and metrics.json (validation masked-token perplexity per word piece, also by
corruption type and by piece type).
"""

import argparse
import math
import os
import pathlib
import sys
import time


from keras_seq.app_args import (
    add_run_arguments, add_text_corpus_arguments, apply_quick, float_in, model_scope, positive_int,
    restore_run_options, run_main)

APP_NAME = "bert-mlm"
SAMPLES = (
    "Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce",
    "The Time [MASK] was expounding a recondite matter to us.",
    "I saw the [MASK] of the Time Traveller. [SEP] He [MASK] at me and laughed.",
)
QUICK = {"max_sentences": 400, "epochs": 1, "vocab_size": 400, "sequence_length": 32,
         "layers": 1, "embed_dim": 32, "intermediate_dim": 64, "heads": 2, "batch_size": 16}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    add_text_corpus_arguments(g)
    g.add_argument("--val-fraction", type=float_in("--val-fraction", 0, 1, low_open=True),
                   default=0.1, help="last share of the text (by position) for validation")
    g.add_argument("--max-sentences", type=positive_int("--max-sentences"), default=None,
                   help="use only the first N sentences of the text")
    g.add_argument("--vocab-size", type=positive_int("--vocab-size"), default=2000,
                   help="WordPiece vocabulary size, reserved tokens included (the learner may "
                        "return fewer on a small text)")
    g.add_argument("--sequence-length", type=positive_int("--sequence-length"), default=64,
                   help="word pieces per [CLS] A [SEP] B [SEP] input (pairs are truncated)")
    g.add_argument("--mask-rate", type=float_in("--mask-rate", 0, 1, low_open=True),
                   default=0.15, help="share of the (non-special) tokens selected for the "
                                      "MLM loss: 80%% [MASK], 10%% random, 10%% kept")
    g = parser.add_argument_group("model")
    g.add_argument("--layers", type=positive_int("--layers"), default=2,
                   help="transformer encoder blocks")
    g.add_argument("--heads", type=positive_int("--heads"), default=4)
    g.add_argument("--embed-dim", type=positive_int("--embed-dim"), default=128)
    g.add_argument("--intermediate-dim", type=positive_int("--intermediate-dim"), default=512)
    g.add_argument("--dropout", type=float_in("--dropout", 0, 1), default=0.1)
    g.add_argument("--top-k", type=positive_int("--top-k"), default=5,
                   help="candidates per [MASK] in the samples and in serving_default")
    g.add_argument("--sample", action="append", default=None,
                   help="a text with [MASK] (and optionally [SEP]) for the fill-mask samples "
                        f"(repeatable; default {list(SAMPLES)})")
    add_run_arguments(parser, default_epochs=40, default_batch_size=32,
                      quick_help=f"smoke run: first {QUICK['max_sentences']} sentences, "
                                 f"{QUICK['epochs']} epoch, a tiny model")
    parser.set_defaults(learning_rate=2e-3)  # measured: 59 vs 125 val. perplexity at 1e-3
    return parser


# Options that define the data, the vocabulary, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json.
RESUMED_OPTIONS = (
    "data_file", "data_dir", "dataset", "no_download", "val_fraction", "max_sentences",
    "vocab_size", "sequence_length", "mask_rate", "layers", "heads", "embed_dim",
    "intermediate_dim", "dropout", "epochs", "batch_size", "learning_rate", "seed", "quick")


def _apply_quick(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    return args


def _check_args(args):
    if args.embed_dim % args.heads:
        raise ValueError(f"`--embed-dim` must be a multiple of `--heads`, got --embed-dim "
                         f"{args.embed_dim} and --heads {args.heads}.")
    if args.sequence_length < 8:
        raise ValueError(f"`--sequence-length` must be >= 8 (room for [CLS] A [SEP] B [SEP]), "
                         f"got {args.sequence_length}.")
    if args.vocab_size < 50:
        raise ValueError(f"`--vocab-size` must be >= 50, got {args.vocab_size}.")
    for text in args.sample or ():
        if "[MASK]" not in text:
            raise ValueError(f"`--sample` must contain [MASK], got {text!r}.")


def prepare_data(args, log=print):
    """Loads the text and returns `(train_sentences, val_sentences, data_info)`."""
    from keras_seq.data.masked_lm_pipeline import split_by_position, split_sentences
    from keras_seq.data.timemachine import load_text

    text, data_info = load_text(args.dataset, data_file=args.data_file, data_dir=args.data_dir,
                                download=not args.no_download, log=log)
    sentences = split_sentences(text)
    if args.max_sentences:
        sentences = sentences[: args.max_sentences]
    if len(sentences) < 20:
        raise ValueError(f"the text has {len(sentences)} sentences; masked-LM training needs at "
                         "least 20 (pass a longer --data-file).")
    train, val = split_by_position(sentences, args.val_fraction)
    if len(train) < 2 or len(val) < 2:
        raise ValueError(f"--val-fraction {args.val_fraction} leaves {len(train)} training and "
                         f"{len(val)} validation sentences; each needs at least 2.")
    data_info.update(sentences=len(sentences), train_sentences=len(train),
                     validation_sentences=len(val))
    return train, val, data_info


def evaluate_masked_lm(model, dataset, vocabulary):
    """Exact validation figures over every masked position of `dataset` (fixed masks).

    Returns a dict: masked-token `loss` (mean NLL in nats), `perplexity` = exp(loss),
    `accuracy` (top-1), `tokens`, and the same split by corruption type (`mask`: the input
    shows [MASK]; `random`: a random token; `kept`: the original token) and by piece type
    (`word_start` vs `continuation` "##" pieces).
    """
    import numpy as np

    from keras_seq.data.word_pieces import MASK_ID

    continuation = np.array([t.startswith("##") for t in vocabulary])
    sums = {}

    def add(group, nll, correct):
        s = sums.setdefault(group, [0.0, 0.0, 0])
        s[0] += float(nll.sum())
        s[1] += float(correct.sum())
        s[2] += int(nll.size)

    for features, labels, weights in dataset:
        logits = np.asarray(model(features, training=False), "float64")  # (B, P, V)
        labels, used = labels.numpy(), weights.numpy() > 0
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]  # (B, P)
        correct = logits.argmax(-1) == labels
        shown = np.take_along_axis(features["token_ids"].numpy(),
                                   features["mask_positions"].numpy(), 1)
        kind = np.where(shown == MASK_ID, "mask", np.where(shown == labels, "kept", "random"))
        piece = np.where(continuation[labels], "continuation", "word_start")
        add("all", nll[used], correct[used])
        for group in ("mask", "random", "kept"):
            sel = used & (kind == group)
            add(group, nll[sel], correct[sel])
        for group in ("word_start", "continuation"):
            sel = used & (piece == group)
            add(group, nll[sel], correct[sel])

    def figures(s):
        if not s[2]:
            return {"loss": None, "perplexity": None, "accuracy": None, "tokens": 0}
        loss = s[0] / s[2]
        return {"loss": loss, "perplexity": math.exp(loss), "accuracy": s[1] / s[2],
                "tokens": s[2]}

    out = figures(sums["all"])
    out["by_corruption"] = {g: figures(sums[g]) for g in ("mask", "random", "kept")}
    out["by_piece"] = {g: figures(sums[g]) for g in ("word_start", "continuation")}
    return out


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates and exports; returns the metrics dict (also in RUN/metrics.json).

    Args:
        args: `argparse.Namespace` from a parser filled by `add_arguments`.
        extra_callbacks: more Keras callbacks for `fit` (tests use this to interrupt).
        log: function called with the printed lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import keras_hub
    import tensorflow as tf

    from keras_seq.app_args import open_run, resolve_jit, training_callbacks
    from keras_seq.callbacks.fill_mask_samples import FillMaskSamples
    from keras_seq.data.masked_lm_pipeline import masked_lm_dataset, sentence_pairs
    from keras_seq.data.word_pieces import (load_vocabulary, make_word_piece_tokenizer,
                                            save_vocabulary, train_word_piece_vocabulary)
    from keras_seq.export.masked_lm_module import MaskedLMServingModule, fill_mask
    from keras_seq.models.masked_language_model import MaskedLanguageModel

    args = _apply_quick(restore_run_options(args, RESUMED_OPTIONS, log), log)
    _check_args(args)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    jit = resolve_jit(args.jit_compile, "train")

    # ---- data ---------------------------------------------------------------------------
    train_sentences, val_sentences, data_info = prepare_data(args, log)
    previous = pathlib.Path(args.run_dir) / "vocabulary.txt" if args.run_dir else None
    if previous is not None and previous.is_file():  # a resumed run keeps its vocabulary
        vocabulary = load_vocabulary(previous)
    else:
        vocabulary = train_word_piece_vocabulary(train_sentences, args.vocab_size)
    tokenizer = make_word_piece_tokenizer(vocabulary)
    train_a, train_b = sentence_pairs(train_sentences)
    val_a, val_b = sentence_pairs(val_sentences)
    common = dict(tokenizer=tokenizer, vocabulary_size=len(vocabulary),
                  sequence_length=args.sequence_length, batch_size=args.batch_size,
                  mask_rate=args.mask_rate)
    train_ds = masked_lm_dataset(train_a, train_b, shuffle=True, seed=args.seed,
                                 fixed_masks=False, **common)
    val_ds = masked_lm_dataset(val_a, val_b, shuffle=False, seed=args.seed + 1,
                               fixed_masks=True, **common)
    lengths = [len(x) for x in tokenizer(train_a[:2000])]
    data_info.update(tokenization="WordPiece (lower-cased, keras_hub/tensorflow-text learner)",
                     vocabulary_size=len(vocabulary), train_pairs=len(train_a),
                     validation_pairs=len(val_a),
                     mean_word_pieces_per_sentence=float(sum(lengths) / max(1, len(lengths))))
    run_dir = open_run(APP_NAME, args, data_info, log=log, jit_compile_resolved=jit)
    save_vocabulary(vocabulary, run_dir.file("vocabulary.txt"))

    # ---- model --------------------------------------------------------------------------
    with model_scope():  # the --strategy scope (a no-op without one)
        model = MaskedLanguageModel(len(vocabulary), sequence_length=args.sequence_length,
                                    num_layers=args.layers, num_heads=args.heads,
                                    embed_dim=args.embed_dim,
                                    intermediate_dim=args.intermediate_dim,
                                    dropout=args.dropout)
        steps_per_epoch = math.ceil(len(train_a) / args.batch_size)
        total_steps = max(1, steps_per_epoch * args.epochs)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total_steps, warmup_target=args.learning_rate,
            warmup_steps=min(1000, max(1, total_steps // 10)), alpha=0.05)
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                              keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")],
            jit_compile=jit)
        model(next(iter(val_ds))[0])  # builds every variable inside the scope
    log(f"Model: {args.layers} encoder blocks, d={args.embed_dim}, {args.heads} heads, FFN "
        f"{args.intermediate_dim}; {model.count_params():,} parameters; {len(vocabulary)} word "
        f"pieces; {len(train_a):,} training / {len(val_a):,} validation sentence pairs of "
        f"<= {args.sequence_length} pieces; {steps_per_epoch} batches per epoch; XLA train "
        f"step: {jit}.")

    samples = args.sample or list(SAMPLES)
    module = MaskedLMServingModule(model, vocabulary, top_k=args.top_k)
    sampler = FillMaskSamples(run_dir.logs / "samples", module, samples, k=args.top_k,
                              log=log if args.verbose else None)
    callbacks, budget = training_callbacks(run_dir, args, app_callbacks=[sampler],
                                           extra_callbacks=extra_callbacks, log=log)
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose)
    fit_seconds = time.time() - fit_started
    epochs_run = len(history.history.get("loss", []))

    # ---- evaluate -----------------------------------------------------------------------
    validation = evaluate_masked_lm(model, val_ds, vocabulary)

    # ---- export and check it against the Keras model ------------------------------------
    module.save(run_dir.export)
    import tensorflow_text  # noqa: F401  (the export's tokenizer ops)

    loaded = tf.saved_model.load(str(run_dir.export))
    exported = [fill_mask(loaded, s, k=args.top_k) for s in samples]
    in_process = [fill_mask(module, s, k=args.top_k) for s in samples]
    same = all([t for t, _ in c] == [t for t, _ in d]
               for e, i in zip(exported, in_process) for c, d in zip(e, i))
    filled = loaded.signatures["serving_default"](text=tf.constant(samples))["filled"].numpy()

    metrics = {
        "dataset": data_info["dataset"],
        "run_dir": str(run_dir.path),
        "tokenization": data_info["tokenization"],
        "vocabulary_size": len(vocabulary),
        "validation_masked_loss": validation["loss"],
        "validation_masked_perplexity": validation["perplexity"],
        "validation_masked_accuracy": validation["accuracy"],
        "validation_masked_tokens": validation["tokens"],
        "validation_by_corruption": validation["by_corruption"],
        "validation_by_piece": validation["by_piece"],
        "epochs": args.epochs, "epochs_run_this_call": epochs_run,
        "stopped_by_time_budget": bool(budget and budget.stopped_at is not None),
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "parameters": int(model.count_params()),
        "export_matches_keras": same,
        "fill_mask_samples": [{"text": s, "filled": f.decode("utf-8"),
                               "candidates": [[(t, round(p, 4)) for t, p in c] for c in e]}
                              for s, f, e in zip(samples, filled, exported)],
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    if data_info["dataset"] == "generated":
        log("DATA: the GENERATED corpus (not The Time Machine) - see --data-file/--data-dir.")
    else:
        log(f"DATA: {data_info['dataset']} from {data_info['path']}")
    log(f"Validation masked-token perplexity {validation['perplexity']:.2f} and accuracy "
        f"{validation['accuracy']:.3f} per word piece ({len(vocabulary)}-piece lower-cased "
        f"WordPiece vocabulary; {validation['tokens']:,} masked tokens); epochs {epochs_run} "
        f"run now, fit {fit_seconds:.0f} s.")
    by = validation["by_corruption"]
    log("  by corruption: " + ", ".join(
        f"{g} ppl {by[g]['perplexity']:.2f} acc {by[g]['accuracy']:.3f} (n={by[g]['tokens']})"
        for g in by if by[g]["tokens"]))
    log(f"Export (SavedModel; signatures serving_default, fill_mask): {run_dir.export}")
    log(f"Export top-k == in-process module: {same}")
    for row in metrics["fill_mask_samples"]:
        log(f"  {row['text']!r}")
        log(f"    -> {row['filled']!r}")
        for j, c in enumerate(row["candidates"]):
            log(f"       [MASK]{j + 1}: " + ", ".join(f"{t} {p:.3f}" for t, p in c))
    log(f"Predict: keras-seq predict {run_dir.export} \"It [MASK] great with orange sauce\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="bert_mlm", description="Train, evaluate and export a BERT-style masked LM.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/bert_mlm.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
