"""SavedModel of the `captioner` task: encoded image bytes in, captions out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class CaptionerServingModule(tf.Module):
    """The task's image decoding → CNN → compiled decode loop → detokenizer, in one graph.

    Everything comes from the task: its preprocessor decodes and resizes the image bytes
    (`keras_seq.data.images.decode_images`, as in training) and detokenizes; its decoder
    (`Captioner.decoder`, with the task's `sampler`) runs the network's decode loop.

    Args:
        task: a trained `keras_seq.tasks.Captioner`.
        jit_compile: XLA-compile the decode loop (image decoding stays outside it).

    Call arguments (`serving_default`):
        image_bytes: `tf.string [None]`, encoded JPEG, PNG, GIF or BMP files (any size,
            grayscale, RGB, RGBA, CMYK).

    Returns:
        `{"caption": tf.string [None]}`. Bytes that are no image raise
        `InvalidArgumentError` naming the accepted formats.

    Example:

    >>> CaptionerServingModule(task).save("export/")  # doctest: +SKIP
    """

    def __init__(self, task, jit_compile=True):
        super().__init__(name="captioner_serving")
        self.model = task.network  # tracked: the variables
        self.tokenizer = task.preprocessor.tokenizer  # tracked: the vocabulary table
        self._preprocessor = task.preprocessor
        self._decode = task.decoder(task.sampler, jit_compile=jit_compile)

    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        images = self._preprocessor.decode_images(image_bytes)  # (B, S, S, 3) in [0, 1]
        return {"caption": self._preprocessor.detokenize(self._decode(images))}

    def save(self, export_dir):
        """Writes the SavedModel atomically; returns its path."""
        return replace_dir_atomically(
            lambda tmp: tf.saved_model.save(self, tmp, signatures={"serving_default": self.serve}),
            export_dir)
