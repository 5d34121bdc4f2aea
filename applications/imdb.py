"""IMDB sentiment: the `imdb` task (raw reviews → mean-pooled BiRNN → label), fit, test, export.

Run it as `keras-seq train imdb [options]` or `python applications/imdb.py`.
Without options it trains on the real IMDB reviews when they are found (see `--data-dir`)
and otherwise on a generated review corpus (said loudly), writes a run folder
`runs/imdb/<time>/` (TensorBoard logs, backups, task.kseq, the SavedModel, config.json,
metrics.json) and prints a summary with predictions of the exported model.
"""

import dataclasses
import sys

from keras_seq.lifecycle import (AppConfig, Application, entry_points, fraction, non_negative_float,
                                 option, positive_float, positive_int)

EXAMPLES = ("this movie is so great", "this movie is so bad")


@dataclasses.dataclass
class ImdbConfig(AppConfig):
    """The options of `keras-seq train imdb`."""

    APP = "imdb"

    data_dir: str = option(None, "data", "folder with the IMDB data: aclImdb/{train,test}/"
                           "{pos,neg}/*.txt (or its parent), or train.jsonl.gz + "
                           "test.jsonl.gz. Default: $KERAS_SEQ_DATA_DIR, "
                           "../shared/datasets/imdb, the cache, or a download")
    dataset: str = option("auto", "data", "auto: real IMDB data if found/downloadable, else "
                          "the generated corpus; imdb: real data or an error; synthetic: the "
                          "generated corpus", choices=("auto", "imdb", "synthetic"))
    no_download: bool = option(False, "data", "never try to download")
    val_fraction: float = option(0.1, "data", "share of the training reviews held out for "
                                 "validation", type=fraction)
    train_size: int = option(None, "data", "use only this many training reviews (seeded "
                             "sample)", type=positive_int, quick=4000)
    test_size: int = option(None, "data", "evaluate on only this many test reviews (seeded "
                            "sample)", type=positive_int, quick=1000)
    vocabulary_size: int = option(25000, "model", "vocabulary size, padding and OOV included",
                                  type=positive_int, quick=10000, renamed_from="vocab_size")
    max_length: int = option(1000, "model", "reviews are cut to this many tokens",
                             type=positive_int, quick=200)
    punctuation: str = option("strip", "model", "strip: all punctuation becomes spaces; "
                              "marks: '!' and '?' stay, as tokens of their own",
                              choices=("strip", "marks"), before="strip")
    embedding_dim: int = option(128, "model", "word vector size", type=positive_int)
    rnn: str = option("lstm", "model", "recurrent cell", choices=("lstm", "gru"))
    hidden_dim: int = option(64, "model", "units per RNN direction", type=positive_int,
                             renamed_from="units")
    stacked: int = option(0, "model", "bidirectional sequence layers below the mean-pooled "
                          "BiRNN", type=int)
    dropout: float = option(0.5, "model", "dropout after the embedding and before the head",
                            type=fraction)
    word_dropout: float = option(0.2, "model", "in training, drop whole word vectors at this "
                                 "rate (0 = off)", type=fraction, before=0.0)
    pooling: str = option("mean_max", "model", "mean: the mean of the BiRNN states (the "
                          "lecture's h̄); mean_max: the mean and the element-wise maximum, "
                          "concatenated", choices=("mean", "mean_max"), before="mean")
    elmo: str = option(None, "model", "an elmo-lm run folder: its pretrained biLM adds ELMo "
                       "vectors to the word embedding; the vocabulary becomes the biLM's",
                       metavar="ELMO_RUN")
    elmo_trainable: bool = option(False, "model", "fine-tune the biLM with the classifier "
                                  "(default: frozen, only the layer mix is learned)")
    elmo_gamma: float = option(1.0, "model", "initial scale of the ELMo vectors",
                               type=non_negative_float)
    epochs: int = option(2, "training", "passes over the training data", type=positive_int,
                         quick=1)
    batch_size: int = option(32, "training", "global batch size (32: chosen on validation over 64)",
                             type=positive_int)
    lr_schedule: str = option("cosine", "training", "cosine: decay the learning rate to 0 "
                              "over all epochs", choices=("constant", "cosine"))
    ema_momentum: float = option(None, "training", "keep a moving average of the weights "
                                 "with this momentum (e.g. 0.999); validation, the best-epoch "
                                 "checkpoint, the test split and the export use it",
                                 type=positive_float)
    adversarial: float = option(None, "training", "adversarial training of the word vectors "
                                "(Miyato et al., 2017) with this epsilon. Default 0.5 (0 with "
                                "--elmo); 0 = off. Costs about 2x per step",
                                type=non_negative_float, metavar="EPSILON", before=0.0)
    adversarial_weight: float = option(1.0, "training", "weight of the adversarial loss",
                                       type=positive_float, before=1.0)
    no_bucketing: bool = option(False, "training", "pad every batch to --max-length instead "
                                "of bucketing by length")
    mixed_precision: bool = option(False, "training", "mixed_bfloat16 policy (head and loss "
                                   "stay float32)")
    backup_every: int = option(50, "outputs", "BackupAndRestore saves every N batches",
                               type=positive_int)


class ImdbApplication(Application):
    """Trains the `imdb` task, scores the test split once, exports raw-string serving."""

    config_class = ImdbConfig
    description = "Train, evaluate and export the IMDB sentiment classifier."

    def resolve(self, config):
        if not 0.0 < config.val_fraction < 1.0:
            raise ValueError(f"`--val-fraction` must be in (0, 1), got "
                             f"val_fraction={config.val_fraction!r}.")
        if config.stacked < 0:
            raise ValueError(f"`--stacked` must be >= 0, got stacked={config.stacked!r}.")
        if config.elmo_trainable and not config.elmo:
            raise ValueError("`--elmo-trainable` needs `--elmo ELMO_RUN` (an elmo-lm run "
                             "folder), got no --elmo.")
        if config.adversarial is None:  # on by default, except with ELMo (two input layers)
            config = dataclasses.replace(config, adversarial=0.0 if config.elmo else 0.5)
        if config.adversarial and config.elmo:
            raise ValueError(f"`--adversarial {config.adversarial}` perturbs the word "
                             "embedding, which must be the classifier's only input layer; it "
                             f"cannot be combined with `--elmo {config.elmo}`.")
        return config

    def load_data(self, config, log):
        from keras_seq.data.reviews import load_reviews, sample, split_validation

        if config.elmo:  # load it first: a bad --elmo leaves nothing behind
            self._load_elmo(config, log)
        splits, info = load_reviews(config.dataset, data_dir=config.data_dir,
                                    download=not config.no_download, seed=config.seed, log=log)
        train, val = split_validation(sample(splits["train"], config.train_size, config.seed),
                                      config.val_fraction, config.seed)
        test = sample(splits["test"], config.test_size, config.seed + 1)
        info.update(used_train=len(train), used_validation=len(val), used_test=len(test),
                    description="the GENERATED synthetic review corpus (not IMDB) - see "
                    "--data-dir" if info["dataset"] == "synthetic" else
                    f"IMDB ({info['format']}) from {info['path']}")
        return {"train": train, "validation": val, "test": test}, info

    def _load_elmo(self, config, log):
        from keras_seq.distribution.training_cluster import model_scope
        from keras_seq.tasks.elmo_lm import load_bilm

        with model_scope():  # its variables join the classifier's (mirrored, if distributed)
            self.bilm, self.bilm_tokenizer = load_bilm(config.elmo)
        if self.bilm_tokenizer.mode != "review":
            log(f"NOTE: the biLM of --elmo {config.elmo} was trained with --tokenizer "
                f"{self.bilm_tokenizer.mode}; the classifier feeds it review-tokenized text "
                "(no punctuation). Pretrain with --tokenizer review for a perfect match.")
        log(f"ELMo: biLM from {config.elmo} ({self.bilm.num_layers} layers x "
            f"{self.bilm.hidden_dim} units), "
            f"{'fine-tuned' if config.elmo_trainable else 'frozen'}; --vocabulary-size ignored.")

    def build_task(self, config, splits, run_dir, log):
        from keras_seq.models import build_sentiment_classifier
        from keras_seq.tasks import ImdbClassifier, ImdbPreprocessor

        vocabulary = run_dir.read_json("vocabulary.json")  # a resumed run keeps its own
        if config.elmo:  # the biLM's ids, so ELMo reads the words it learned
            vocabulary = self.bilm_tokenizer.get_vocabulary()
        elif vocabulary is None:
            vocabulary = ImdbPreprocessor.build_from_texts(
                splits["train"].texts, config.vocabulary_size, config.max_length,
                config.punctuation, log=log).vocabulary
        run_dir.write_json("vocabulary.json", vocabulary)
        preprocessor = ImdbPreprocessor(vocabulary, config.max_length, config.punctuation)
        elmo = None
        if config.elmo:
            from keras_seq.models.elmo_embedding import ElmoEmbedding

            elmo = self.elmo = ElmoEmbedding(self.bilm, fine_tune=config.elmo_trainable,
                                             initial_gamma=config.elmo_gamma, name="elmo")
        network = build_sentiment_classifier(
            vocabulary_size=preprocessor.vocabulary_size, embedding_dim=config.embedding_dim,
            rnn=config.rnn, hidden_dim=config.hidden_dim, num_stacked=config.stacked,
            dropout=config.dropout, elmo=elmo, word_dropout=config.word_dropout,
            pooling=config.pooling)
        task = ImdbClassifier(network, preprocessor, adversarial=config.adversarial,
                              adversarial_weight=config.adversarial_weight)
        task.bucket = not config.no_bucketing
        train, val = splits["train"], splits["validation"]
        train_ds, _ = task.dataset(train.texts, train.labels, config.batch_size, shuffle=True,
                                   seed=config.seed)
        val_ds, _ = task.dataset(val.texts, val.labels, config.batch_size)
        log(f"Vocabulary {preprocessor.vocabulary_size:,}; max length {config.max_length}"
            + (f"; adversarial training, epsilon {config.adversarial}, weight "
               f"{config.adversarial_weight}." if config.adversarial else "."))
        return task, train_ds, val_ds, None

    def compile_options(self, config):
        return {"learning_rate": config.learning_rate, "lr_schedule": config.lr_schedule,
                "ema_momentum": config.ema_momentum}

    def callbacks(self, task, config, splits, run_dir):
        import keras

        from keras_seq.callbacks import SamplePredictionsText

        history = run_dir.file("history.csv")
        best = None
        if history.is_file():  # a resumed run keeps its best epoch so far
            import csv

            with open(history, newline="") as f:
                values = [float(r["val_accuracy"]) for r in csv.DictReader(f)
                          if r.get("val_accuracy")]
            best = max(values) if values else None
        self.best_so_far, self.best_weights = best, run_dir.file("best.weights.h5")
        val = splits["validation"]
        n = min(8, len(val))
        return [
            # With --ema-momentum: the average is in the model from validation until the
            # next epoch begins, so the checkpoint below keeps the best *averaged* weights.
            *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)]
              if config.ema_momentum else []),
            keras.callbacks.ModelCheckpoint(
                str(self.best_weights), monitor="val_accuracy", mode="max",
                save_best_only=True, save_weights_only=True, initial_value_threshold=best),
            SamplePredictionsText(run_dir.logs / "validation", val.texts[:n],
                                  task.preprocessor.dense(val.texts[:n]), val.labels[:n]),
        ]

    def evaluate(self, task, config, splits, history, run_dir, log):
        import keras

        if self.best_weights.is_file():  # the best epoch on validation, never on test
            task.trainer.load_weights(str(self.best_weights))
        test = splits["test"]
        test_ds, _ = task.dataset(test.texts, test.labels, config.batch_size)
        scores = task.trainer.evaluate(test_ds, verbose=0, return_dict=True)
        val_history = history.history.get("val_accuracy", []) + (
            [self.best_so_far] if self.best_so_far else [])
        elmo = getattr(self, "elmo", None)
        numbers = keras.ops.convert_to_numpy
        return {
            "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
            "test_size": len(test),
            "best_val_accuracy": float(max(val_history)) if val_history else None,
            "elmo": config.elmo, "elmo_trainable": bool(config.elmo_trainable),
            "elmo_gamma": float(numbers(elmo.task_mix.gamma)) if elmo else None,
            "elmo_layer_weights": ([float(w) for w in numbers(elmo.task_mix.layer_weights())]
                                   if elmo else None)}

    def examples(self, config):
        return EXAMPLES

    def check_export(self, task, config, splits, serving):
        import numpy as np
        import tensorflow as tf

        texts = splits["test"].texts[:16]
        exported = serving(text=tf.constant(texts))["probability"].numpy()
        return {"export_max_abs_diff_vs_keras":
                float(np.max(np.abs(exported - task.predict_proba(texts))))}

    def summary(self, config, metrics, run_dir):
        best = metrics["best_val_accuracy"]
        return [f"Test accuracy: {metrics['test_accuracy']:.4f} on {metrics['test_size']} "
                f"reviews (loss {metrics['test_loss']:.4f}); best validation accuracy "
                f"{'n/a' if best is None else format(best, '.4f')}; export vs keras max |diff| "
                f"{metrics['export_max_abs_diff_vs_keras']:.2e}."]


APPLICATION = ImdbApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
