"""Aligned Seq2Seq (T = T'): tag every character of text with a stacked (bi)RNN.

Run it as `keras-seq train tagger [options]` or `python applications/tagger.py [options]`.
Without options it trains on a generated task that needs no files: sentences with numbers
("42", "3.5", "1,200", "-7", "3/4") and dates ("12 March 1998", "2021-03-04", "March 4th, 2020",
"04/03/2021"), every character tagged O / B-NUM / I-NUM / B-DATE / I-DATE. "12" alone is a
number but "12 March 1998" a date: the tag of the first digit depends on what follows, which
is why the bidirectional default matters (`--no-bidirectional` turns it off). `--data-file`
trains on your own JSONL (`{"text": "...", "spans": [[start, end, "TYPE"], ...]}` per line,
any types).

It writes a run folder `runs/tagger/<time>/` with TensorBoard logs (loss, token accuracy,
validation span F1, learning rate, a table and an image of tagged validation texts), backups,
task.kseq, the SavedModel (`serving_default`: text -> tags, spans), config.json and
metrics.json (test token accuracy, span precision/recall/F1 per type and micro).
"""

import dataclasses
import sys

from keras_seq.lifecycle import (AppConfig, Application, entry_points, fraction, option,
                                 positive_float, positive_int)

EXAMPLES = ("We paid 12 on 12 March 1998.", "The price rose to 1,200 on 2021-03-04.",
            "Only 3/4 of the boxes came on 04/03/2021, -7 kg.",
            "Signed March 4th, 2020 by 2020 people and 3.5 km.")


@dataclasses.dataclass
class TaggerConfig(AppConfig):
    """The options of `keras-seq train tagger`."""

    APP = "tagger"

    data_file: str = option(None, "data", "your own data: a JSONL file, one {\"text\": "
                            "\"...\", \"spans\": [[start, end, \"TYPE\"], ...]} per line "
                            "(character offsets, end exclusive, any type names); split "
                            "80/10/10 by --seed")
    data_dir: str = option(None, "data", "a folder with train.jsonl, validation.jsonl and "
                           "test.jsonl (the --data-file format). Default: the generated "
                           "numbers-and-dates task")
    train_size: int = option(8000, "data", "generated training sentences", type=positive_int,
                             quick=1500)
    validation_size: int = option(1000, "data", "generated validation sentences",
                                  type=positive_int, quick=200)
    test_size: int = option(2000, "data", "generated test sentences", type=positive_int,
                            quick=300)
    max_length: int = option(96, "data", "the longest text in characters (generated ones are "
                             "shorter; longer texts of --data-file/--data-dir are cut, spans "
                             "past the cut dropped)", type=positive_int)
    cell: str = option("lstm", "model", "elman: the lecture's ElmanRNNCell; rnn: SimpleRNN; "
                       "gru; lstm", choices=("elman", "rnn", "gru", "lstm"))
    hidden_dim: int = option(64, "model", "units per RNN layer and direction", type=positive_int,
                             quick=32,
                             renamed_from="units")
    layers: int = option(2, "model", "stacked RNN layers (the lecture's deep RNN)",
                         type=positive_int)
    bidirectional: bool = option(True, "model", "run every layer left to right only "
                                 "(default: both directions)")
    embedding_dim: int = option(32, "model", "character vector size", type=positive_int)
    dropout: float = option(0.1, "model", "dropout on the embedding and between layers",
                            type=fraction)
    epochs: int = option(3, "training", "passes over the training data", type=positive_int,
                         quick=2)
    learning_rate: float = option(3e-3, "training", "peak learning rate", type=positive_float)


class TaggerApplication(Application):
    """Trains the `tagger` task, scores tokens and spans on the test split, exports it."""

    config_class = TaggerConfig
    description = "Train, evaluate and export a character BIO tagger."

    def resolve(self, config):
        if config.max_length < 40:
            raise ValueError(f"--max-length must be at least 40 characters, got "
                             f"{config.max_length}.")
        if config.data_file and config.data_dir:
            raise ValueError("give either --data-file or --data-dir, got both "
                             f"({config.data_file!r} and {config.data_dir!r}).")
        return config

    def load_data(self, config, log):
        from keras_seq.data.span_tagging import load_splits, tag_names

        splits, types, info = load_splits(
            config.data_file, config.data_dir, (config.train_size, config.validation_size,
                                                config.test_size), config.max_length,
            config.seed, log)
        self.types, self.log = types, log
        info.update(tag_names=tag_names(types),
                    description="the generated numbers-and-dates task (see --data-file for "
                    "your own data)" if info["dataset"] == "generated" else
                    f"{info['dataset']} {info['path']}")
        return splits, info

    def build_task(self, config, splits, run_dir, log):
        from keras_seq.tasks import Tagger

        train, val = splits["train"], splits["validation"]
        task = Tagger.from_examples(
            [ex["text"] for ex in train], [ex["spans"] for ex in train], types=self.types,
            max_chars=max(2000, config.max_length), cell=config.cell, hidden_dim=config.hidden_dim,
            num_layers=config.layers, bidirectional=config.bidirectional,
            embedding_dim=config.embedding_dim, dropout=config.dropout)
        train_ds, _ = task.dataset(*_columns(train), config.batch_size, shuffle=True,
                                   seed=config.seed)
        val_ds, _ = task.dataset(*_columns(val), config.batch_size)
        direction = "bidirectional" if config.bidirectional else "left-to-right"
        log(f"Model: {config.layers} x {direction} {config.cell}, {config.hidden_dim} units; tags "
            f"{task.preprocessor.tag_names}; {len(train):,} training / {len(val):,} "
            f"validation / {len(splits['test']):,} test texts.")
        return task, train_ds, val_ds, None

    def callbacks(self, task, config, splits, run_dir):
        from keras_seq.callbacks.tagged_samples import TaggedSamples
        from keras_seq.data.span_tagging import pad_batch

        texts, spans = _columns(splits["validation"][:1000])
        ids, tags = task.encode(texts, spans)
        self.samples = TaggedSamples(run_dir.logs / "validation", texts, pad_batch(ids), tags,
                                     task.preprocessor.tag_names,
                                     log=self.log if str(config.verbose) != "0" else None)
        return [self.samples]

    def evaluate(self, task, config, splits, history, run_dir, log):
        from keras_seq.metrics.tagging_metrics import tag_ids_to_spans, tagging_report

        texts, spans = _columns(splits["test"])
        names = task.preprocessor.tag_names
        _, gold = task.encode(texts, spans)
        self.predicted = task.predict_tag_ids(texts)
        report = tagging_report(gold, self.predicted, names)
        micro = report["spans"]["micro"]
        samples = [{"text": text,
                    "gold": [f"{k}:{text[a:b]}" for a, b, k in tag_ids_to_spans(g, names)],
                    "predicted": [f"{k}:{text[a:b]}" for a, b, k in
                                  tag_ids_to_spans(p, names, len(text))]}
                   for text, g, p in list(zip(texts, gold, self.predicted))[:10]]
        return {"cell": config.cell, "layers": config.layers,
                "bidirectional": config.bidirectional, "hidden_dim": config.hidden_dim,
                "test_texts": len(texts), "test_characters": int(sum(map(len, gold))),
                "test_token_accuracy": report["token_accuracy"],
                "test_span_precision": micro["precision"], "test_span_recall": micro["recall"],
                "test_span_f1": micro["f1"], "test_spans": report["spans"], "tag_names": names,
                "parameters": int(task.network.count_params()), "test_samples": samples,
                "validation_span_history": self.samples.history}

    def examples(self, config):
        return EXAMPLES

    def check_export(self, task, config, splits, serving):
        """The export's tags against the network's own argmax (`predict_tags`, NumPy)."""
        import tensorflow as tf

        texts = [ex["text"] for ex in splits["test"][:64]]
        exported = [t.decode("utf-8").split(" ") if t else [] for t in
                    serving(text=tf.constant(texts))["tags"].numpy()]
        names = task.preprocessor.tag_names
        in_process = [[names[int(i)] for i in row[:len(text)]]
                      for text, row in zip(texts, self.predicted[:64])]
        return {"export_matches_keras": exported == in_process}

    def summary(self, config, metrics, run_dir):
        lines = [f"Test ({metrics['test_texts']} texts, {metrics['test_characters']:,} "
                 f"characters): token accuracy {metrics['test_token_accuracy']:.4f}; span "
                 f"P/R/F1 (exact match, micro) {metrics['test_span_precision']:.4f} / "
                 f"{metrics['test_span_recall']:.4f} / {metrics['test_span_f1']:.4f}"]
        lines += [f"  {t:<8} P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}  "
                  f"({s['support']} spans)" for t, s in metrics["test_spans"].items()
                  if t != "micro"]
        return lines + [f"Export agrees with the Keras model: "
                        f"{metrics['export_matches_keras']}."]


def _columns(examples):
    return [ex["text"] for ex in examples], [ex["spans"] for ex in examples]


APPLICATION = TaggerApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
