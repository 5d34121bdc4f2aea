"""Span F1 on validation data after each epoch, with tagged samples as text and as an image."""

import io

import keras
import numpy as np
import tensorflow as tf

from keras_seq.metrics.tagging_metrics import tag_ids_to_spans, tagging_report

# One colour per tag type (B- darker than I-); O is white.
_PALETTE = ("#8ecae6", "#ffb703", "#90be6d", "#f28482", "#cdb4db", "#bde0fe")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tag_colors(names):
    """`{tag name: colour}`: white for O, one hue per type (B- a bit darker than I-)."""
    from matplotlib import colors as mcolors

    types = sorted({n[2:] for n in names if n[:2] in ("B-", "I-")},
                   key=lambda t: names.index("B-" + t) if "B-" + t in names else 0)
    out = {"O": "#ffffff"}
    for k, t in enumerate(types):
        rgb = np.array(mcolors.to_rgb(_PALETTE[k % len(_PALETTE)]))
        out["I-" + t] = tuple(rgb)
        out["B-" + t] = tuple(rgb * 0.75)
    return out


def render_tagged_text(texts, rows, names, row_labels=None, title=None, max_chars=80):
    """Draws texts with one coloured box per character (colour = tag).

    Args:
        texts: list of str.
        rows: list (one per text) of tag-id sequences to draw under each other; e.g.
            `[gold, predicted]` for each text, or a single sequence.
        names: tag names (`names[id]`).
        row_labels: a label for each of the rows of a text (e.g. `["gold", "bi-LSTM"]`).
        title: figure title.
        max_chars: texts are cut to this many characters.

    Returns:
        A matplotlib figure (close it with `plt.close(fig)`).
    """
    plt = _pyplot()
    from matplotlib.patches import Patch, Rectangle

    colors = tag_colors(names)
    rows = [[np.asarray(r)] if np.ndim(r[0]) == 0 else [np.asarray(x) for x in r] for r in rows]
    n_lines = sum(len(r) + 0.6 for r in rows)
    width = min(max_chars, max(len(t) for t in texts))
    fig, ax = plt.subplots(figsize=(0.16 * width + 2.2, 0.34 * n_lines + 1.0))
    y = 0.0
    for text, tag_rows in zip(texts, rows):
        for j, tags in enumerate(tag_rows):
            for i, ch in enumerate(text[:max_chars]):
                name = names[int(tags[i])] if i < len(tags) else "O"
                ax.add_patch(Rectangle((i, -y - 1), 1, 1, facecolor=colors.get(name, "#eeeeee"),
                                       edgecolor="#dddddd", linewidth=0.3))
                ax.text(i + 0.5, -y - 0.5, ch, ha="center", va="center", fontsize=8,
                        family="monospace")
            if row_labels:
                ax.text(-0.5, -y - 0.5, row_labels[j], ha="right", va="center", fontsize=8)
            y += 1
        y += 0.6
    ax.set_xlim(-8 if row_labels else -0.5, width + 0.5)
    ax.set_ylim(-y - 0.2, 0.2)
    ax.axis("off")
    handles = [Patch(facecolor=c, edgecolor="#999999", label=n) for n, c in colors.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=len(handles), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def figure_to_png(fig):
    """PNG bytes of a matplotlib figure (the figure is closed)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


class TaggedSamples(keras.callbacks.Callback):
    """After each epoch: span P/R/F1 and token accuracy on validation data, and samples.

    Adds `val_span_f1`, `val_span_precision`, `val_span_recall` and `val_token_accuracy` to
    the epoch logs (so CSVLogger and `History` see them), writes them as TensorBoard scalars
    `epoch_span_f1`, ... into `log_dir`, and a Markdown table (text, gold spans, predicted
    spans) and an image of the tagged characters of the first `num_samples` texts.

    Args:
        log_dir: summary folder (e.g. `RUN/logs/validation`).
        texts: validation texts (list of str).
        ids: their padded char ids `[n, T]`.
        tags: their gold tag ids (list of 1-D arrays, no padding).
        names: tag names.
        num_samples: texts shown in the text/image summaries.
        log: printer for one line per epoch, or None.

    Example:

    >>> cb = TaggedSamples("logs/validation", texts, ids, tags, tag_names())  # doctest: +SKIP
    """

    def __init__(self, log_dir, texts, ids, tags, names, num_samples=6, log=None):
        super().__init__()
        if not (len(texts) == len(ids) == len(tags)) or not len(texts):
            raise ValueError(f"`texts`, `ids` and `tags` must be non-empty and of equal length, "
                             f"got {len(texts)}, {len(ids)} and {len(tags)}.")
        self.log_dir, self.texts, self.ids = str(log_dir), list(texts), np.asarray(ids)
        self.tags, self.names = list(tags), list(names)
        self.num_samples, self.log = num_samples, log
        self.history = []
        self._writer = None

    def table(self, predicted):
        """Markdown table of the first samples: text, gold spans, predicted spans."""
        rows = ["| text | gold | predicted | ok |", "|---|---|---|---|"]
        for text, gold, pred in list(zip(self.texts, self.tags, predicted))[:self.num_samples]:
            def fmt(tag_ids):
                return "; ".join(f"{k}:{text[a:b]}" for a, b, k in
                                 tag_ids_to_spans(tag_ids, self.names, len(text))) or "-"
            g, p = fmt(gold), fmt(pred)
            rows.append(f"| {text.replace('|', '/')} | {g} | {p} | {'yes' if g == p else 'NO'} |")
        return "\n".join(rows)

    def on_epoch_end(self, epoch, logs=None):
        predicted = self.model.predict_tags(self.ids)
        report = tagging_report(self.tags, predicted, self.names)
        micro = report["spans"]["micro"]
        values = {"span_f1": micro["f1"], "span_precision": micro["precision"],
                  "span_recall": micro["recall"], "token_accuracy": report["token_accuracy"]}
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in values.items()})
        self.history.append({"epoch": epoch, **values})
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        n = min(self.num_samples, len(self.texts))
        fig = render_tagged_text(self.texts[:n], [[g, p] for g, p in
                                                  zip(self.tags[:n], predicted[:n])],
                                 self.names, row_labels=["gold", "model"],
                                 title=f"epoch {epoch + 1}: validation samples")
        png = figure_to_png(fig)
        with self._writer.as_default():
            for k, v in values.items():
                tf.summary.scalar(f"epoch_{k}", v, step=epoch)
            tf.summary.text("tagged_samples", self.table(predicted), step=epoch)
            tf.summary.image("tagged_characters", tf.image.decode_png(png)[None], step=epoch)
        self._writer.flush()
        if self.log:
            self.log(f"epoch {epoch + 1}: validation span F1 {micro['f1']:.4f} (P "
                     f"{micro['precision']:.4f}, R {micro['recall']:.4f}), token accuracy "
                     f"{report['token_accuracy']:.4f}")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
