"""Forward/backward/mean perplexity of a biLM and its most likely next/previous words."""

import math

import keras
import numpy as np
import tensorflow as tf


def most_likely_neighbours(model, tokenizer, sentences, top_k=3):
    """The biLM's top next word after and top previous word before each sentence.

    Args:
        model: a `BidirectionalLanguageModel`.
        tokenizer: its `WordTokenizer`.
        sentences: list of str.
        top_k: number of candidates.

    Returns:
        A list of dicts `{"text", "next": [(word, p)], "previous": [(word, p)]}`: "next" is
        read off the forward LM at the last token, "previous" off the backward LM at the
        first token.
    """
    ids = tokenizer.tokenize(tf.constant(list(sentences))).to_tensor(default_value=0).numpy()
    out = model(ids, training=False)
    lengths = (ids != 0).sum(axis=1)
    vocab = tokenizer.get_vocabulary()
    rows = []
    for i, text in enumerate(sentences):
        last = max(int(lengths[i]) - 1, 0)
        row = {"text": text}
        for key, position in (("next", last), ("previous", 0)):
            logits = np.asarray(out["forward" if key == "next" else "backward"][i, position])
            p = np.exp(logits - logits.max())
            p /= p.sum()
            p[:2] = 0.0  # never propose padding or [UNK]
            best = np.argsort(-p)[:top_k]
            row[key] = [(vocab[j], float(p[j])) for j in best]
        rows.append(row)
    return rows


class BidirectionalLMLogger(keras.callbacks.Callback):
    """Adds the biLM's perplexities to the epoch logs and writes next/previous-word samples.

    From the per-token cross entropies (nats) of both directions, logged by the weighted
    metrics `forward_cross_entropy` and `backward_cross_entropy`:

        ppl→ = exp(L→)    ppl← = exp(L←)    ppl_mean = exp((L→ + L←) / 2)

    for training and validation (`val_` prefix). Place it before `TensorBoard` and
    `CSVLogger`: they see the new keys (`forward_perplexity`, `backward_perplexity`,
    `mean_perplexity`). Each epoch a Markdown table of the most likely next word (forward
    LM) and previous word (backward LM) of the `sentences` goes to TensorBoard's Text tab.

    Args:
        log_dir: folder of the text summaries (e.g. `RUN/logs/samples`), or None.
        tokenizer: the `WordTokenizer` of the model.
        sentences: list of str for the samples (may be empty).
        log: function called with one line per epoch, or None.

    Call arguments:
        epoch, logs: as for any Keras callback.

    Returns:
        Nothing; `logs` is updated in place and `self.history` grows by one row per epoch.

    Example:

    >>> cb = BidirectionalLMLogger(None, None, [], log=None)
    >>> logs = {"forward_cross_entropy": 1.0, "backward_cross_entropy": 3.0}
    >>> cb.on_epoch_end(0, logs)
    >>> round(logs["forward_perplexity"], 3), round(logs["mean_perplexity"], 3)
    (2.718, 7.389)
    """

    def __init__(self, log_dir, tokenizer, sentences, log=print):
        super().__init__()
        self.log_dir = None if log_dir is None else str(log_dir)
        self.tokenizer = tokenizer
        self.sentences = list(sentences)
        self.log = log
        self.history = []
        self.last_samples = []
        self._writer = None

    @staticmethod
    def _exp(value):
        try:
            return math.exp(float(value))
        except OverflowError:
            return float("inf")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        row = {"epoch": epoch}
        for prefix in ("", "val_"):
            f, b = logs.get(prefix + "forward_cross_entropy"), logs.get(
                prefix + "backward_cross_entropy")
            if f is None or b is None:
                continue
            values = {"forward_perplexity": self._exp(f), "backward_perplexity": self._exp(b),
                      "mean_perplexity": self._exp((float(f) + float(b)) / 2.0)}
            for key, value in values.items():
                logs[prefix + key] = value
                row[prefix + key] = value
        self.history.append(row)
        if self.log is not None:
            self.log(f"epoch {epoch + 1}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in row.items() if k != "epoch"))
        if self.sentences and self.log_dir is not None and self.model is not None:
            self.last_samples = most_likely_neighbours(self.model, self.tokenizer, self.sentences)
            table = ["| previous word (backward LM) | text | next word (forward LM) |",
                     "|---|---|---|"]
            for s in self.last_samples:
                prev = ", ".join(f"{w} ({p:.2f})" for w, p in s["previous"])
                nxt = ", ".join(f"{w} ({p:.2f})" for w, p in s["next"])
                table.append(f"| {prev} | {s['text']} | {nxt} |")
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                tf.summary.text("next_and_previous_words", "\n".join(table), step=epoch)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
