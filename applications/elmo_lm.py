"""ELMo-style bidirectional word LM: the `elmo_lm` task (text → forward + backward LSTM LMs).

Run it as `keras-seq train elmo-lm [options]` or `python applications/elmo_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly). Tokens are lower-cased words and punctuation
(`--tokenizer words`) or the IMDB classifier's tokenization (`--tokenizer review`); the
vocabulary holds the `--vocabulary-size` - 2 most frequent tokens of the training part (plus
padding and [UNK]). The first 90% of the tokens train, the last 10% validate (by position).

It writes a run folder `runs/elmo-lm/<time>/`: TensorBoard logs (forward, backward and mean
perplexity, learning rate, the most likely next and previous words of a few sentences),
backups, task.kseq (`keras_seq.load(RUN)`, and what `keras-seq train imdb --elmo RUN` loads),
tokenizer.json, a SavedModel (`embed`: text -> contextual embeddings; `serving_default`:
sentence embedding and the most likely next/previous word), config.json and metrics.json.
"""

import dataclasses
import sys

from keras_seq.lifecycle import (Application, TextCorpusConfig, entry_points, fit_verbosity,
                                 fraction, non_negative_float, option, positive_float, positive_int)

SENTENCES = ("the time traveller", "i saw the machine", "the sun was setting",
             "and then", "he said")
TOKENIZATION = {
    "words": "lower-cased words and punctuation marks (each punctuation character is a "
             "token; apostrophes between letters stay in the word), split on white space",
    "review": "the IMDB classifier's: lower-cased, HTML line breaks and ASCII punctuation "
              "removed, split on white space",
}
TOKENIZER_FILE = "tokenizer.json"


@dataclasses.dataclass
class ElmoLMConfig(TextCorpusConfig):
    """The options of `keras-seq train elmo-lm`."""

    APP = "elmo-lm"

    tokenizer: str = option("words", "data", "words: lower-cased words and punctuation; "
                            "review: the IMDB classifier's tokenization (use it for `imdb "
                            "--elmo`)", choices=("words", "review"))
    max_tokens: int = option(None, "data", "use only the first N tokens of the text",
                             type=positive_int, quick=12000)
    val_fraction: float = option(0.1, "data", "last share of the tokens (by position) for "
                                 "validation", type=fraction)
    vocabulary_size: int = option(10000, "model", "token ids, padding and [UNK] included: the N-2 "
                                  "most frequent training tokens", type=positive_int, quick=2000,
                                  renamed_from="vocab_size")
    embedding_dim: int = option(128, "model", "token embedding width", type=positive_int,
                                quick=48)
    hidden_dim: int = option(256, "model", "LSTM units per direction and layer (H; embeddings are "
                             "2H wide)", type=positive_int, quick=48,
                             renamed_from="units")
    layers: int = option(2, "model", "LSTM layers per direction (L)", type=positive_int)
    dropout: float = option(0.3, "model", "dropout on the token layer, between layers and "
                            "before the softmax", type=fraction)
    separate_softmax: bool = option(False, "model", "one output projection per direction "
                                    "(default: shared)")
    epochs: int = option(20, "training", "passes over the training data", type=positive_int,
                         quick=3)
    batch_size: int = option(32, "training", "windows per batch", type=positive_int, quick=16)
    sequence_length: int = option(35, "training", "tokens per training window (both LMs "
                                  "start fresh in each window)", type=positive_int, quick=20)
    learning_rate: float = option(2e-3, "training", "peak learning rate (cosine decay to 5%%)",
                                  type=positive_float, quick=1e-2)
    clip_norm: float = option(1.0, "training", "gradient clipping by global norm (0 = off)",
                              type=non_negative_float)
    patience: int = option(3, "training", "early stopping on validation loss after N epochs "
                           "without improvement, best weights restored (0 = off)", type=int)
    mixed_precision: bool = option(False, "training", "mixed_bfloat16 policy (logits and loss "
                                   "stay float32)")
    backup_every: int = option(100, "outputs", "BackupAndRestore saves every N batches",
                               type=positive_int)
    sentence: tuple = option(SENTENCES, "samples", "sentence for the next/previous-word "
                             "samples", resumed=False)


class ElmoLMApplication(Application):
    """Trains the `elmo_lm` task, scores validation perplexity once, exports `embed`."""

    config_class = ElmoLMConfig
    description = "Train, evaluate and export an ELMo-style biLM."

    def resolve(self, config):
        checks = ((config.vocabulary_size >= 3, "--vocabulary-size", config.vocabulary_size,
                   ">= 3 (padding, [UNK], one token)"),
                  (config.sequence_length >= 2, "--sequence-length", config.sequence_length,
                   ">= 2 (a window needs a neighbour)"),
                  (config.patience >= 0, "--patience", config.patience, ">= 0 (0 = off)"),
                  (0.0 < config.val_fraction < 1.0, "--val-fraction", config.val_fraction,
                   "in (0, 1)"))
        for ok, flag, value, expected in checks:
            if not ok:
                raise ValueError(f"`{flag}` must be {expected}, got {value}.")
        return config

    def load_data(self, config, log):
        from keras_seq.data.word_tokenizer import WordTokenizer

        self.log = log
        text, info = config.read_text(log)
        tokens = WordTokenizer.split_text(text, config.tokenizer)[: config.max_tokens]
        cut = int(round(len(tokens) * (1.0 - config.val_fraction)))
        info.update(tokenizer=config.tokenizer, tokenization=TOKENIZATION[config.tokenizer],
                    used_tokens=len(tokens), train_tokens=cut,
                    validation_tokens=len(tokens) - cut)
        return {"train": tokens[:cut], "validation": tokens[cut:]}, info

    def build_task(self, config, splits, run_dir, log):
        import numpy as np

        from keras_seq.data.word_tokenizer import WordTokenizer
        from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
        from keras_seq.tasks import ElmoLM, ElmoLMPreprocessor

        saved = run_dir.read_json(TOKENIZER_FILE)  # a resumed run keeps its vocabulary
        vocabulary = saved["vocabulary"] if saved else WordTokenizer.vocabulary_from_tokens(
            splits["train"] or [""], config.vocabulary_size - 2)
        preprocessor = ElmoLMPreprocessor(vocabulary, config.tokenizer)
        preprocessor.tokenizer.save(run_dir.file(TOKENIZER_FILE))
        network = BidirectionalLanguageModel(
            preprocessor.vocabulary_size, embedding_dim=config.embedding_dim,
            hidden_dim=config.hidden_dim, num_layers=config.layers, dropout=config.dropout,
            share_softmax=not config.separate_softmax)
        network.build((None, None))
        task = ElmoLM(network, preprocessor, sequence_length=config.sequence_length)
        train, val = (preprocessor.tokenizer.ids_of_tokens(splits[k]).astype("int32")
                      for k in ("train", "validation"))
        train_ds, _ = task.stream_dataset(train, config.batch_size, shuffle=True,
                                          seed=config.seed)
        self.val_ds, _ = task.stream_dataset(val, config.batch_size)
        self.val_unknown = float(np.mean(val == 1)) if len(val) else 0.0
        self.run_dir = run_dir
        log(f"Model: biLM, {config.layers} LSTM layers x {config.hidden_dim} units per direction, "
            f"embedding {config.embedding_dim}; vocabulary {preprocessor.vocabulary_size} ids "
            f"({config.tokenizer}); {len(train):,} training / {len(val):,} validation tokens "
            f"(unknown in validation: {self.val_unknown:.1%}).")
        return task, train_ds, self.val_ds, None

    def compile_options(self, config):
        return {"learning_rate": config.learning_rate, "clip_norm": config.clip_norm}

    def callbacks(self, task, config, splits, run_dir):
        import keras

        from keras_seq.callbacks.bidirectional_lm_logger import BidirectionalLMLogger

        self.logger = BidirectionalLMLogger(
            run_dir.logs / "samples", task.preprocessor.tokenizer,
            list(config.sentence),
            log=self.log if fit_verbosity(config.verbose) else None)
        return [self.logger, *([keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True)]
            if config.patience else [])]

    def evaluate(self, task, config, splits, history, run_dir, log):
        from keras_seq.callbacks.bidirectional_lm_logger import (BidirectionalLMLogger,
                                                                  most_likely_neighbours)

        # The weights fit ends with (the best ones with early stopping).
        result = task.trainer.evaluate(self.val_ds, verbose=0, return_dict=True)
        f_ce, b_ce = result["forward_cross_entropy"], result["backward_cross_entropy"]
        ppl = BidirectionalLMLogger._exp
        return {
            "tokenization": TOKENIZATION[config.tokenizer],
            "vocabulary_size": task.preprocessor.vocabulary_size,
            "validation_tokens": len(splits["validation"]),
            "validation_unknown_rate": self.val_unknown,
            "validation_cross_entropy_forward": float(f_ce),
            "validation_cross_entropy_backward": float(b_ce),
            "validation_perplexity_forward": ppl(f_ce),
            "validation_perplexity_backward": ppl(b_ce),
            "validation_perplexity_mean": ppl((f_ce + b_ce) / 2.0),
            "perplexity_unit": "per word-level token (words and punctuation as tokenized), "
                               "windows of --sequence-length tokens, context reset per window",
            "parameters": int(task.network.count_params()),
            "samples": most_likely_neighbours(task.network, task.preprocessor.tokenizer,
                                              list(config.sentence)),
            "perplexity_history": self.logger.history}

    def examples(self, config):
        return ()  # serving_default's sentence_embedding is a vector: shown via check_export

    def check_export(self, task, config, splits, serving):
        import keras
        import numpy as np
        import tensorflow as tf

        check = list(config.sentence)
        exported = tf.saved_model.load(str(self.run_dir.export)).signatures["embed"](
            text=tf.constant(check))["embeddings"].numpy()
        ids, _ = task.preprocessor(check)
        keras_emb = keras.ops.convert_to_numpy(task.network.embed(ids)[0])
        served = serving(text=tf.constant(check))
        return {"export_embed_max_abs_diff_vs_keras": float(np.max(np.abs(exported
                                                                          - keras_emb))),
                "export_next_words": [w.decode("utf-8") for w in served["next_word"].numpy()]}

    def summary(self, config, metrics, run_dir):
        m = metrics
        return [
            f"Tokens: {m['tokenization']}; vocabulary {m['vocabulary_size']}.",
            f"Validation perplexity per token ({m['validation_tokens']:,} tokens): forward "
            f"{m['validation_perplexity_forward']:.2f}, backward "
            f"{m['validation_perplexity_backward']:.2f}, mean "
            f"{m['validation_perplexity_mean']:.2f}.",
            *(f"  [{s['previous'][0][0]}] <- {s['text']!r} -> [{s['next'][0][0]}]"
              for s in m["samples"]),
            f"Export embed vs Keras max |diff|: {m['export_embed_max_abs_diff_vs_keras']:.2e}",
            f"Use in the IMDB classifier: keras-seq train imdb --elmo {run_dir.path}",
            f"Predict: keras-seq predict {run_dir.export} \"the time traveller\" "
            "[--signature embed]"]


APPLICATION = ElmoLMApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
