"""Generated text samples of a char-level language model as TensorBoard text summaries."""

import keras
import numpy as np
import tensorflow as tf


class GeneratedTextSamples(keras.callbacks.Callback):
    """After each epoch, continues a few prompts and writes them to TensorBoard's Text tab.

    For every prompt it runs `model.generate` (prefill once, then the compiled state-carrying
    loop) greedily and at each sampling temperature (a seeded `keras_seq.generation` sampler),
    decodes the ids with the tokenizer and writes a Markdown table (tag `samples`).

    Args:
        log_dir: folder of the summary writer (e.g. `RUN/logs/samples`).
        tokenizer: a `keras_seq.data.char_tokenizer.CharTokenizer`.
        prompts: list of str.
        num_chars: characters generated per prompt.
        temperatures: sampling temperatures (0 = greedy).
        top_k: restrict sampling to the k most likely characters, or None.
        seed: sampler seed.
        every: write every `every` epochs.
        log: function called with the samples, or None.

    Call arguments:
        epoch, logs: as for any Keras callback (`on_epoch_end`).

    Returns:
        Nothing; `self.last` holds the last {(prompt, temperature): text}.

    Example:

    >>> cb = GeneratedTextSamples("logs/samples", tokenizer, ["time traveller"])  # doctest: +SKIP
    """

    def __init__(self, log_dir, tokenizer, prompts, num_chars=100, temperatures=(0.0, 0.8),
                 top_k=None, seed=0, every=1, log=None, tag="samples"):
        super().__init__()
        if not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise ValueError(
                f"`prompts` must be a non-empty list of non-empty str, got {prompts!r}.")
        if not isinstance(num_chars, int) or num_chars <= 0:
            raise ValueError(f"`num_chars` must be a positive int, got num_chars={num_chars!r}.")
        self.log_dir = str(log_dir)
        self.tokenizer = tokenizer
        self.prompts = list(prompts)
        self.num_chars = num_chars
        self.temperatures = tuple(temperatures)
        self.top_k = top_k
        self.seed = seed
        self.every = max(1, int(every))
        self.log = log
        self.tag = tag
        self.last = {}
        self._writer = None

    def generate(self, model):
        """{(prompt, temperature): generated continuation} for the current weights."""
        from keras_seq.generation import get_sampler

        ragged = self.tokenizer.tokenize(tf.constant(self.prompts))
        lengths = ragged.row_lengths().numpy()
        ids = ragged.to_tensor().numpy().astype("int32")  # right-padded with 0
        out = {}
        for t in self.temperatures:
            if not t:
                sampler = "greedy"
            elif self.top_k:
                sampler = get_sampler("top_k", k=self.top_k, temperature=t, seed=self.seed)
            else:
                sampler = get_sampler("random", temperature=t, seed=self.seed)
            gen = model.generate(ids, int(lengths.max()) + self.num_chars, sampler=sampler)
            # Each row: its prompt, then its continuation (num_chars ids or more).
            rows = [gen[i, n:n + self.num_chars] for i, n in enumerate(lengths)]
            texts = self.tokenizer.detokenize(np.stack(rows)).numpy()
            for prompt, text in zip(self.prompts, texts):
                out[(prompt, t)] = text.decode("utf-8", errors="replace")
        return out

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        self.last = self.generate(self.model)
        rows = ["| prompt | temperature | continuation |", "|---|---|---|"]
        for (prompt, t), text in self.last.items():
            cell = " ".join(text.replace("|", "\\|").split())
            rows.append(f"| {prompt} | {'greedy' if not t else t} | {cell} |")
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.text(self.tag, "\n".join(rows), step=epoch)
        self._writer.flush()
        if self.log is not None:
            for (prompt, t), text in self.last.items():
                self.log(f"  [{'greedy' if not t else f'T={t}'}] {prompt!r} -> {text!r}")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
