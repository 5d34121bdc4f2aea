"""BERT-style masked LM: the `bert_mlm` task on The Time Machine (or any text), scored, exported.

Run it as `keras-seq train bert-mlm [options]` or `python applications/bert_mlm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly).

The text is split into sentences; the first 90% (by position) train and the rest validate;
the task learns a lower-cased WordPiece vocabulary (`--vocabulary-size`, reserved tokens [PAD]
[UNK] [CLS] [SEP] [MASK] [BOS] [EOS] first) on the training sentences, packs consecutive
sentences as `[CLS] A [SEP] B [SEP]` and masks 15% of the ordinary pieces (80% [MASK], 10%
random, 10% kept; new masks every epoch for training, fixed ones for validation). The run
folder `runs/bert-mlm/<time>/` holds TensorBoard logs (loss, masked-token accuracy and
perplexity, learning rate, fill-mask samples), backups, vocabulary.txt, task.kseq, the
SavedModel (`serving_default`, `fill_mask`), config.json and metrics.json (validation
masked-token perplexity per word piece, also by corruption type and by piece type).
"""

import dataclasses
import sys

from keras_seq.lifecycle import (Application, TextCorpusConfig, entry_points, fraction, option,
                                 positive_float, positive_int)

SAMPLES = (
    "Let's make [MASK] chicken! [SEP] It [MASK] great with orange sauce",
    "The Time [MASK] was expounding a recondite matter to us.",
    "I saw the [MASK] of the Time Traveller. [SEP] He [MASK] at me and laughed.",
)


@dataclasses.dataclass
class BertMLMConfig(TextCorpusConfig):
    """The options of `keras-seq train bert-mlm`."""

    APP = "bert-mlm"

    val_fraction: float = option(0.1, "data", "last share of the text (by position) for "
                                 "validation", type=fraction)
    # --quick: measured on the generated corpus (the default test's data), see
    # tests/bert_mlm/test_app.py: it beats the unigram baseline clearly in ~40 s of training.
    max_sentences: int = option(None, "data", "use only the first N sentences of the text",
                                type=positive_int, quick=1500)
    vocabulary_size: int = option(2000, "model", "WordPiece vocabulary size, reserved tokens "
                                  "included (the learner may return fewer on a small text)",
                                  type=positive_int, quick=200, renamed_from="vocab_size")
    sequence_length: int = option(64, "model", "word pieces per [CLS] A [SEP] B [SEP] input "
                                  "(pairs are truncated)", type=positive_int, quick=32)
    mask_rate: float = option(0.15, "model", "share of the (non-special) tokens selected for "
                              "the MLM loss: 80%% [MASK], 10%% random, 10%% kept", type=fraction)
    layers: int = option(2, "model", "transformer encoder blocks", type=positive_int, quick=1)
    heads: int = option(4, "model", "attention heads", type=positive_int, quick=2)
    embedding_dim: int = option(128, "model", "hidden size", type=positive_int, quick=32,
                                renamed_from="embed_dim")
    intermediate_dim: int = option(512, "model", "feed-forward size", type=positive_int,
                                   quick=64)
    dropout: float = option(0.1, "model", "dropout rate", type=fraction)
    top_k: int = option(5, "model", "candidates per [MASK] in the samples and in "
                        "serving_default", type=positive_int, resumed=False)
    sample: tuple = option(SAMPLES, "samples", "a text with [MASK] (and optionally [SEP]) for "
                           "the fill-mask samples", resumed=False)
    epochs: int = option(120, "training", "passes over the training data (120: chosen on "
                         "validation over 40, 60, 80 and 160)", type=positive_int, quick=15)
    batch_size: int = option(32, "training", "global batch size", type=positive_int,
                             quick=32)
    learning_rate: float = option(2e-3, "training", "peak learning rate (chosen on validation "
                                  "over 1e-3)", type=positive_float)


class BertMLMApplication(Application):
    """Trains the `bert_mlm` task, scores every validation masked token, exports fill-mask."""

    config_class = BertMLMConfig
    description = "Train, evaluate and export a BERT-style masked LM."

    def resolve(self, config):
        if not 0.0 < config.mask_rate < 1.0:
            raise ValueError(f"`--mask-rate` must be in (0, 1), got {config.mask_rate}.")
        if not 0.0 < config.val_fraction < 1.0:
            raise ValueError(f"`--val-fraction` must be in (0, 1), got {config.val_fraction}.")
        if config.learning_rate >= 10.0:
            raise ValueError(f"`--learning-rate` must be in (0, 10), got "
                             f"{config.learning_rate}.")
        if config.embedding_dim % config.heads:
            raise ValueError("`--embedding-dim` must be a multiple of `--heads`, got "
                             f"--embedding-dim "
                             f"{config.embedding_dim} and --heads {config.heads}.")
        if config.sequence_length < 8:
            raise ValueError(f"`--sequence-length` must be >= 8 (room for [CLS] A [SEP] B "
                             f"[SEP]), got {config.sequence_length}.")
        if config.vocabulary_size < 50:
            raise ValueError(f"`--vocabulary-size` must be >= 50, got {config.vocabulary_size}.")
        for text in config.sample:
            if "[MASK]" not in text:
                raise ValueError(f"`--sample` must contain [MASK], got {text!r}.")
        return config

    def load_data(self, config, log):
        self.log = log
        return prepare_data(config, log)

    def build_task(self, config, splits, run_dir, log):
        from keras_seq.data.word_pieces import load_vocabulary, save_vocabulary
        from keras_seq.models import MaskedLanguageModel
        from keras_seq.tasks import BertMLM, BertMLMPreprocessor

        previous = run_dir.file("vocabulary.txt")
        if previous.is_file():  # a resumed run keeps its vocabulary
            preprocessor = BertMLMPreprocessor(load_vocabulary(previous), config.sequence_length,
                                               config.mask_rate)
        else:
            preprocessor = BertMLMPreprocessor.build_from_texts(
                splits["train"], config.vocabulary_size, config.sequence_length, config.mask_rate)
        save_vocabulary(preprocessor.vocabulary, previous)
        network = MaskedLanguageModel(
            preprocessor.vocabulary_size, sequence_length=config.sequence_length,
            num_layers=config.layers, num_heads=config.heads, embedding_dim=config.embedding_dim,
            intermediate_dim=config.intermediate_dim, dropout=config.dropout)
        network.build()
        task = BertMLM(network, preprocessor, top_k=config.top_k)
        train_ds, _ = task.dataset(splits["train"], batch_size=config.batch_size, shuffle=True,
                                   seed=config.seed)
        val_ds, _ = task.dataset(splits["validation"], batch_size=config.batch_size,
                                 seed=config.seed + 1)
        self.run_dir, self.val_ds = run_dir, val_ds
        log(f"{preprocessor.vocabulary_size} word pieces; {len(splits['train']) - 1:,} training"
            f" / {len(splits['validation']) - 1:,} validation sentence pairs of <= "
            f"{config.sequence_length} pieces; {int(train_ds.cardinality())} batches per epoch.")
        return task, train_ds, val_ds, None

    def callbacks(self, task, config, splits, run_dir):
        from keras_seq.callbacks.fill_mask_samples import FillMaskSamples
        from keras_seq.export.bert_mlm_module import BertMLMServingModule

        return [FillMaskSamples(run_dir.logs / "samples", BertMLMServingModule(task),
                                self.samples(config), k=config.top_k,
                                log=None if config.verbose == "0" else self.log)]

    @staticmethod
    def samples(config):
        return list(config.sample)

    def evaluate(self, task, config, splits, history, run_dir, log):
        from keras_seq.data.word_pieces import MASK_ID
        from keras_seq.metrics.masked_lm_metrics import evaluate_masked_lm

        validation = evaluate_masked_lm(task.network, self.val_ds, task.preprocessor.vocabulary,
                                        MASK_ID)
        return {
            "run_dir": str(run_dir.path),
            "tokenization": "WordPiece (lower-cased, keras_hub/tensorflow-text learner)",
            "vocabulary_size": task.preprocessor.vocabulary_size,
            "parameters": int(task.network.count_params()),
            **{f"validation_masked_{k}": validation[k]
               for k in ("loss", "perplexity", "accuracy", "tokens")},
            "validation_by_corruption": validation["by_corruption"],
            "validation_by_piece": validation["by_piece"]}

    def examples(self, config):
        return ()  # the fill-mask samples are scored in check_export (candidates per [MASK])

    def check_export(self, task, config, splits, serving):
        import tensorflow as tf

        samples = self.samples(config)
        exported = serving(text=tf.constant(samples))
        in_process = task.predict(samples)
        candidates = [[[t.decode("utf-8") for t in m] for m in row]
                      for row in exported["candidates"].numpy()]
        rows = []
        for i, text in enumerate(samples):
            n = int(exported["num_masks"][i])
            probs = exported["probabilities"].numpy()[i]
            rows.append({"text": text, "filled": exported["filled"].numpy()[i].decode("utf-8"),
                         "candidates": [[(t, round(float(p), 4)) for t, p in zip(c, ps)]
                                        for c, ps in zip(candidates[i][:n], probs[:n])]})
        return {"export_matches_keras": candidates == in_process["candidates"],
                "fill_mask_samples": rows}

    def summary(self, config, metrics, run_dir):
        lines = [f"Validation masked-token perplexity {metrics['validation_masked_perplexity']:.2f}"
                 f" and accuracy {metrics['validation_masked_accuracy']:.3f} per word piece "
                 f"({metrics['vocabulary_size']}-piece lower-cased WordPiece vocabulary; "
                 f"{metrics['validation_masked_tokens']:,} masked tokens)."]
        by = metrics["validation_by_corruption"]
        lines.append("  by corruption: " + ", ".join(
            f"{g} ppl {by[g]['perplexity']:.2f} acc {by[g]['accuracy']:.3f} (n={by[g]['tokens']})"
            for g in by if by[g]["tokens"]))
        lines.append(f"Export signatures serving_default, fill_mask (load with `import "
                     f"tensorflow_text`); its top-k == the task's: "
                     f"{metrics['export_matches_keras']}")
        for row in metrics["fill_mask_samples"]:
            lines += [f"  {row['text']!r}", f"    -> {row['filled']!r}"]
            lines += [f"       [MASK]{j + 1}: " + ", ".join(f"{t} {p:.3f}" for t, p in c)
                      for j, c in enumerate(row["candidates"])]
        lines.append(f"Predict: keras-seq predict {run_dir.export} "
                     "\"It [MASK] great with orange sauce\"")
        return lines


def prepare_data(config, log=print):
    """`({"train": sentences, "validation": sentences}, data_info)` of `--data-*`."""
    from keras_seq.data.masked_lm_pipeline import split_by_position, split_sentences

    text, info = config.read_text(log)
    sentences = split_sentences(text)[: config.max_sentences or None]
    if len(sentences) < 20:
        raise ValueError(f"the text has {len(sentences)} sentences; masked-LM training needs at "
                         "least 20 (pass a longer --data-file).")
    train, val = split_by_position(sentences, config.val_fraction)
    if len(train) < 2 or len(val) < 2:
        raise ValueError(f"--val-fraction {config.val_fraction} leaves {len(train)} training "
                         f"and {len(val)} validation sentences; each needs at least 2.")
    info.update(sentences=len(sentences), train_sentences=len(train),
                validation_sentences=len(val))
    return {"train": train, "validation": val}, info


APPLICATION = BertMLMApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
