"""Aligned Seq2Seq (T = T'): tag every character of text with a stacked (bi)RNN.

Run it as `keras-seq train tagger [options]` or `python applications/tagger.py [options]`.
Without options it trains on a generated task that needs no files: sentences with numbers
("42", "3.5", "1,200", "-7", "3/4") and dates ("12 March 1998", "2021-03-04", "March 4th, 2020",
"04/03/2021"), every character tagged O / B-NUM / I-NUM / B-DATE / I-DATE. "12" alone is a
number but "12 March 1998" a date: the tag of the first digit depends on what follows, which
is why `--bidirectional` (default) matters. `--data-file` trains on your own JSONL
(`{"text": "...", "spans": [[start, end, "TYPE"], ...]}` per line, any types).

It writes a run folder `runs/tagger/<time>/` with TensorBoard logs (loss, token accuracy,
validation span F1, learning rate, a table and an image of tagged validation texts), backups,
the SavedModel (`serving_default`: text -> tags, spans), config.json and metrics.json (test
token accuracy, span precision/recall/F1 per type and micro).
"""

import argparse
import os
import pathlib
import sys
import time


from keras_seq.app_args import (
    add_run_arguments, apply_quick, compile_token_classifier, float_in, model_scope, open_run,
    positive_int, resolve_jit, restore_run_options, run_main, training_callbacks)

APP_NAME = "tagger"
EXAMPLES = ("We paid 12 on 12 March 1998.", "The price rose to 1,200 on 2021-03-04.",
            "Only 3/4 of the boxes came on 04/03/2021, -7 kg.",
            "Signed March 4th, 2020 by 2020 people and 3.5 km.")
QUICK = dict(train_size=1500, validation_size=200, test_size=300, epochs=2, units=32)
# Options that define the data, the model or the optimizer: a resumed run (--run-dir with a
# config.json) takes them from its config.json, whatever the command says.
RESUMED_OPTIONS = (
    "data_file", "data_dir", "train_size", "validation_size", "test_size", "max_length", "cell",
    "units", "layers", "bidirectional", "embedding_dim", "dropout", "epochs", "batch_size",
    "learning_rate", "seed", "quick")


def add_arguments(parser):
    """Adds the application's options to an `argparse` parser."""
    g = parser.add_argument_group("data")
    g.add_argument("--data-file", default=None,
                   help="your own data: a JSONL file, one {\"text\": \"...\", \"spans\": "
                        "[[start, end, \"TYPE\"], ...]} per line (character offsets, end "
                        "exclusive, any type names); split 80/10/10 by --seed")
    g.add_argument("--data-dir", default=None,
                   help="a folder with train.jsonl, validation.jsonl and test.jsonl (the "
                        "--data-file format). Default: the generated numbers-and-dates task")
    g.add_argument("--train-size", type=positive_int("--train-size"), default=8000,
                   help="generated training sentences (default 8000)")
    g.add_argument("--validation-size", type=positive_int("--validation-size"), default=1000)
    g.add_argument("--test-size", type=positive_int("--test-size"), default=2000)
    g.add_argument("--max-length", type=positive_int("--max-length"), default=96,
                   help="the longest text in characters (generated ones are shorter; longer "
                        "texts of --data-file/--data-dir are cut, spans past the cut dropped)")
    g = parser.add_argument_group("model")
    g.add_argument("--cell", choices=("elman", "rnn", "gru", "lstm"), default="lstm",
                   help="elman: the lecture's ElmanRNNCell; rnn: SimpleRNN; gru; lstm (default)")
    g.add_argument("--units", type=positive_int("--units"), default=64,
                   help="units per RNN layer and direction")
    g.add_argument("--layers", type=positive_int("--layers"), default=2,
                   help="stacked RNN layers (the lecture's deep RNN)")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                   help="run every layer in both directions (default on)")
    g.add_argument("--embedding-dim", type=positive_int("--embedding-dim"), default=32)
    g.add_argument("--dropout", type=float_in("--dropout", 0.0, 1.0), default=0.1,
                   help="dropout on the embedding and between layers")
    add_run_arguments(parser, default_epochs=3, default_batch_size=64,
                      quick_help=f"smoke run: {QUICK['train_size']} training sentences, "
                                 f"{QUICK['epochs']} epochs, {QUICK['units']} units")
    parser.set_defaults(learning_rate=3e-3)
    return parser


def _resolve(args, log=print):
    apply_quick(args, QUICK, log)  # options given on the command line win over --quick
    if args.max_length < 40:
        raise ValueError(f"--max-length must be at least 40 characters, got {args.max_length}.")
    if args.data_file and args.data_dir:
        raise ValueError("give either --data-file or --data-dir, got both "
                         f"({args.data_file!r} and {args.data_dir!r}).")
    return args


def _cut(examples, max_length):
    """Texts cut to `max_length` characters; spans that do not fit are dropped."""
    out, cut = [], 0
    for ex in examples:
        if len(ex["text"]) > max_length:
            cut += 1
            ex = {"text": ex["text"][:max_length],
                  "spans": [s for s in ex["spans"] if s[1] <= max_length]}
        out.append(ex)
    return out, cut


def load_splits(args, log=print):
    """`({"train", "validation", "test"}: examples, span types, data info)`."""
    from keras_seq.data import span_tagging as st

    if args.data_file:
        examples, types = st.read_jsonl(args.data_file, "--data-file")
        splits = st.split_examples(examples, seed=args.seed)
        info = {"dataset": "file", "path": str(args.data_file)}
    elif args.data_dir:
        folder = pathlib.Path(args.data_dir)
        if not (folder / "train.jsonl").is_file():
            raise ValueError(f"--data-dir must hold train.jsonl (and validation.jsonl, "
                             f"test.jsonl), got {str(folder)!r}.")
        splits, types = {}, set()
        for name in st.SPLIT_NAMES:
            path = folder / f"{name}.jsonl"
            if path.is_file():
                splits[name], kinds = st.read_jsonl(path, "--data-dir")
                types.update(kinds)
        missing = [name for name in ("validation", "test") if name not in splits]
        if missing:  # a missing split is taken out of train.jsonl (10% each)
            rest = st.split_examples(splits["train"], seed=args.seed)
            splits["train"] = rest["train"]
            splits.update({name: rest[name] for name in missing})
        types = sorted(types)
        info = {"dataset": "dir", "path": str(folder)}
    else:
        splits = st.generated_splits(args.train_size, args.validation_size, args.test_size,
                                     seed=args.seed, max_length=args.max_length)
        types = list(st.DEFAULT_TYPES)
        info = {"dataset": "generated", "source": "keras_seq.data.span_tagging (numbers and "
                "dates, character BIO tags)"}
    if not types:
        raise ValueError("the data holds no spans at all; a tagger needs examples of at least "
                         "one span type.")
    cut = 0
    for name in st.SPLIT_NAMES:
        splits[name], n = _cut(splits[name], args.max_length)
        cut += n
    if cut:
        log(f"{cut} texts were longer than --max-length {args.max_length} and were cut.")
    info.update({f"{k}_examples": len(v) for k, v in splits.items()}, types=list(types),
                texts_cut=cut)
    return splits, list(types), info


def run(args, extra_callbacks=(), log=print):
    """Trains, evaluates (token accuracy, span P/R/F1) and exports; returns the metrics dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_seq.callbacks.tagged_samples import TaggedSamples
    from keras_seq.data import span_tagging as st
    from keras_seq.export.tagger_module import TaggerServingModule
    from keras_seq.metrics.tagging_metrics import tag_ids_to_spans, tagging_report
    from keras_seq.models.sequence_tagger import SequenceTagger

    args = _resolve(restore_run_options(args, RESUMED_OPTIONS, log), log)
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy("float32")
    jit = resolve_jit(args.jit_compile, "train")

    splits, types, data_info = load_splits(args, log)
    names = st.tag_names(types)
    encoded = {k: st.encode_examples(v, types) for k, v in splits.items()}
    train_ds = st.tagging_dataset(*encoded["train"], args.batch_size, shuffle=True,
                                  seed=args.seed)
    val_ds = st.tagging_dataset(*encoded["validation"], args.batch_size)
    # The run folder is made only once the data is there (bad input leaves nothing behind).
    run_dir = open_run(APP_NAME, args, data_info, log, jit_compile_resolved=jit,
                       tag_names=names)

    with model_scope():  # the --strategy scope (a no-op without one)
        model = SequenceTagger(st.VOCABULARY_SIZE, len(names), cell=args.cell, units=args.units,
                               num_layers=args.layers, bidirectional=args.bidirectional,
                               embedding_dim=args.embedding_dim, dropout=args.dropout)
        steps = int(train_ds.cardinality()) * args.epochs
        compile_token_classifier(model, args, steps, jit, max_warmup_steps=300)
        model(np.ones((1, 4), "int32"))
    direction = "bidirectional" if args.bidirectional else "left-to-right"
    log(f"Model: {args.layers} x {direction} {args.cell}, {args.units} units, "
        f"{model.count_params():,} parameters; tags {names}; "
        f"{len(splits['train']):,} training / {len(splits['validation']):,} validation / "
        f"{len(splits['test']):,} test texts; XLA train step: {jit}.")

    val_texts = [ex["text"] for ex in splits["validation"]][:1000]
    samples = TaggedSamples(run_dir.logs / "validation", val_texts,
                            st.pad_batch(encoded["validation"][0][:1000]),
                            encoded["validation"][1][:1000], names,
                            log=log if args.verbose else None)
    callbacks, budget = training_callbacks(run_dir, args, [samples], extra_callbacks, log)
    fit_started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                        callbacks=callbacks, verbose=args.verbose,
                        shuffle=False)  # tf.data shuffles (seeded, every epoch)
    fit_seconds = time.time() - fit_started
    model.save_weights(str(run_dir.file("model.weights.h5")))

    # ---- test: token accuracy and span scores ----------------------------------------------
    test_texts = [ex["text"] for ex in splits["test"]]
    predicted = model.predict_tags(st.pad_batch(encoded["test"][0]))
    report = tagging_report(encoded["test"][1], predicted, names)

    # ---- export, checked against the Keras model -----------------------------------------
    TaggerServingModule(model, names, max_chars=max(2000, args.max_length)).save(run_dir.export)
    serving = tf.saved_model.load(str(run_dir.export)).signatures["serving_default"]
    check = test_texts[:64]
    exported_tags = [t.decode("utf-8").split(" ") for t in
                     serving(text=tf.constant(check))["tags"].numpy()]
    keras_tags = [[names[int(i)] for i in row[:len(text)]]
                  for text, row in zip(check, predicted[:64])]
    export_agrees = exported_tags == keras_tags
    outputs = serving(text=tf.constant(list(EXAMPLES)))
    examples = [{"text": text, "spans": s.decode("utf-8"), "tags": t.decode("utf-8")}
                for text, s, t in zip(EXAMPLES, outputs["spans"].numpy(),
                                      outputs["tags"].numpy())]
    samples_test = []
    for text, gold, pred in list(zip(test_texts, encoded["test"][1], predicted))[:10]:
        samples_test.append({
            "text": text,
            "gold": [f"{k}:{text[a:b]}" for a, b, k in tag_ids_to_spans(gold, names)],
            "predicted": [f"{k}:{text[a:b]}" for a, b, k in
                          tag_ids_to_spans(pred, names, len(text))]})

    spans = report["spans"]
    metrics = {
        "dataset": data_info["dataset"], "cell": args.cell, "layers": args.layers,
        "bidirectional": args.bidirectional, "units": args.units,
        "test_texts": len(test_texts), "test_characters": int(sum(len(t) for t in test_texts)),
        "test_token_accuracy": report["token_accuracy"],
        "test_span_precision": spans["micro"]["precision"],
        "test_span_recall": spans["micro"]["recall"], "test_span_f1": spans["micro"]["f1"],
        "test_spans": spans,
        "tag_names": names, "parameters": int(model.count_params()),
        "epochs": args.epochs, "epochs_run": len(history.history.get("loss", [])),
        "stopped_by_time_budget": budget.stopped_at if budget else None,
        "fit_seconds": fit_seconds, "total_seconds": time.time() - started,
        "export_matches_keras": export_agrees, "examples": examples,
        "test_samples": samples_test, "validation_span_history": samples.history,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    run_dir.write_json("metrics.json", metrics)

    banner = "=" * 78
    log(banner)
    if data_info["dataset"] == "generated":
        log("DATA: the generated numbers-and-dates task (see --data-file for your own data).")
    else:
        log(f"DATA: {data_info['dataset']} {data_info['path']}")
    log(f"Test ({len(test_texts)} texts, {metrics['test_characters']:,} characters): token "
        f"accuracy {metrics['test_token_accuracy']:.4f}; span P/R/F1 (exact match, micro) "
        f"{metrics['test_span_precision']:.4f} / {metrics['test_span_recall']:.4f} / "
        f"{metrics['test_span_f1']:.4f}")
    for t in types:
        s = spans[t]
        log(f"  {t:<8} P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}  "
            f"({s['support']} spans)")
    log(f"Fit {fit_seconds:.0f} s. Export (serving_default: text -> tags, spans): "
        f"{run_dir.export}  (agrees with the Keras model: {export_agrees})")
    for ex in examples:
        log(f"  {ex['text']!r}\n      -> {ex['spans'] or '(no span)'}")
    log(f"Predict: keras-seq predict {run_dir.export} \"{EXAMPLES[0]}\"")
    log(f"TensorBoard: {run_dir.tensorboard_command()}")
    log(banner)
    return metrics


def build_parser(parser=None):
    """An `argparse` parser for running this app directly."""
    parser = parser or argparse.ArgumentParser(
        prog="tagger", description="Train, evaluate and export a character BIO tagger.")
    return add_arguments(parser)


def main(argv=None):
    """Command-line entry point of `python applications/tagger.py`."""
    return run_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
