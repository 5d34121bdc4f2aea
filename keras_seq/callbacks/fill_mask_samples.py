"""Writes fill-mask samples (top-k candidates per [MASK]) to TensorBoard's Text tab."""

import keras
import tensorflow as tf


class FillMaskSamples(keras.callbacks.Callback):
    """After each epoch, fills the [MASK]s of fixed texts and logs a Markdown table.

    Each row shows a text, the text with every [MASK] replaced by the most probable word
    piece, and the top-k candidates with their probabilities p(w | text, j) = softmax(logits_j)[w].

    Args:
        log_dir: folder of the summary writer (e.g. `RUN/logs/samples`).
        module: a `keras_seq.export.bert_mlm_module.BertMLMServingModule` around the model
            being trained (its `fill_mask` reads the current weights).
        texts: list of str, each with at least one "[MASK]".
        k: candidates shown per [MASK].
        tag: summary tag.
        log: function called with one line per sample after each epoch, or None.

    Call arguments:
        None (a Keras callback; `on_epoch_end` runs the samples).

    Returns:
        Nothing; `history` holds `[(epoch, [{"text", "filled", "candidates"}, ...]), ...]`.

    Example:

    >>> cb = FillMaskSamples("runs/x/logs/samples", module,
    ...                      ["It [MASK] great with orange sauce"])  # doctest: +SKIP
    """

    def __init__(self, log_dir, module, texts, k=5, tag="fill_mask_samples", log=None):
        super().__init__()
        texts = [str(t) for t in texts]
        missing = [t for t in texts if "[MASK]" not in t]
        if not texts or missing:
            raise ValueError("`texts` must be a non-empty list of strings that each contain "
                             f"[MASK], got {missing or texts!r}.")
        self.log_dir = str(log_dir)
        self.module = module
        self.texts = texts
        self.k = int(k)
        self.tag = tag
        self.log = log
        self.history = []
        self._writer = None

    def samples(self):
        """The current fill-mask answers: a list of dicts (text, filled, candidates)."""
        out = self.module.fill_mask(tf.constant(self.texts), tf.constant(self.k, tf.int32))
        rows = []
        for i, text in enumerate(self.texts):
            n = int(out["num_masks"][i])
            cands = [[(t.decode("utf-8"), round(float(p), 4)) for t, p in zip(ts, ps)]
                     for ts, ps in zip(out["candidates"][i].numpy()[:n],
                                       out["probabilities"][i].numpy()[:n])]
            rows.append({"text": text, "filled": out["filled"][i].numpy().decode("utf-8"),
                         "candidates": cands})
        return rows

    @staticmethod
    def table(rows):
        """A Markdown table of `samples()`."""
        lines = ["| text | filled | top candidates per [MASK] |", "|---|---|---|"]
        for row in rows:
            cands = "<br>".join(
                f"[MASK]{j + 1}: " + ", ".join(f"{t} ({p:.3f})" for t, p in c)
                for j, c in enumerate(row["candidates"]))
            cells = [row["text"], row["filled"], cands]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)

    def on_epoch_end(self, epoch, logs=None):
        rows = self.samples()
        self.history.append((epoch, rows))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.text(self.tag, self.table(rows), step=epoch)
        self._writer.flush()
        if self.log is not None:
            for row in rows:
                best = " | ".join(c[0][0] for c in row["candidates"])
                self.log(f"  epoch {epoch + 1} fill-mask: {row['text']!r} -> {best}")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
