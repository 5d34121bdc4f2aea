"""GPT-style causal LM: the `gpt_lm` task (text → char or word-piece ids → decoder blocks).

Run it as `keras-seq train gpt-lm [options]` or `python applications/gpt_lm.py [options]`.
Without options it trains on The Time Machine when it is found (`--data-file`, `--data-dir`,
$KERAS_SEQ_DATA_DIR, ../shared/datasets, the download cache or a verified download) and
otherwise on a generated corpus (said loudly): the first 90% of the text (by position) trains,
the last 10% validates. It writes a run folder `runs/gpt-lm/<time>/` (TensorBoard logs with
loss, perplexity, learning rate and generated samples; backups; task.kseq; SavedModel export
with `serving_default` and `generate`; config.json; metrics.json with the validation
perplexity per token and per character) and prints samples of the exported model.
"""

import argparse
import dataclasses
import sys

from keras_seq.lifecycle import (Application, TextCorpusConfig, entry_points, fit_verbosity,
                                 fraction, option, positive_float, positive_int)

PROMPTS = ("time traveller", "the machine")


def top_p_value(text):
    """The argparse type of `--top-p`: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"--top-p must be in (0, 1], got {text!r}")
    return value


@dataclasses.dataclass
class GptLMConfig(TextCorpusConfig):
    """The options of `keras-seq train gpt-lm`."""

    APP = "gpt-lm"

    tokenizer: str = option("char", "data", "char: characters (see --char-vocabulary); "
                            "word-piece: a WordPiece vocabulary trained on the training part "
                            "(see --vocabulary-size)", choices=("char", "word-piece"))
    char_vocabulary: str = option("d2l", "data", "d2l: lower-case a-z + space (+ unknown), as "
                                  "the char-lm baseline; full: every character of the "
                                  "training text", choices=("d2l", "full"))
    vocabulary_size: int = option(2000, "data", "word-piece vocabulary size (with the reserved "
                                  "tokens)", type=positive_int, renamed_from="vocab_size")
    max_chars: int = option(None, "data", "use only the first N characters of the text",
                            type=positive_int, quick=60000)
    val_fraction: float = option(0.1, "data", "last share of the text (by position) for "
                                 "validation", type=fraction)
    layers: int = option(3, "model", "decoder blocks", type=positive_int, quick=2)
    heads: int = option(4, "model", "attention heads", type=positive_int, quick=2)
    embedding_dim: int = option(128, "model", "model width", type=positive_int, quick=64,
                                renamed_from="embed_dim")
    intermediate_dim: int = option(512, "model", "feed-forward size", type=positive_int,
                                   quick=128)
    sequence_length: int = option(64, "model", "tokens per training window = the model's "
                                  "context (max positions)", type=positive_int, quick=64)
    dropout: float = option(0.1, "model", "dropout rate", type=fraction)
    position: str = option("learned", "model", "position encoding",
                           choices=("learned", "sinusoidal"))
    post_norm: bool = option(False, "model", "post-norm blocks (Vaswani et al.) instead of "
                             "pre-norm (GPT-2)")
    tie_weights: bool = option(True, "model", "a separate output projection (default: the "
                               "logits go through the token embedding matrix, tied)")
    epochs: int = option(12, "training", "passes over the training data", type=positive_int,
                         quick=2)
    batch_size: int = option(32, "training", "global batch size", type=positive_int,
                             quick=32)
    learning_rate: float = option(3e-3, "training", "peak learning rate",
                                  type=positive_float)
    prompt: tuple = option(PROMPTS, "generation", "prompt for samples", resumed=False)
    sample_tokens: int = option(48, "generation", "tokens generated per sample (< "
                                "--sequence-length); the export's serving_default default",
                                type=positive_int, quick=30)
    sampler: str = option("top_p", "generation", "sampler of the sampled TensorBoard/summary "
                          "samples (greedy always too)",
                          choices=("greedy", "random", "top_k", "top_p"), resumed=False)
    temperature: float = option(0.8, "generation", "sampling temperature",
                                type=positive_float, resumed=False)
    top_k: int = option(10, "generation", "k of --sampler top_k", type=positive_int,
                        resumed=False)
    top_p: float = option(0.9, "generation", "p of --sampler top_p, in (0, 1]",
                          type=top_p_value, resumed=False)


class GptLMApplication(Application):
    """Trains the `gpt_lm` task, scores the validation text, exports it and compares."""

    config_class = GptLMConfig
    description = "Train, evaluate and export a GPT-style language model."

    def resolve(self, config):
        if config.embedding_dim % config.heads:
            raise ValueError("`--embedding-dim` must be a multiple of --heads, got "
                             f"--embedding-dim "
                             f"{config.embedding_dim} and --heads {config.heads}.")
        if config.sample_tokens >= config.sequence_length:
            raise ValueError(f"`--sample-tokens` must be < --sequence-length "
                             f"({config.sequence_length}, the model's context), got "
                             f"{config.sample_tokens}.")
        if config.tokenizer == "word-piece" and config.vocabulary_size < 16:
            raise ValueError(f"`--vocabulary-size` must be >= 16 for word pieces, got "
                             f"{config.vocabulary_size}.")
        if config.val_fraction <= 0:
            raise ValueError(f"`--val-fraction` must be in (0, 1), got {config.val_fraction}.")
        return config

    def load_data(self, config, log):
        """The text split by position; the tokenizer (learned, or a resumed run's) and the
        length checks come here, before the run folder exists."""
        import pathlib

        import tensorflow as tf

        from keras_seq.tasks import GptLMPreprocessor

        text, info = config.read_text(log)
        text = text[: config.max_chars] if config.max_chars else text
        cut = int(round(len(text) * (1.0 - config.val_fraction)))
        train, val = text[:cut], text[cut:]
        stored = pathlib.Path(config.run_dir or "")  # a resumed run keeps its tokenizer
        if config.run_dir and (stored / "tokenizer.json").is_file():
            from keras_seq.data.char_tokenizer import CharTokenizer

            tokenizer = CharTokenizer.load(stored / "tokenizer.json")
        elif config.run_dir and (stored / "vocabulary.txt").is_file():
            from keras_seq.data.word_piece_text_tokenizer import WordPieceTextTokenizer

            tokenizer = WordPieceTextTokenizer.load(stored / "vocabulary.txt")
        else:
            tokenizer = GptLMPreprocessor.build_from_text(
                train, config.tokenizer, config.char_vocabulary, config.vocabulary_size).tokenizer
        self.preprocessor = GptLMPreprocessor(tokenizer, config.sequence_length)
        train_ids, val_ids = self.preprocessor.token_ids(train), self.preprocessor.token_ids(val)
        length, batch = config.sequence_length, config.batch_size
        need = batch * length + length + 1
        if len(train_ids) < need:
            raise ValueError(
                f"the training text has {len(train_ids)} tokens; --batch-size {batch} x "
                f"--sequence-length {length} needs at least {need}. Use more text "
                "(--max-chars, --data-file) or smaller batches/windows.")
        if len(val_ids) < length + 1:
            raise ValueError(f"the validation text has {len(val_ids)} tokens; "
                             f"--sequence-length {length} needs at least {length + 1}.")
        # Characters of the validation text as the tokenizer sees it (d2l: letters + spaces).
        val_chars = int(tf.strings.length(self.preprocessor.standardize(tf.constant([val])),
                                          unit="UTF8_CHAR").numpy()[0])
        self.info = info
        info.update(tokenization=self.preprocessor.describe(),
                    vocabulary_size=self.preprocessor.vocabulary_size,
                    used_characters=len(text), train_tokens=len(train_ids),
                    validation_tokens=len(val_ids), validation_characters=val_chars)
        return {"train": train, "validation": val}, info

    def build_task(self, config, splits, run_dir, log):
        from keras_seq.tasks import GptLM
        from keras_seq.tasks.gpt_lm import build_network

        tokenizer = self.preprocessor.tokenizer
        if tokenizer.mode == "word-piece":
            tokenizer.save_vocabulary(run_dir.file("vocabulary.txt"))
        else:
            tokenizer.save(run_dir.file("tokenizer.json"))
        network = build_network(
            self.preprocessor.vocabulary_size, config.sequence_length, config.layers,
            config.heads, config.embedding_dim, config.intermediate_dim, config.dropout,
            config.position, config.post_norm, config.tie_weights)
        task = GptLM(network, self.preprocessor, num_tokens=config.sample_tokens)
        train_ds, _ = task.dataset(splits["train"], batch_size=config.batch_size,
                                   shuffle=True, seed=config.seed)
        self.val_ds, _ = task.dataset(splits["validation"], batch_size=config.batch_size)
        self.run_dir = run_dir
        log(f"Model: GPT {config.layers} blocks x {config.heads} heads, d={config.embedding_dim}, "
            f"ffn {config.intermediate_dim}, context {config.sequence_length}, "
            f"{'tied' if config.tie_weights else 'separate'} output, "
            f"{'post' if config.post_norm else 'pre'}-norm, {config.position} positions. "
            f"Tokens: {self.preprocessor.describe()}; {int(train_ds.cardinality())} batches "
            "per epoch.")
        return task, train_ds, self.val_ds, None

    def _samplers(self, config):
        """The `--sampler` settings as a keras_hub sampler (greedy: its name)."""
        from keras_seq.generation import get_sampler

        common = {"temperature": float(config.temperature), "seed": config.seed}
        extra = {"top_k": {"k": config.top_k}, "top_p": {"p": config.top_p}}
        return (get_sampler(config.sampler, **common, **extra.get(config.sampler, {}))
                if config.sampler != "greedy" else "greedy")

    def callbacks(self, task, config, splits, run_dir):
        from keras_seq.callbacks.generated_text_samples import GeneratedTextSamples
        from keras_seq.callbacks.perplexity_logger import PerplexityLogger

        log = print if fit_verbosity(config.verbose) else None
        sampler = self._samplers(config)

        class Samples(GeneratedTextSamples):
            """Greedy and `--sampler` continuations of the prompts, through the task."""

            def generate(self, model):
                out = {}
                for t, chosen in ((0.0, "greedy"), (config.temperature, sampler)):
                    texts = task.predict(self.prompts, self.num_chars, chosen)["generated"]
                    out.update({(p, t): text for p, text in zip(self.prompts, texts)})
                return out

        self.perplexity = PerplexityLogger(log=log)  # before TensorBoard/CSVLogger
        return [self.perplexity,
                Samples(run_dir.logs / "samples", None, self.examples(config),
                        num_chars=config.sample_tokens, seed=config.seed, log=log)]

    def evaluate(self, task, config, splits, history, run_dir, log):
        from keras_seq.callbacks.perplexity_logger import PerplexityLogger

        info = self.info
        val_loss = float(task.trainer.evaluate(self.val_ds, verbose=0,
                                               return_dict=True)["loss"])
        # Per character: the same total of nats spread over the characters the tokens cover.
        scored = (info["validation_tokens"] - 1) // config.sequence_length * \
            config.sequence_length
        chars = info["validation_characters"] * scored / max(1, info["validation_tokens"])
        nats_per_char = val_loss * scored / max(1.0, chars)
        return {
            "tokenization": info["tokenization"],
            "validation_loss_per_token": val_loss,
            "validation_perplexity_per_token": PerplexityLogger.perplexity(val_loss),
            "validation_perplexity_per_char": PerplexityLogger.perplexity(nats_per_char),
            "validation_bits_per_char": PerplexityLogger.bits_per_char(nats_per_char),
            "validation_protocol": (f"last {config.val_fraction:g} of the text by position, "
                                    f"{scored:,} tokens scored in non-overlapping windows of "
                                    f"{config.sequence_length} (each window starts without "
                                    "context)"),
            "parameters": int(task.network.count_params()),
            "perplexity_history": self.perplexity.history}

    def examples(self, config):
        return list(config.prompt)

    def check_export(self, task, config, splits, serving):
        import tensorflow as tf

        prompts, n = self.examples(config), config.sample_tokens
        greedy = [s.decode("utf-8") for s in
                  serving(text=tf.constant(prompts))["generated"].numpy()]
        # The task's own (XLA) generation, each prompt filled to its length + n tokens.
        keep = task.context - n
        lengths = task.preprocessor.prompt_ids(prompts, keep).row_lengths().numpy()
        by_task = [task.generate([p], max_length=int(m) + n)[0]
                   for p, m in zip(prompts, lengths)]
        sampled = tf.saved_model.load(str(self.run_dir.export)).signatures["generate"](
            prompt=tf.constant(prompts), num_tokens=tf.constant(n),
            temperature=tf.constant(float(config.temperature)),
            top_k=tf.constant(config.top_k if config.sampler == "top_k" else 0),
            top_p=tf.constant(float(config.top_p) if config.sampler == "top_p" else 1.0))
        return {"export_greedy_matches_keras": greedy == by_task,
                "samples_greedy": dict(zip(prompts, greedy)),
                "samples_sampled": {
                    "sampler": config.sampler, "temperature": config.temperature,
                    "top_k": config.top_k, "top_p": config.top_p,
                    "texts": [s.decode("utf-8") for s in sampled["text"].numpy()]}}

    def summary(self, config, metrics, run_dir):
        sampled = metrics["samples_sampled"]
        return [
            f"Tokens: {metrics['tokenization']}",
            f"Validation perplexity {metrics['validation_perplexity_per_token']:.3f} per "
            f"token, {metrics['validation_perplexity_per_char']:.3f} per character "
            f"({metrics['validation_bits_per_char']:.3f} bits/char); "
            f"{metrics['parameters']:,} parameters.",
            f"Export greedy continuation == the task's generate: "
            f"{metrics['export_greedy_matches_keras']}",
            *(f"  {config.sampler} T={config.temperature} {s!r}" for s in sampled["texts"])]


APPLICATION = GptLMApplication()
run, add_arguments, build_parser, main = entry_points(APPLICATION)


if __name__ == "__main__":
    sys.exit(main())
