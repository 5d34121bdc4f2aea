"""Translation (unaligned Seq2Seq): the `translator` task, trained, scored (BLEU), exported.

Run it as `keras-seq train translator [options]` or `python applications/translator.py`.
Without `--data-dir` it trains on a generated task that needs no files (written dates →
ISO dates, "saturday, march 3rd 1998" → "1998-03-03") so attention can be watched learning
in a few minutes; with `--dataset fra-eng` (or `--data-dir` holding `fra.txt`) it trains on
the Tatoeba English→French pairs. Models: `seq2seq` (RNN encoder-decoder), `attention` (RNN +
Bahdanau attention, the default) and `transformer`. It writes a run folder
`runs/translator/<time>/` (TensorBoard logs with translations and attention heatmaps,
backups, task.kseq, the SavedModel, config.json, metrics.json with BLEU and exact match).
"""

import dataclasses
import sys
import time

from keras_seq.lifecycle import (AppConfig, Application, entry_points, fraction, option,
                                 positive_float, positive_int)

DATE_EXAMPLES = ("saturday, march 3rd 1998", "the 1st of january 2000", "12 dec 1975",
                 "july 4, 2026")
FRA_EXAMPLES = ("i am hungry.", "where is the station?", "we have to go now.",
                "she likes to read books.")
DEFAULTS = {
    "dates": dict(train_size=20000, validation_size=1000, test_size=2000, max_source_length=12,
                  max_target_length=12, epochs=4, embedding_dim=64, hidden_dim=128, num_heads=4,
                  intermediate_dim=128, num_layers=2, vocabulary_size=1000),
    "fra-eng": dict(train_size=None, validation_size=2000, test_size=5000,
                    max_source_length=20, max_target_length=24, epochs=20, embedding_dim=256,
                    hidden_dim=256, num_heads=8, intermediate_dim=1024, num_layers=2,
                    vocabulary_size=15000),
}
DEFAULTS["spa-eng"] = DEFAULTS["fra-eng"]
# --tokens word-piece on fra-eng/spa-eng: a smaller vocabulary (every word still spelled by
# its pieces) and room for the ~13% more tokens per sentence.
WORD_PIECE_DEFAULTS = dict(vocabulary_size=8000, max_source_length=24, max_target_length=28)


def _sized(help_text, quick=None, **kwargs):
    return option(None, "data", help_text + " (default depends on --dataset)",
                  type=positive_int, **({} if quick is None else {"quick": quick}), **kwargs)


def _model_size(help_text, **kwargs):
    return option(None, "model", help_text + " (default depends on --dataset)",
                  type=positive_int, **kwargs)


@dataclasses.dataclass
class TranslatorConfig(AppConfig):
    """The options of `keras-seq train translator`."""

    APP = "translator"

    dataset: str = option("auto", "data", "auto: fra-eng when --data-dir is given, else the "
                          "generated date task", choices=("auto", "dates", "fra-eng", "spa-eng"))
    data_dir: str = option(None, "data", "folder with fra.txt (or fra-eng/fra.txt), "
                           "Tatoeba/ManyThings format 'english<TAB>french'. Default: "
                           "$KERAS_SEQ_DATA_DIR, ../shared/datasets/translation, the cache, "
                           "or a download")
    no_download: bool = option(False, "data", "never try to download")
    tokens: str = option("word", "data", "word: whole words and punctuation, the --vocabulary-size "
                         "most frequent; word-piece: words cut into the pieces of a learnt "
                         "WordPiece vocabulary (the export then needs tensorflow_text). The "
                         "dates task keeps characters on the target side",
                         choices=("word", "word-piece"), before="word")
    train_size: int = _sized("training pairs", quick=4000)
    validation_size: int = _sized("validation pairs", quick=500)
    test_size: int = _sized("test pairs", quick=500)
    max_source_length: int = _sized("source tokens kept")
    max_target_length: int = _sized("target tokens generated at most")
    vocabulary_size: int = _sized("tokens per vocabulary", renamed_from="vocab_size")
    model: str = option("attention", "model", "seq2seq: RNN encoder-decoder with one context "
                        "vector; attention: RNN + Bahdanau attention; transformer",
                        choices=("seq2seq", "attention", "transformer"))
    embedding_dim: int = _model_size("token vector size", renamed_from="embed_dim")
    hidden_dim: int = _model_size("RNN state / transformer width")
    num_heads: int = _model_size("transformer attention heads")
    intermediate_dim: int = _model_size("transformer feed-forward size")
    num_layers: int = _model_size("transformer blocks per side")
    bidirectional_encoder: bool = option(False, "model", "attention model: encode with a "
                                         "forward and a backward GRU of --hidden-dim / 2 units",
                                         before=False)
    deep_output_dim: int = option(None, "model", "attention model: a tanh layer of this size "
                                  "on [state; context; previous target embedding] before the "
                                  "vocabulary", type=positive_int, before=None)
    dropout: float = option(0.1, "model", "dropout rate", type=fraction)
    label_smoothing: float = option(0.0, "training", "spread this much of each target's "
                                    "probability over the vocabulary in the loss",
                                    type=fraction)
    ema_momentum: float = option(None, "training", "keep a moving average of the weights with "
                                 "this momentum (e.g. 0.999) for the test split and the export",
                                 type=positive_float)
    bucket: str = option("auto", "training", "batch pairs of similar length (auto: on for "
                         "seq2seq/transformer without XLA)", choices=("auto", "on", "off"))
    mixed_precision: bool = option(False, "training", "mixed_bfloat16 policy")
    epochs: int = option(None, "training", "passes over the training data (default depends "
                         "on --dataset)", type=positive_int, quick=3)
    sampler: str = option("greedy", "decoding", "decoding of the test split",
                          choices=("greedy", "beam"), resumed=False)
    num_beams: int = option(4, "decoding", "beam width", type=positive_int, resumed=False)
    length_penalty: float = option(0.6, "decoding", "beam search ranks by log p / ((5 + "
                                   "length) / 6) ** this", type=float, resumed=False)
    evaluate_only: bool = option(False, "decoding", "with --run-dir of a finished run: decode "
                                 "its split again with --sampler; no training", resumed=False)
    evaluate_split: str = option("test", "decoding", "the split decoded and scored after "
                                 "training and by --evaluate-only (choose settings on "
                                 "validation, then decode test once)",
                                 choices=("test", "validation"), resumed=False)
    weights: str = option("model.weights.h5", "decoding", "--evaluate-only: the run's weights "
                          "file (raw.weights.h5: the last weights before averaging)",
                          resumed=False)


class TranslatorApplication(Application):
    """Trains the `translator` task, scores BLEU on the test split once, exports it."""

    config_class = TranslatorConfig
    description = "Train, evaluate and export a translator."

    def resolve(self, config):
        dataset = config.dataset
        if dataset == "auto":
            dataset = "fra-eng" if config.data_dir else "dates"
        defaults = dict(DEFAULTS[dataset], dataset=dataset)
        if config.tokens == "word-piece" and dataset != "dates":
            defaults.update(WORD_PIECE_DEFAULTS)
        if not 0.0 <= config.length_penalty < 10.0:
            raise ValueError(f"--length-penalty must be in [0, 10), got {config.length_penalty}")
        return dataclasses.replace(config, **{
            key: value for key, value in defaults.items()
            if getattr(config, key) is None or key == "dataset"})

    def load_data(self, config, log):
        splits, info = load_pairs(config, log)
        info["description"] = info.get("path") or info["source"]
        from keras_seq.runtime import resolve_jit

        self.bucket = {"on": True, "off": False}.get(
            config.bucket,
            config.model != "attention" and not resolve_jit(config.jit_compile, "train"))
        return splits, info

    def build_task(self, config, splits, run_dir, log):
        run_dir.write_json("split.json", {k: v for k, v in splits.items()})
        task = build_task(config, build_preprocessor(config, splits, run_dir))
        task.bucket = self.bucket
        train_ds, steps = task.dataset(splits["train"], batch_size=config.batch_size,
                                       shuffle=True, seed=config.seed)
        val_ds, _ = task.dataset(splits["validation"], batch_size=config.batch_size)
        return task, train_ds, val_ds, steps

    def compile_options(self, config):
        return {"learning_rate": config.learning_rate,
                "label_smoothing": config.label_smoothing,
                "ema_momentum": config.ema_momentum}

    def callbacks(self, task, config, splits, run_dir):
        import keras

        from keras_seq.callbacks import AttentionHeatmaps

        show = splits["validation"][:4]
        preprocessor = task.preprocessor
        callbacks = [AttentionHeatmaps(
            run_dir.logs / "validation", [s for s, _ in show], [t for _, t in show],
            preprocessor.source_tokenizer, preprocessor.target_tokenizer,
            config.max_source_length, config.max_target_length)]
        if config.ema_momentum:  # fit ends by copying the average in: keep the last raw weights
            raw = str(run_dir.file("raw.weights.h5"))
            callbacks.append(keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: task.network.save_weights(raw)))
        return callbacks

    def evaluate(self, task, config, splits, history, run_dir, log):
        task.network.save_weights(str(run_dir.file("model.weights.h5")))  # --evaluate-only
        split = config.evaluate_split  # the keys keep their "test_" names; "split" says which
        self.hypotheses, scores = score_test_split(task, splits[split], config)
        return {"model": config.model, "split": split, **scores}

    def examples(self, config):
        return DATE_EXAMPLES if config.dataset == "dates" else FRA_EXAMPLES

    def check_export(self, task, config, splits, serving):
        import tensorflow as tf

        check = [s for s, _ in splits[config.evaluate_split][:32]]
        exported = [t.decode("utf-8") for t in
                    serving(text=tf.constant(check))["translation"].numpy()]
        return {"export_matches_in_process_decoding": exported == task.generate(check)}

    def summary(self, config, metrics, run_dir):
        return [f"{metrics['split'].capitalize()} ({metrics['test_pairs']} pairs, "
                f"{config.sampler}): BLEU "
                f"{metrics['test_bleu']:.1f} (sacreBLEU, case-insensitive), exact match "
                f"{metrics['test_exact_match']:.3f}; decoding "
                f"{metrics['test_decode_ms_per_sentence']:.1f} ms/sentence; the export agrees "
                f"with in-process decoding: {metrics['export_matches_in_process_decoding']}."]

    def finished_run_files(self, config):
        return ("config.json", "tokenizers.json", "split.json", config.weights)

    def rescore(self, config, run_dir, log):
        """`--evaluate-only`: decodes `split.json`'s test pairs (or validation pairs, with
        `--evaluate-split`) with the weights `--weights` and `--sampler`; writes
        `metrics_<sampler>[_<weights>][_k<beams>_lp<penalty>][_validation].json`."""
        splits = run_dir.read_json("split.json")
        task = build_task(config, build_preprocessor(config, splits, run_dir))
        task.network.load_weights(str(run_dir.file(config.weights)))
        split = config.evaluate_split
        _, scores = score_test_split(task, [tuple(p) for p in splits[split]], config)
        metrics = {"dataset": config.dataset, "model": config.model,
                   "weights": str(run_dir.file(config.weights)), "split": split, **scores}
        suffix = "" if config.weights == "model.weights.h5" else "_" + config.weights.split(".")[0]
        if config.sampler == "beam" and (config.num_beams, config.length_penalty) != (4, 0.6):
            suffix += f"_k{config.num_beams}_lp{config.length_penalty:g}"
        if split != "test":  # the keys keep their "test_" names; "split" says which
            suffix += f"_{split}"
        return (f"metrics_{config.sampler}{suffix}.json", metrics,
                f"({config.model}) BLEU {metrics['test_bleu']:.1f}, exact match "
                f"{metrics['test_exact_match']:.3f} on {metrics['test_pairs']} {split} pairs, "
                f"{metrics['test_decode_ms_per_sentence']:.1f} ms/sentence")


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


def build_preprocessor(args, splits, run_dir):
    """The task's tokenizers: learnt from the training pairs, or a resumed run's."""
    from keras_seq.tasks import TranslatorPreprocessor

    saved = run_dir.read_json("tokenizers.json")
    if saved:  # a resumed run keeps its vocabularies (its embeddings depend on them)
        preprocessor = TranslatorPreprocessor(saved["source"], saved["target"],
                                              args.max_source_length, args.max_target_length)
    else:
        words = getattr(args, "tokens", "word")
        preprocessor = TranslatorPreprocessor.build_from_pairs(
            splits["train"], args.vocabulary_size, words,
            "character" if args.dataset == "dates" else words,
            args.max_source_length, args.max_target_length)
        run_dir.write_json("tokenizers.json", {
            "source": preprocessor.source_tokenizer.get_config(),
            "target": preprocessor.target_tokenizer.get_config()})
    return preprocessor


def build_task(args, preprocessor):
    """The `Translator` task: `preprocessor` + a fresh network of `--model` (built)."""
    from keras_seq.tasks import Translator
    from keras_seq.tasks.translator import build_network

    network = build_network(
        args.model, preprocessor.source_tokenizer.vocabulary_size,
        preprocessor.target_tokenizer.vocabulary_size, args.max_source_length,
        args.max_target_length, embedding_dim=args.embedding_dim, hidden_dim=args.hidden_dim,
        num_heads=args.num_heads, intermediate_dim=args.intermediate_dim,
        num_layers=args.num_layers, dropout=args.dropout,
        bidirectional_encoder=getattr(args, "bidirectional_encoder", False),
        deep_output_dim=getattr(args, "deep_output_dim", None))
    network.build()
    return Translator(network, preprocessor)


def score_test_split(task, test_pairs, args):
    """Decodes `test_pairs` (the split of `--evaluate-split`) with `--sampler` and scores them:
    (hypotheses, metrics dict; the keys keep their "test_" names)."""
    import keras

    from keras_seq.generation import get_sampler
    from keras_seq.lifecycle import fit_verbosity
    from keras_seq.metrics import corpus_bleu, exact_match

    beam = args.sampler == "beam"
    length_penalty = getattr(args, "length_penalty", 0.6)
    sampler = (get_sampler("beam", num_beams=args.num_beams, length_penalty=length_penalty)
               if beam else "greedy")
    sources, hypotheses, chunk = [s for s, _ in test_pairs], [], 256
    progress = keras.utils.Progbar(len(sources), unit_name="sentence",  # on a terminal only
                                   verbose=1 if fit_verbosity(args.verbose) == 1 else 0)
    started = time.time()
    for i in range(0, len(sources), chunk):
        hypotheses += task.generate(sources[i:i + chunk], sampler=sampler, batch_size=chunk)
        progress.update(len(hypotheses))
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


APPLICATION = TranslatorApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
