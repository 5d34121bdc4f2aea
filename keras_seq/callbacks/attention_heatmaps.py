"""TensorBoard: attention heatmaps and sample translations of fixed validation sentences."""

import io

import keras
import numpy as np
import tensorflow as tf


def render_attention_heatmap(weights, source_tokens, target_tokens, title=None):
    """Draws a `[T, S]` attention matrix as a PNG (rows: output tokens, columns: input tokens).

    Args:
        weights: array `(T, S)` (or `(heads, T, S)`: one panel per head).
        source_tokens: S labels for the columns.
        target_tokens: T labels for the rows.
        title: optional figure title.

    Returns:
        PNG bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype="float32")
    panels = weights[None] if weights.ndim == 2 else weights
    n = len(panels)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    cell = 0.32
    width = max(3.0, cell * len(source_tokens) + 1.5) * cols
    height = max(2.5, cell * len(target_tokens) + 1.5) * rows
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(panels[i], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source_tokens)))
        ax.set_xticklabels(source_tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(target_tokens)))
        ax.set_yticklabels(target_tokens, fontsize=8)
        if n > 1:
            ax.set_title(f"head {i}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


class AttentionHeatmaps(keras.callbacks.Callback):
    """Each epoch: translate fixed sentences, log the translations as text and the attention
    of the model on its own output as heatmap images (Bahdanau weights; per-head
    cross-attention of the last decoder block for the transformer).

    Args:
        logdir: TensorBoard folder (e.g. `RUN/logs/validation`).
        sources: list of source strings.
        references: list of reference translations.
        source_tokenizer, target_tokenizer: `SequenceTokenizer`s.
        max_source_length, max_target_length: token widths.
        every: log every N epochs.

    Example:

    >>> import tempfile
    >>> from keras_seq.tasks import Translator
    >>> pairs = [("one", "un"), ("two", "deux"), ("three", "trois")] * 8
    >>> task = Translator.from_pairs(pairs, model="attention", embedding_dim=8,
    ...                              hidden_dim=8, max_source_length=4, max_target_length=4)
    >>> p = task.preprocessor
    >>> heatmaps = AttentionHeatmaps(tempfile.mkdtemp(), ["one", "two"], ["un", "deux"],
    ...                              p.source_tokenizer, p.target_tokenizer, 4, 4)
    >>> _ = task.fit([s for s, _ in pairs], [t for _, t in pairs], epochs=1, verbose=0,
    ...              callbacks=[heatmaps])
    >>> len(heatmaps.log(step=1))  # also what each epoch's end logs: one translation each
    2
    """

    def __init__(self, logdir, sources, references, source_tokenizer, target_tokenizer,
                 max_source_length, max_target_length, every=1):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(logdir))
        self.sources, self.references = list(sources), list(references)
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.every = every

    def _tokens(self, tokenizer, ids):
        return [tokenizer.tokens[i] if i < len(tokenizer.tokens) else "?" for i in ids]

    def log(self, step):
        src = self.source_tokenizer.tokenize(self.sources, self.max_source_length)
        out = np.array(self.model.generate(src, self.max_target_length + 1))
        texts = [t.decode("utf-8") for t in self.target_tokenizer.detokenize(out).numpy()]
        rows = ["| source | reference | model |", "|---|---|---|"]
        rows += [f"| {s} | {r} | {t} |" for s, r, t in zip(self.sources, self.references, texts)]
        with self.writer.as_default(step=step):
            tf.summary.text("translations", "\n".join(rows))
            target_in = out[:, :-1]
            weights = self.model.attention_weights(src, target_in)
            if weights is not None:
                weights = np.array(weights)
                src_np = np.array(src)
                for i in range(len(self.sources)):
                    s_len = max(1, int((src_np[i] != 0).sum()))
                    # Row t is the step that produced token out[t + 1]: label rows by it.
                    produced = out[i][1:]
                    t_len = (int(np.argmax(produced == 3)) + 1 if (produced == 3).any()
                             else max(1, int((produced != 0).sum())))
                    w = weights[i][..., :t_len, :s_len]
                    png = render_attention_heatmap(
                        w, self._tokens(self.source_tokenizer, src_np[i][:s_len]),
                        self._tokens(self.target_tokenizer, produced[:t_len]),
                        title=self.sources[i])
                    image = tf.image.decode_png(png, channels=4)[None]
                    tf.summary.image(f"attention/{i}", image)
        self.writer.flush()
        return texts

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.log(epoch + 1)
