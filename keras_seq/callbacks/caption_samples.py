"""TensorBoard: generated vs reference captions of fixed images, and attention maps per word."""

import io

import keras
import numpy as np
import tensorflow as tf


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    _pyplot().close(fig)
    return buffer.getvalue()


def render_captioned_images(images, captions, references=None, columns=4):
    """Draws images with their generated (and reference) captions as one PNG.

    Args:
        images: array `(N, H, W, 3)`, uint8 or float in [0, 1].
        captions: N generated captions.
        references: optional N lists of reference captions (the first is shown).
        columns: panels per row.

    Returns:
        PNG bytes.
    """
    import textwrap

    plt = _pyplot()
    n = len(images)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i]))
        title = "\n".join(textwrap.wrap(f"gen: {captions[i]}", 34))
        if references is not None:
            title += "\n" + "\n".join(textwrap.wrap(f"ref: {references[i][0]}", 34))
        ax.set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return _png(fig)


def render_attention_over_image(image, words, weights, grid_shape, columns=6):
    """Draws where the decoder looked for each word: α over the region grid on the image.

    Args:
        image: `(H, W, 3)`, uint8 or float in [0, 1].
        words: the T generated words.
        weights: `(T, h*w)` attention weights (each row sums to 1).
        grid_shape: `(h, w)` of the region grid.
        columns: panels per row.

    Returns:
        PNG bytes.
    """
    plt = _pyplot()
    image = np.asarray(image)
    h, w = grid_shape
    n = len(words)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows), squeeze=False)
    extent = (0, image.shape[1], image.shape[0], 0)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(image, extent=extent)
        alpha = np.asarray(weights[i], "float32").reshape(h, w)
        ax.imshow(alpha / max(float(alpha.max()), 1e-6), cmap="magma", alpha=0.6,
                  extent=extent, interpolation="bilinear", vmin=0.0, vmax=1.0)
        ax.set_title(words[i], fontsize=9)
    fig.tight_layout()
    return _png(fig)


class CaptionSamples(keras.callbacks.Callback):
    """Logs captions of fixed validation images to TensorBoard after each epoch.

    IMAGES: `captioned_images` (the images with generated and reference captions) and, when the
    model attends, `attention/<i>` (α over the image for each generated word, from
    `model.attention_weights` on the generated caption). TEXT: `captions` as a table.

    Args:
        logdir: TensorBoard run folder (e.g. `RUN/logs/validation`).
        images: `(N, H, W, 3)` uint8 images (N small, e.g. 4).
        references: N lists of reference captions.
        tokenizer: the caption `SequenceTokenizer`.
        max_caption_length: at most this many words per caption.
        every_n_epochs: log every n-th epoch (and always after the last).
        decode: the greedy decode loop, float images → token ids `(N, L)` (e.g. a
            `Captioner.decoder()`); default: the model's `generate`.

    Example:

    >>> cb = CaptionSamples("logs/validation", images, refs, tokenizer, 16)  # doctest: +SKIP
    >>> model.fit(ds, callbacks=[cb])  # doctest: +SKIP
    """

    def __init__(self, logdir, images, references, tokenizer, max_caption_length,
                 every_n_epochs=1, decode=None):
        super().__init__()
        self.decode = decode
        self.logdir = str(logdir)
        self.images = np.asarray(images)
        self.references = [list(r) for r in references]
        self.tokenizer = tokenizer
        self.max_caption_length = int(max_caption_length)
        self.every_n_epochs = max(1, int(every_n_epochs))
        self._writer = None

    def _floats(self):
        x = self.images.astype("float32")
        return x / 255.0 if self.images.dtype == np.uint8 else x

    def captions(self):
        """Greedy captions of the fixed images: (token ids (N, L), list of strings)."""
        if self.decode is not None:
            tokens = self.decode(self._floats())
        else:
            tokens = self.model.generate(self._floats(), self.max_caption_length + 1)
        text = [t.decode("utf-8") for t in self.tokenizer.detokenize(tokens).numpy()]
        return np.asarray(tokens), text

    def _words(self, ids):
        """The generated tokens after [START], up to and including [END]."""
        words = []
        for i in ids[1:]:
            if i == 0:
                break
            words.append(self.tokenizer.tokens[int(i)])
        return words or ["[END]"]

    def on_epoch_end(self, epoch, logs=None):
        last = self.params and epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every_n_epochs and not last:
            return
        self.write(epoch)

    def write(self, step):
        tokens, text = self.captions()
        shown = self.images if self.images.dtype == np.uint8 else self._floats()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.logdir)
        rows = ["| # | generated | reference |", "|---|---|---|"]
        rows += [f"| {i} | {t} | {r[0]} |" for i, (t, r) in enumerate(zip(text, self.references))]
        with self._writer.as_default(step=step):
            png = render_captioned_images(shown, text, self.references)
            tf.summary.image("captioned_images", tf.image.decode_png(png)[None], step=step)
            tf.summary.text("captions", "\n".join(rows), step=step)
            if getattr(self.model, "use_attention", False):
                alphas = np.asarray(self.model.attention_weights(self._floats(), tokens[:, :-1]))
                for i in range(len(text)):
                    words = self._words(tokens[i])
                    png = render_attention_over_image(
                        shown[i], words, alphas[i, :len(words)], self.model.grid_shape)
                    tf.summary.image(f"attention/{i}", tf.image.decode_png(png)[None],
                                     step=step)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
