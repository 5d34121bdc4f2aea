"""Char-level language model on The Time Machine: the `char_lm` task, trained and exported.

Run it as `keras-seq train char-lm [options]` or `python applications/char_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly), writes a run folder `runs/char-lm/<time>/`
(TensorBoard logs with perplexity, bits per char, gradient flow through time and generated
samples; backups; task.kseq; the SavedModel; config.json; metrics.json) and prints samples
of the exported model.
"""

import dataclasses
import pathlib
import sys

from keras_seq.lifecycle import (Application, TextCorpusConfig, entry_points, fit_verbosity,
                                 fraction, non_negative_float, option, positive_float, positive_int)

PROMPTS = ("time traveller", "the machine")


@dataclasses.dataclass
class CharLMConfig(TextCorpusConfig):
    """The options of `keras-seq train char-lm`."""

    APP = "char-lm"

    tokenizer: str = option("d2l", "data", "d2l: lower-case a-z + space (+ unknown), 28 "
                            "symbols; full: every character of the training text",
                            choices=("d2l", "full"))
    max_chars: int = option(None, "data", "use only the first N characters of the "
                            "(standardized) text", type=positive_int, quick=120000)
    val_fraction: float = option(0.1, "data", "last share of the text (by position) for "
                                 "validation", type=fraction)
    cell: str = option("lstm", "model", "elman: the lecture's ElmanRNNCell; rnn: SimpleRNN; "
                       "gru; lstm", choices=("elman", "rnn", "gru", "lstm"))
    hidden_dim: int = option(256, "model", "hidden units per RNN layer", type=positive_int,
                             quick=128,
                             renamed_from="units")
    layers: int = option(1, "model", "stacked RNNs", type=positive_int)
    embedding_dim: int = option(32, "model", "character embedding size; 0 = one-hot inputs")
    dropout: float = option(0.2, "model", "dropout on the embedding and between layers",
                            type=fraction)
    recurrent_dropout: float = option(0.0, "model", "dropout on the recurrent connections "
                                      "(not elman)", type=fraction)
    epochs: int = option(20, "training", "passes over the training text", type=positive_int,
                         quick=4)
    batch_size: int = option(32, "training", "global batch size", type=positive_int, quick=32)
    num_steps: int = option(64, "training", "BPTT length: characters per training "
                            "subsequence", type=positive_int, quick=32)
    sampling: str = option("random", "training", "random: shuffled subsequences, zero state "
                           "per batch; sequential: contiguous rows (use with --stateful for "
                           "truncated BPTT)", choices=("random", "sequential"))
    stateful: bool = option(False, "training", "carry the state across consecutive batches "
                            "(truncated BPTT), reset at each epoch start; implies --sampling "
                            "sequential")
    learning_rate: float = option(3e-3, "training", "peak learning rate", type=positive_float)
    lr_decay: str = option("cosine", "training", "cosine decay of the learning rate over all "
                           "steps", choices=("cosine", "none"))
    clip_norm: float = option(1.0, "training", "gradient clipping by global norm (0 = off)",
                              type=non_negative_float)
    patience: int = option(3, "training", "early stopping on validation loss after N epochs "
                           "without improvement, best weights restored (0 = off)")
    mixed_precision: bool = option(False, "training", "mixed_bfloat16 policy (logits and loss "
                                   "stay float32)")
    backup_every: int = option(100, "training", "BackupAndRestore saves every N batches",
                               type=positive_int)
    prompt: tuple = option(PROMPTS, "generation", "prompt for samples", resumed=False)
    sample_chars: int = option(100, "generation", "characters generated per sample",
                               type=positive_int, quick=40, resumed=False)
    temperature: float = option(0.8, "generation", "sampling temperature of the sampled "
                                "samples", type=non_negative_float, resumed=False)
    top_k: int = option(None, "generation", "top-k sampling for the samples",
                        type=positive_int, resumed=False)


class CharLMApplication(Application):
    """Trains the `char_lm` task, scores validation perplexity, exports generation."""

    config_class = CharLMConfig
    description = "Train, evaluate and export a char-level language model."

    def resolve(self, config):
        checks = [
            (config.embedding_dim < 0, f"`--embedding-dim` must be >= 0 (0 = one-hot), got "
                                       f"{config.embedding_dim}."),
            (config.patience < 0, f"`--patience` must be >= 0 (0 = off), got "
                                  f"{config.patience}."),
            (config.val_fraction <= 0, f"`--val-fraction` must be in (0, 1), got "
                                       f"{config.val_fraction}."),
            (config.temperature >= 100, f"`--temperature` must be in [0, 100), got "
                                        f"{config.temperature}."),
            (bool(config.recurrent_dropout) and config.cell == "elman",
             "`--recurrent-dropout` is not supported by the elman cell, got "
             f"--recurrent-dropout {config.recurrent_dropout} with --cell elman."),
            (config.stateful and config.strategy in ("mirrored", "multi-worker"),
             "`--stateful` carries each batch row's RNN state into the next batch, and a "
             "distributed strategy splits every batch across replicas, so the state would not "
             f"follow its row; got --stateful with --strategy {config.strategy}. Train "
             "stateful BPTT in one process (or use the default random windows)."),
        ]
        for failed, message in checks:
            if failed:
                raise ValueError(message)
        return dataclasses.replace(
            config, sampling="sequential" if config.stateful else config.sampling)

    def load_data(self, config, log):
        from keras_seq.data.char_tokenizer import CharTokenizer
        from keras_seq.data.sequence_batches import split_by_position
        from keras_seq.tasks import CharLMPreprocessor

        text, info = config.read_text(log)
        saved = config.run_dir and pathlib.Path(config.run_dir, "tokenizer.json")
        if saved and saved.is_file():  # a resumed run keeps its vocabulary
            self.preprocessor = CharLMPreprocessor(CharTokenizer.load(saved))
        else:
            self.preprocessor = CharLMPreprocessor.build_from_text(text, config.tokenizer)
        ids = self.preprocessor.ids(text)[: config.max_chars]
        train, val = split_by_position(ids, config.val_fraction)
        need = config.batch_size * config.num_steps + config.num_steps + 1
        for name, part in (("training", train), ("validation", val)):
            if len(part) < need:
                raise ValueError(
                    f"the {name} text has {len(part)} characters; --batch-size "
                    f"{config.batch_size} x --num-steps {config.num_steps} needs at least "
                    f"{need}. Use more text (--max-chars, --val-fraction) or smaller batches.")
        info.update(tokenizer=self.preprocessor.tokenizer.mode,
                    vocabulary_size=self.preprocessor.vocabulary_size,
                    used_characters=len(ids), train_characters=len(train),
                    validation_characters=len(val))
        return {"train": train, "validation": val}, info

    def build_task(self, config, splits, run_dir, log):
        from keras_seq.tasks import CharLM
        from keras_seq.tasks.char_lm import build_network

        self.preprocessor.tokenizer.save(run_dir.file("tokenizer.json"))
        self.export_dir = run_dir.export
        network = build_network(self.preprocessor.vocabulary_size, config.cell, config.hidden_dim,
                                config.layers, config.embedding_dim, config.dropout,
                                config.recurrent_dropout, config.stateful)
        task = CharLM(network, self.preprocessor, config.num_steps, config.sampling,
                      config.sample_chars, config.batch_size if config.stateful else None)
        task.build_network()
        train_ds = task.windows(splits["train"], config.batch_size, shuffle=True,
                                seed=config.seed)
        val_ds = task.windows(splits["validation"], config.batch_size, seed=config.seed)
        log(f"Model: {config.cell} x{config.layers}, {config.hidden_dim} units; vocabulary "
            f"{self.preprocessor.vocabulary_size} ids ({config.tokenizer}); "
            f"{len(splits['train']):,} training / {len(splits['validation']):,} validation "
            f"characters; {int(train_ds.cardinality())} batches per epoch.")
        return task, train_ds, val_ds, None

    def compile_options(self, config):
        return {"learning_rate": config.learning_rate, "lr_decay": config.lr_decay,
                "clip_norm": config.clip_norm}

    def callbacks(self, task, config, splits, run_dir):
        import keras

        from keras_seq.callbacks.gradient_flow import GradientFlowTensorBoard
        from keras_seq.callbacks.perplexity_logger import PerplexityLogger
        from keras_seq.callbacks.reset_rnn_states import ResetRNNStates

        shown = print if fit_verbosity(config.verbose) else None
        self.perplexity = PerplexityLogger(log=shown)
        val, width = splits["validation"], config.num_steps + 1
        callbacks = [*([ResetRNNStates()] if config.stateful else []), self.perplexity,
                     task_samples(task, run_dir.logs / "samples", config, log=shown)]
        if len(val) >= 8 * width:
            probe = val[: 8 * width].reshape(8, width)
            callbacks.append(GradientFlowTensorBoard(run_dir.logs / "gradient_flow", probe))
        if config.patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.patience, restore_best_weights=True))
        return callbacks

    def evaluate(self, task, config, splits, history, run_dir, log):
        from keras_seq.callbacks.perplexity_logger import PerplexityLogger

        task.network.reset_rnn_states()
        val_ds = task.windows(splits["validation"], config.batch_size, seed=config.seed)
        loss = float(task.trainer.evaluate(val_ds, verbose=0))
        task.network.reset_rnn_states()
        return {"validation_loss": loss,
                "validation_perplexity": PerplexityLogger.perplexity(loss),
                "validation_bits_per_char": PerplexityLogger.bits_per_char(loss),
                "validation_characters": len(splits["validation"]),
                "parameters": int(task.network.count_params()),
                "perplexity_history": self.perplexity.history}

    def examples(self, config):
        return list(config.prompt)

    def check_export(self, task, config, splits, serving):
        import tensorflow as tf

        prompts = config.prompt
        exported = [c.decode("utf-8") for c in
                    serving(text=tf.constant(prompts))["continuation"].numpy()]
        generate = tf.saved_model.load(str(self.export_dir)).signatures["generate"]
        sampled = generate(prompt=tf.constant(prompts), num_chars=tf.constant(config.sample_chars),
                           temperature=tf.constant(float(config.temperature)))["text"].numpy()
        return {"export_greedy_matches_keras": exported == task.generate(prompts),
                "samples_greedy": dict(zip(prompts, exported)),
                "samples_temperature": {p: s.decode("utf-8") for p, s in zip(prompts, sampled)}}

    def summary(self, config, metrics, run_dir):
        return [f"Validation perplexity {metrics['validation_perplexity']:.3f}, bits/char "
                f"{metrics['validation_bits_per_char']:.3f} "
                f"({metrics['validation_characters']:,} characters); export (signatures "
                "serving_default, generate) greedy == in-process generation: "
                f"{metrics['export_greedy_matches_keras']}.",
                *(f"  T={config.temperature} {s!r}"
                  for s in metrics["samples_temperature"].values())]


def task_samples(task, log_dir, config, log=None):
    """`GeneratedTextSamples` through `CharLM.generate`: greedy, and the sampler of
    --temperature / --top-k (made once, so each compiles once)."""
    from keras_seq.callbacks.generated_text_samples import GeneratedTextSamples
    from keras_seq.generation import get_sampler

    t, k = config.temperature, config.top_k
    samplers = {0.0: "greedy"}
    if t:
        samplers[t] = (get_sampler("top_k", k=k, temperature=t, seed=config.seed) if k
                       else get_sampler("random", temperature=t, seed=config.seed))

    class TaskSamples(GeneratedTextSamples):
        def generate(self, model):
            return {(p, t): c for t, sampler in samplers.items()
                    for p, c in zip(self.prompts, task.generate(self.prompts, sampler=sampler))}

    return TaskSamples(log_dir, task.preprocessor.tokenizer, config.prompt,
                       num_chars=config.sample_chars, temperatures=tuple(samplers),
                       top_k=k, seed=config.seed, log=log)


APPLICATION = CharLMApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
