"""Translation (unaligned Seq2Seq): RNN encoder-decoder, RNN + Bahdanau attention, transformer.

Run it as `keras-seq train translator [options]` or `python applications/translator.py`.
Without `--data-dir` it trains on a generated task that needs no files (written dates →
ISO dates, "saturday, march 3rd 1998" → "1998-03-03") so attention can be watched learning
in a few minutes; with `--dataset fra-eng` (or `--data-dir` holding `fra.txt`) it trains on
the Tatoeba English→French pairs. It writes a run folder `runs/translator/<time>/`
(TensorBoard logs with translations and attention heatmaps, backups, the SavedModel,
config.json, metrics.json with BLEU and exact match on the test split).

Tokenization happens in TensorFlow once, before training; the train step sees integer ids
only (so it can be XLA-compiled); the export puts tokenizer, the compiled decode loop and the
detokenizer into one SavedModel.
"""

import argparse
import os
import pathlib
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_seq.app_args import (  # noqa: E402
    add_run_arguments, compile_token_classifier, float_in, model_scope, open_finished_run,
    open_run, positive_int, resolve_jit, restore_run_options, run_main, training_callbacks)

APP_NAME = "translator"
DATE_EXAMPLES = ("saturday, march 3rd 1998", "the 1st of january 2000", "12 dec 1975",
                 "july 4, 2026")
FRA_EXAMPLES = ("i am hungry.", "where is the station?", "we have to go now.",
                "she likes to read books.")
DEFAULTS = {
    "dates": dict(train_size=20000, validation_size=1000, test_size=2000, max_source_length=12,
                  max_target_length=12, epochs=4, embed_dim=64, hidden_dim=128, num_heads=4,
                  intermediate_dim=128, num_layers=2, vocab_size=1000),
    "fra-eng": dict(train_size=None, validation_size=2000, test_size=5000,
                    max_source_length=20, max_target_length=24, epochs=20, embed_dim=256,
                    hidden_dim=256, num_heads=8, intermediate_dim=1024, num_layers=2,
                    vocab_size=15000),
}
DEFAULTS["spa-eng"] = DEFAULTS["fra-eng"]
# --tokens word-piece on fra-eng/spa-eng: a smaller vocabulary (every word still spelled by
# its pieces) and room for the ~13% more tokens per sentence.
WORD_PIECE_DEFAULTS = dict(vocab_size=8000, max_source_length=24, max_target_length=28)
QUICK = dict(train_size=4000, validation_size=500, test_size=500, epochs=3)
# Options that define the data, the vocabulary, the model or the optimizer: a resumed run
# (--run-dir with a config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "dataset", "data_dir", "no_download", "train_size", "validation_size", "test_size",
    "max_source_length", "max_target_length", "vocab_size", "model", "embed_dim", "hidden_dim",
    "num_heads", "intermediate_dim", "num_layers", "bidirectional_encoder", "deep_output_dim",
    "dropout", "label_smoothing", "ema_momentum",
    "bucket", "mixed_precision", "tokens",
    "epochs", "batch_size", "learning_rate", "seed", "quick")
# What runs made before these options existed used:
ABSENT_IN_OLD_RUNS = {"tokens": "word", "bidirectional_encoder": False, "deep_output_dim": None}


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=("auto", "dates", "fra-eng", "spa-eng"), default="auto",
                   help="auto: fra-eng when --data-dir is given, else the generated date task")
    g.add_argument("--data-dir", default=None,
                   help="folder with fra.txt (or fra-eng/fra.txt), Tatoeba/ManyThings format "
                        "'english<TAB>french'. Default: $KERAS_SEQ_DATA_DIR, "
                        "../shared/datasets/translation, the cache, or a download")
    g.add_argument("--no-download", action="store_true", help="never try to download")
    g.add_argument("--tokens", choices=("word", "word-piece"), default="word",
                   help="word: whole words and punctuation, the --vocab-size most frequent "
                        "(rarer words become [UNK]); word-piece: words cut into the pieces of "
                        "a learnt WordPiece vocabulary of --vocab-size tokens, so no word is "
                        "[UNK] (the export then needs tensorflow_text). The dates task keeps "
                        "characters on the target side")
    for name in ("train-size", "validation-size", "test-size", "max-source-length",
                 "max-target-length", "vocab-size"):
        g.add_argument(f"--{name}", type=positive_int(f"--{name}"), default=None,
                       help="default depends on --dataset")
    g = parser.add_argument_group("model")
    g.add_argument("--model", choices=("seq2seq", "attention", "transformer"),
                   default="attention",
                   help="seq2seq: RNN encoder-decoder with one context vector; attention: "
                        "RNN + Bahdanau attention (default); transformer")
    for name in ("embed-dim", "hidden-dim", "num-heads", "intermediate-dim", "num-layers"):
        g.add_argument(f"--{name}", type=positive_int(f"--{name}"), default=None,
                       help="default depends on --dataset")
    g.add_argument("--bidirectional-encoder", action="store_true",
                   help="attention model: encode with a forward and a backward GRU of "
                        "--hidden-dim / 2 units each, so each encoder state sees the whole "
                        "sentence (as Bahdanau et al. did)")
    g.add_argument("--deep-output-dim", type=positive_int("--deep-output-dim"), default=None,
                   help="attention model: a tanh layer of this size on [decoder state; "
                        "context; previous target embedding] before the vocabulary "
                        "projection (smaller than 2 x --hidden-dim also makes that projection, "
                        "the costliest matmul, cheaper)")
    g.add_argument("--dropout", type=float_in("--dropout", 0.0, 1.0), default=0.1)
    g.add_argument("--label-smoothing", type=float_in("--label-smoothing", 0.0, 1.0), default=0.0,
                   help="spread this much of each target's probability uniformly over the "
                        "vocabulary in the training loss (0 = plain cross-entropy; 0.1 is the "
                        "transformer paper's value)")
    g.add_argument("--ema-momentum", type=float_in("--ema-momentum", 0.0, 1.0, low_open=True),
                   default=None,
                   help="keep an exponential moving average of the weights with this momentum "
                        "(e.g. 0.999) and use it for the test split and the export")
    g.add_argument("--bucket", choices=("auto", "on", "off"), default="auto",
                   help="batch pairs of similar length, padded only to the longest in the "
                        "batch (auto: on for seq2seq/transformer without XLA; the attention RNN "
                        "unrolls over a fixed target length)")
    g.add_argument("--mixed-precision", action="store_true",
                   help="mixed_bfloat16 policy (bf16 matmuls: 1.3-1.8x faster transformer steps "
                        "on this CPU, see benchmarks/RESULTS.md)")
    g.add_argument("--sampler", choices=("greedy", "beam"), default="greedy",
                   help="decoding for the test split and the export (default greedy)")
    g.add_argument("--num-beams", type=positive_int("--num-beams"), default=4)
    g.add_argument("--length-penalty", type=float_in("--length-penalty", 0.0, 10.0), default=0.6,
                   help="beam search ranks by log p / ((5 + length) / 6) ** this (default 0.6; "
                        "0 = raw log-probability, which favours short translations)")
    g.add_argument("--evaluate-only", action="store_true",
                   help="with --run-dir of a finished run: decode its test split again with "
                        "--sampler (e.g. beam) and write metrics_<sampler>.json; no training")
    g.add_argument("--evaluate-split", choices=("test", "validation"), default="test",
                   help="--evaluate-only: the split to decode (tune --num-beams and "
                        "--length-penalty on validation, then decode test once)")
    g.add_argument("--weights", default="model.weights.h5",
                   help="--evaluate-only: the weights file of the run to decode with (default "
                        "model.weights.h5, the final weights; with --ema-momentum, "
                        "raw.weights.h5 holds the last weights before averaging)")
    add_run_arguments(parser, default_epochs=None, default_batch_size=64,
                      quick_help="smoke run: 4000 training pairs, 3 epochs")
    return parser


def _resolve(args):
    if args.dataset == "auto":
        args.dataset = "fra-eng" if args.data_dir else "dates"
    defaults = dict(DEFAULTS[args.dataset])
    if getattr(args, "tokens", "word") == "word-piece" and args.dataset != "dates":
        defaults.update(WORD_PIECE_DEFAULTS)
    if args.quick:
        defaults.update(QUICK)
        if args.dataset != "dates":
            defaults.update(train_size=20000)
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.quick:
        args.epochs = min(args.epochs, QUICK["epochs"])
    return args


def load_pairs(args, log):
    from keras_seq.data.date_normalization import generate_date_pairs
    from keras_seq.data.translation_pairs import locate_pairs_file, read_pairs, split_pairs

    if args.dataset == "dates":
        total = args.train_size + args.validation_size + args.test_size
        pairs = generate_date_pairs(total, seed=args.seed)
        info = {"dataset": "dates", "source": "generated by keras_seq (written date -> ISO)"}
    else:
        path = locate_pairs_file(args.dataset, args.data_dir, download=not args.no_download,
                                 log=log)
        pairs = read_pairs(path)
        info = {"dataset": args.dataset, "path": str(path), "pairs_in_file": len(pairs)}
    splits = split_pairs(pairs, args.test_size, args.validation_size, seed=args.seed)
    if args.train_size and len(splits["train"]) > args.train_size:
        import random

        splits["train"] = random.Random(args.seed).sample(splits["train"], args.train_size)
    info.update({f"{k}_pairs": len(v) for k, v in splits.items()})
    return splits, info


def build_model(args, source_vocab, target_vocab):
    from keras_seq.models import BahdanauEncoderDecoder, RNNEncoderDecoder, TransformerEncoderDecoder

    if args.model == "seq2seq":
        return RNNEncoderDecoder(source_vocab, target_vocab, embed_dim=args.embed_dim,
                                 hidden_dim=args.hidden_dim, dropout=args.dropout)
    if args.model == "attention":
        return BahdanauEncoderDecoder(
            source_vocab, target_vocab, embed_dim=args.embed_dim, hidden_dim=args.hidden_dim,
            dropout=args.dropout,
            bidirectional_encoder=getattr(args, "bidirectional_encoder", False),
            deep_output_dim=getattr(args, "deep_output_dim", None))
    return TransformerEncoderDecoder(
        source_vocab, target_vocab, args.max_source_length, args.max_target_length + 1,
        embed_dim=args.embed_dim, num_heads=args.num_heads,
        intermediate_dim=args.intermediate_dim, num_layers=args.num_layers, dropout=args.dropout)


def _tokenizers(args, splits, run_dir):
    from keras_seq.data.sequence_tokenizer import SequenceTokenizer

    saved = run_dir.read_json("tokenizers.json")
    if saved:  # a resumed run keeps its vocabularies (its embeddings depend on them)
        return SequenceTokenizer(**saved["source"]), SequenceTokenizer(**saved["target"])
    words = getattr(args, "tokens", "word")
    target_split = "character" if args.dataset == "dates" else words
    source = SequenceTokenizer.build_from_texts(
        (s for s, _ in splits["train"]), max_tokens=args.vocab_size, split=words,
        name="source_tokenizer")
    target = SequenceTokenizer.build_from_texts(
        (t for _, t in splits["train"]), max_tokens=args.vocab_size, split=target_split,
        name="target_tokenizer")
    run_dir.write_json("tokenizers.json", {"source": source.get_config(),
                                           "target": target.get_config()})
    return source, target


def make_dataset(pairs, source_tok, target_tok, args, shuffle, bucket=False):
    """tf.data of ({"source", "target_in"}, target_out, weight).

    Fixed shapes `(batch, max_length)` by default; with `bucket`, pairs of similar target
    length share a batch that is padded only to its longest row (fewer padded positions
    through the output layer: 2-3x faster transformer steps on fra-eng, see RESULTS.md).
    """
    import numpy as np
    import tensorflow as tf

    src = np.concatenate([source_tok.tokenize([s for s, _ in pairs[i:i + 4096]],
                                              args.max_source_length).numpy()
                          for i in range(0, len(pairs), 4096)])
    tgt = np.concatenate([target_tok.tokenize([t for _, t in pairs[i:i + 4096]],
                                              args.max_target_length + 1,
                                              add_start_end=True).numpy()
                          for i in range(0, len(pairs), 4096)])
    target_in, target_out = tgt[:, :-1], tgt[:, 1:]
    weights = (target_out != 0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(
        ({"source": src, "target_in": target_in}, target_out, weights))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=args.seed, reshuffle_each_iteration=True)
    if not bucket:
        return ds.batch(args.batch_size).prefetch(tf.data.AUTOTUNE), src

    def trim(x, y, w):
        s_len = tf.reduce_sum(tf.cast(x["source"] != 0, tf.int32))
        t_len = tf.reduce_sum(tf.cast(y != 0, tf.int32))
        return ({"source": x["source"][:s_len], "target_in": x["target_in"][:t_len]},
                y[:t_len], w[:t_len])

    boundaries = list(range(4, args.max_target_length + 1, 4))
    # An endless stream (fit gets steps_per_epoch): bucketing makes the batch count unknown.
    ds = ds.repeat().map(trim).bucket_by_sequence_length(
        lambda x, y, w: tf.shape(y)[0], bucket_boundaries=boundaries,
        bucket_batch_sizes=[args.batch_size] * (len(boundaries) + 1))
    return ds.prefetch(tf.data.AUTOTUNE), src


def translate(model, source_ids, target_tok, max_target_length, sampler, batch_size=256,
              jit=True):
    """Decodes `source_ids` in batches with one compiled loop; returns strings."""
    import tensorflow as tf

    def generate(ids):
        return model.generate(ids, max_target_length + 1, sampler=sampler)

    # The loop is an ops.while_loop already: AutoGraph has nothing to convert (and warned).
    decode = tf.function(generate, jit_compile=jit, autograph=False)
    out = []
    for i in range(0, len(source_ids), batch_size):
        tokens = decode(tf.constant(source_ids[i:i + batch_size]))
        out += [t.decode("utf-8") for t in target_tok.detokenize(tokens).numpy()]
    return out


def score_test_split(model, test_pairs, test_src, target_tok, args):
    """Decodes the test split with `--sampler` and scores it: (hypotheses, metrics dict)."""
    from keras_seq.generation import get_sampler
    from keras_seq.metrics import corpus_bleu, exact_match

    beam = args.sampler == "beam"
    length_penalty = getattr(args, "length_penalty", 0.6)
    sampler = (get_sampler("beam", num_beams=args.num_beams, length_penalty=length_penalty)
               if beam else "greedy")
    started = time.time()
    hypotheses = translate(model, test_src, target_tok, args.max_target_length, sampler,
                           jit=resolve_jit("auto", "inference"))
    seconds = time.time() - started
    references = [t for _, t in test_pairs]
    return hypotheses, {
        "sampler": args.sampler, "num_beams": args.num_beams if beam else None,
        "length_penalty": length_penalty if beam else None,
        "test_bleu": corpus_bleu(hypotheses, references),
        "test_bleu_note": "sacreBLEU corpus BLEU, 13a, case-insensitive, 1 reference per pair, "
                          "detokenized text",
        "test_exact_match": exact_match(hypotheses, references), "test_pairs": len(references),
        "test_decode_ms_per_sentence": 1000 * seconds / max(1, len(references)),
        "test_samples": [{"source": src, "reference": ref, "translation": hyp}
                         for (src, ref), hyp in zip(test_pairs[:10], hypotheses[:10])],
    }


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates (BLEU, exact match) and exports; returns the metrics dict."""
    if getattr(args, "evaluate_only", False):
        return evaluate_run(args, log)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from keras_seq.callbacks import AttentionHeatmaps
    from keras_seq.export.translator_module import TranslatorServingModule

    args = _resolve(restore_run_options(args, RESUMED_OPTIONS, log, ABSENT_IN_OLD_RUNS))
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    jit = resolve_jit(args.jit_compile, "train")
    jit_decode = resolve_jit("auto", "inference")

    splits, data_info = load_pairs(args, log)
    bucket = {"on": True, "off": False}.get(args.bucket, args.model != "attention" and not jit)
    run_dir = open_run(APP_NAME, args, data_info, log, jit_compile_resolved=jit,
                       bucket_resolved=bucket)
    run_dir.write_json("split.json", {k: v for k, v in splits.items()})

    source_tok, target_tok = _tokenizers(args, splits, run_dir)
    train_ds, _ = make_dataset(splits["train"], source_tok, target_tok, args, shuffle=True,
                               bucket=bucket)
    val_ds, _ = make_dataset(splits["validation"], source_tok, target_tok, args, shuffle=False)
    _, test_src = make_dataset(splits["test"], source_tok, target_tok, args, shuffle=False)

    policy = "mixed_bfloat16" if args.mixed_precision else "float32"
    keras.config.set_dtype_policy(policy)
    with model_scope():  # the --strategy scope (a no-op without one)
        model = build_model(args, source_tok.vocabulary_size, target_tok.vocabulary_size)
        batches_per_epoch = -(-len(splits["train"]) // args.batch_size)  # bucketing: approximate
        steps = batches_per_epoch * args.epochs
        compile_token_classifier(model, args, steps, jit, max_warmup_steps=1000)
        model.build()
    log(f"Model {args.model}: {model.count_params():,} parameters; vocab "
        f"{source_tok.vocabulary_size} -> {target_tok.vocabulary_size}; XLA train step: {jit}.")

    n_show = min(4, len(splits["validation"]))
    show = splits["validation"][:n_show]
    heatmaps = AttentionHeatmaps(run_dir.logs / "validation", [s for s, _ in show],
                                 [t for _, t in show], source_tok, target_tok,
                                 args.max_source_length, args.max_target_length)
    app_callbacks = [heatmaps]
    if args.ema_momentum:  # fit ends by copying the average into the model: keep the last raw weights
        raw = str(run_dir.file("raw.weights.h5"))
        app_callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: model.save_weights(raw)))
    callbacks, budget = training_callbacks(run_dir, args, app_callbacks, extra_callbacks, log)
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        steps_per_epoch=batches_per_epoch if bucket else None,
                        callbacks=callbacks, verbose=args.verbose,
                        shuffle=False)  # tf.data shuffles (seeded, every epoch)
    fit_seconds = time.time() - fit_started
    model.save_weights(str(run_dir.file("model.weights.h5")))  # for --evaluate-only later

    hypotheses, test_metrics = score_test_split(model, splits["test"], test_src, target_tok,
                                                args)

    module = TranslatorServingModule(model, source_tok, target_tok, args.max_source_length,
                                     args.max_target_length, jit_compile=jit_decode)
    module.save(run_dir.export)
    serving = tf.saved_model.load(str(run_dir.export)).signatures["serving_default"]
    examples = list(DATE_EXAMPLES if args.dataset == "dates" else FRA_EXAMPLES)
    exported = [t.decode("utf-8") for t in serving(text=tf.constant(examples))["translation"].numpy()]
    check = [s for s, _ in splits["test"][:32]]
    export_agrees = [t.decode("utf-8") for t in
                     serving(text=tf.constant(check))["translation"].numpy()] == hypotheses[:32]

    metrics = {
        "dataset": args.dataset, "model": args.model, **test_metrics,
        "epochs": args.epochs, "epochs_run": len(history.history.get("loss", [])),
        "time_budget_minutes": args.time_budget_minutes,
        "stopped_by_time_budget": budget.stopped_at if budget else None,
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "export_matches_in_process_decoding": export_agrees,
        "examples": [{"source": s, "translation": t} for s, t in zip(examples, exported)],
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    log(f"DATA: {data_info}")
    log(f"Test ({metrics['test_pairs']} pairs, {args.sampler}): BLEU {metrics['test_bleu']:.1f} "
        f"(sacreBLEU, case-insensitive), exact match {metrics['test_exact_match']:.3f}; fit {fit_seconds:.0f} s; decoding "
        f"{metrics['test_decode_ms_per_sentence']:.1f} ms/sentence.")
    log(f"Export (serving_default: text -> translation): {run_dir.export}  "
        f"(agrees with in-process decoding: {export_agrees})")
    for s, t in zip(examples, exported):
        log(f"  {s!r:40} -> {t!r}")
    log(f"Predict: keras-seq predict {run_dir.export} \"{examples[0]}\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def evaluate_run(args, log=print):
    """`--evaluate-only`: decodes the test split of a finished run again, e.g. with beam search.

    Rebuilds the model from the run's `config.json` and `tokenizers.json`, loads its final
    weights (`--weights`, default `model.weights.h5`), decodes `split.json`'s test pairs
    (or validation pairs, `--evaluate-split validation`) with `--sampler` and writes
    `metrics_<sampler>[_<weights>][_k<beams>_lp<penalty>][_validation].json`. Nothing is
    trained and the export is left as it is.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from keras_seq.data.sequence_tokenizer import SequenceTokenizer

    weights_name = getattr(args, "weights", None) or "model.weights.h5"
    run_dir, args = open_finished_run(
        APP_NAME, args, ("tokenizers.json", "split.json", weights_name), RESUMED_OPTIONS,
        ABSENT_IN_OLD_RUNS)
    saved, splits = run_dir.read_json("tokenizers.json"), run_dir.read_json("split.json")
    weights = run_dir.file(weights_name)
    source_tok, target_tok = (SequenceTokenizer(**saved["source"]),
                              SequenceTokenizer(**saved["target"]))
    keras.config.set_dtype_policy("mixed_bfloat16" if args.mixed_precision else "float32")
    model = build_model(args, source_tok.vocabulary_size, target_tok.vocabulary_size)
    model.build()
    model.load_weights(str(weights))
    split = getattr(args, "evaluate_split", "test") or "test"
    pairs = [tuple(pair) for pair in splits[split]]
    _, source_ids = make_dataset(pairs, source_tok, target_tok, args, shuffle=False)
    _, scores = score_test_split(model, pairs, source_ids, target_tok, args)
    metrics = {"dataset": args.dataset, "model": args.model, "weights": str(weights),
               "split": split, **scores}
    suffix = "" if weights_name == "model.weights.h5" else "_" + weights_name.split(".")[0]
    if args.sampler == "beam" and (args.num_beams, args.length_penalty) != (4, 0.6):
        suffix += f"_k{args.num_beams}_lp{args.length_penalty:g}"
    if split != "test":  # the keys keep their "test_" names; "split" says which
        suffix += f"_{split}"
    out = run_dir.write_json(f"metrics_{args.sampler}{suffix}.json", metrics)
    log(f"{args.run_dir} ({args.model}), {args.sampler} decoding: BLEU {metrics['test_bleu']:.1f}, "
        f"exact match {metrics['test_exact_match']:.3f} on {metrics['test_pairs']} {split} pairs, "
        f"{metrics['test_decode_ms_per_sentence']:.1f} ms/sentence -> {out}")
    return metrics


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(
        prog="translator", description="Train, evaluate and export a translator.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/translator.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
