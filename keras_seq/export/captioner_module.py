"""SavedModel of an image captioner: encoded image bytes in, captions out."""

import tensorflow as tf

from keras_seq.data.images import decode_images
from keras_seq.export.atomic import replace_dir_atomically


class CaptionerServingModule(tf.Module):
    """Image decoding → resize → CNN → compiled decode loop → detokenizer, in one graph.

    Args:
        model: a trained `keras_seq.models.ImageCaptioner`.
        tokenizer: the caption `SequenceTokenizer` used in training.
        max_caption_length: at most this many words per caption.
        sampler: "greedy" or a sampler instance (e.g. beam search) for the decode loop.
        jit_compile: XLA-compile the decode loop (image decoding stays outside it).

    Call arguments (`serving_default`):
        image_bytes: `tf.string [None]`, encoded JPEG, PNG, GIF or BMP files (any size,
            grayscale, RGB, RGBA, CMYK).

    Returns:
        `{"caption": tf.string [None]}`. Bytes that are no image raise
        `InvalidArgumentError` naming the accepted formats.

    Example:

    >>> module = CaptionerServingModule(model, tokenizer, 16)  # doctest: +SKIP
    >>> module.save("export/")  # doctest: +SKIP
    """

    def __init__(self, model, tokenizer, max_caption_length, sampler="greedy",
                 jit_compile=True):
        super().__init__(name="captioner_serving")
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = int(model.image_size)
        self.max_caption_length = int(max_caption_length)

        def generate(images):
            return model.generate(images, self.max_caption_length + 1, sampler=sampler)

        self._decode = tf.function(generate, jit_compile=jit_compile, autograph=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        images = decode_images(image_bytes, self.image_size)  # (B, S, S, 3) in [0, 1]
        tokens = self._decode(images)
        return {"caption": self.tokenizer.detokenize(tokens)}

    def save(self, export_dir):
        """Writes the SavedModel atomically; returns its path."""
        return replace_dir_atomically(
            lambda tmp: tf.saved_model.save(self, tmp, signatures={"serving_default": self.serve}),
            export_dir)
