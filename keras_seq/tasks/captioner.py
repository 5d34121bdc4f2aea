"""The `captioner` task: encoded image bytes in, captions out (CNN encoder + RNN decoder).

One preprocessor (`CaptionerPreprocessor`: the image decoding of `keras_seq.data.images` and
the caption `SequenceTokenizer`) serves training (inside `tf.data`), `predict`/`generate` and
the exported SavedModel, whose graph decodes the image bytes with the same function, runs the
compiled decode loop and detokenizes with the same tokenizer.
"""

import re

import numpy as np
import tensorflow as tf

from keras_seq.data import images as image_ops
from keras_seq.data.sequence_tokenizer import SequenceTokenizer
from keras_seq.tasks.task import Task, string_tensor

SAMPLER_NAMES = ("greedy", "beam")


class CaptionerPreprocessor:
    """Image bytes → float images `[B, S, S, 3]` in [0, 1]; captions ↔ token ids.

    Args:
        tokenizer: the caption `SequenceTokenizer` (or its config).
        image_size: images are decoded and resized to `image_size x image_size`.
        max_caption_length: caption length in tokens, [END] included (longer captions are
            cut; generation stops after this many tokens).

    Example:

    >>> p = CaptionerPreprocessor.build_from_captions(
    ...     ["a red circle", "two blue squares"], image_size=32, max_caption_length=6)
    >>> ids = p.tokenize(["a red circle", "a green circle"])  # [START] a red circle [END]
    >>> ids.shape, p.detokenize(ids).numpy().tolist()  # "green": out of the vocabulary
    (TensorShape([2, 7]), [b'a red circle', b'a [UNK] circle'])
    >>> png = tf.io.encode_png(tf.zeros([5, 9, 3], tf.uint8))
    >>> tuple(p.decode_images([png.numpy()]).shape)
    (1, 32, 32, 3)
    """

    def __init__(self, tokenizer, image_size=64, max_caption_length=12):
        for name, value, low in (("image_size", image_size, 16),
                                 ("max_caption_length", max_caption_length, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{name}` must be an int >= {low}, got {name}={value!r}.")
        if isinstance(tokenizer, dict):
            tokenizer = SequenceTokenizer(**tokenizer, name="caption_tokenizer")
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.max_caption_length = max_caption_length

    @classmethod
    def build_from_captions(cls, captions, vocabulary_size=None, image_size=64,
                            max_caption_length=12):
        """Learns the caption vocabulary (`vocabulary_size` tokens at most) from `captions`.

        Args:
            captions: one caption or a list of reference captions per image.
        """
        references = caption_references(captions)
        tokenizer = SequenceTokenizer.build_from_texts(
            [c for refs in references for c in refs], max_tokens=vocabulary_size,
            name="caption_tokenizer")
        return cls(tokenizer, image_size, max_caption_length)

    def decode_image(self, image_bytes):
        """One encoded image (scalar `tf.string`) → float32 `[S, S, 3]` (graph-safe)."""
        return image_ops.decode_image(image_bytes, self.image_size)

    def decode_images(self, image_bytes):
        """Encoded images `tf.string [B]` → float32 `[B, S, S, 3]` in [0, 1] (graph-safe)."""
        return image_ops.decode_images(image_bytes, self.image_size)

    def tokenize(self, captions):
        """Captions `[B]` → int32 `[B, max_caption_length + 1]`: [START] y [END], padding."""
        return self.tokenizer.tokenize(captions, self.max_caption_length + 1,
                                       add_start_end=True)

    def detokenize(self, ids):
        """Token ids `[B, L]` → captions `tf.string [B]` (stops at [END])."""
        return self.tokenizer.detokenize(ids)

    def get_config(self):
        return {"tokenizer": self.tokenizer.get_config(), "image_size": self.image_size,
                "max_caption_length": self.max_caption_length}


def caption_references(captions, name="captions"):
    """`captions` (a string, or a list of strings, per image) as a list of lists of str."""
    if isinstance(captions, (str, bytes)):
        raise ValueError(f"`{name}` must be a list (one caption or list of captions per "
                         f"image), got one string {captions[:40]!r}: wrap it in a list.")
    out = []
    for i, value in enumerate(captions):
        refs = [value] if isinstance(value, (str, np.str_)) else value
        if not isinstance(refs, (list, tuple, np.ndarray)) or not len(refs) or not all(
                isinstance(r, (str, np.str_)) for r in refs):
            raise ValueError(f"`{name}` must hold a caption string or a non-empty list of "
                             f"caption strings per image, got {value!r:.60} at index {i}.")
        out.append([str(r) for r in refs])
    if not out:
        raise ValueError(f"`{name}` must not be empty.")
    return out


def image_bytes_tensor(images, name="images"):
    """Encoded image files `images` as a `tf.string [B]`; one-line errors otherwise.

    Accepts a list of `bytes` (or a rank-1 `tf.string` tensor). A text string in their place
    (`str`, e.g. a file path) is refused: read the file's bytes first.
    """
    return string_tensor(
        images, name, "encoded image bytes (JPEG, PNG, GIF or BMP)", (bytes, np.bytes_),
        hint=lambda value: " (a text string: pass the file's bytes, e.g. "
        "open(path, 'rb').read())" if isinstance(value, (str, np.str_)) else "")


def build_network(vocabulary_size, image_size=64, embedding_dim=64, hidden_dim=192,
                  rnn="gru", attention=True, condition_on="both", encoder_filters=(16, 32, 64),
                  encoder_pooling="flatten", region_attention_heads=2, twin_heads=0,
                  self_similarity=True, self_similarity_heads=0, backbone=None,
                  backbone_weights=None, fine_tune_backbone=False, dropout=0.3):
    """A built `keras_seq.models.ImageCaptioner` with these sizes."""
    from keras_seq.models import ImageCaptioner

    network = ImageCaptioner(
        vocabulary_size, image_size=image_size, embedding_dim=embedding_dim,
        hidden_dim=hidden_dim, rnn=rnn, attention=bool(attention), condition_on=condition_on,
        encoder_filters=tuple(encoder_filters), encoder_pooling=encoder_pooling,
        encoder_self_attention_heads=region_attention_heads, encoder_twin_heads=twin_heads,
        encoder_self_similarity=bool(self_similarity) and not backbone,
        encoder_self_similarity_heads=self_similarity_heads, backbone=backbone,
        backbone_weights=backbone_weights, trainable_backbone=fine_tune_backbone,
        dropout=dropout)
    network.build()
    return network


def _tf_message(error):
    """The first line of a TensorFlow error, without its op and function names."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", error.message.strip().splitlines()[0])
    return re.sub(r"\s*\[Op:.*$", "", text)


class Captioner(Task):
    """Image captioning on raw image bytes: `CaptionerPreprocessor` + `ImageCaptioner`.

    Args:
        network: a `keras_seq.models.ImageCaptioner`.
        preprocessor: a `CaptionerPreprocessor` (or its config).
        augment: in training, light random crop / brightness / contrast (no flips: captions
            say left and right).
        sampler: the decoding of `predict` and of the export: "greedy" or "beam".
        num_beams: the beam width of "beam".

    Example:

    >>> import numpy as np
    >>> from keras_seq.data.shape_scenes import generate_shape_scenes
    >>> captions = ["a large red circle", "a small blue square"] * 4
    >>> pixels, _ = generate_shape_scenes(captions, image_size=32, seed=0)
    >>> images = [tf.io.encode_png(p).numpy() for p in pixels]
    >>> task = Captioner.from_captions(images, captions, image_size=32, embedding_dim=8,
    ...                                hidden_dim=8, encoder_filters=(4, 8))
    >>> _ = task.fit(images, captions, epochs=1, verbose=0)
    >>> len(task.predict(images[:2])["caption"])
    2
    """

    stem = "captioner"

    def __init__(self, network, preprocessor, augment=False, sampler="greedy", num_beams=4):
        if isinstance(preprocessor, dict):
            preprocessor = CaptionerPreprocessor(**preprocessor)
        if sampler not in SAMPLER_NAMES:
            raise ValueError(f"`sampler` must be one of {SAMPLER_NAMES}, got "
                             f"sampler={sampler!r}.")
        if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
            raise ValueError(f"`num_beams` must be a positive int, got num_beams={num_beams!r}.")
        super().__init__(network, preprocessor)
        if int(network.image_size) != preprocessor.image_size:
            raise ValueError(f"the network takes {network.image_size}px images but the "
                             f"preprocessor makes {preprocessor.image_size}px ones.")
        self.augment = bool(augment)
        self.sampler = sampler
        self.num_beams = num_beams
        self._decoders = {}

    @classmethod
    def from_captions(cls, images, captions, *, vocabulary_size=1000, image_size=64,
                      max_caption_length=12, embedding_dim=64, hidden_dim=192, rnn="gru",
                      attention=True, condition_on="both", encoder_filters=(16, 32, 64),
                      encoder_pooling="flatten", region_attention_heads=2, twin_heads=0,
                      self_similarity=True, self_similarity_heads=0, backbone=None,
                      backbone_weights=None, fine_tune_backbone=False, dropout=0.3,
                      augment=False, sampler="greedy", num_beams=4):
        """An untrained captioner; learns the caption vocabulary from `captions`.

        The defaults are the application's for the generated shape scenes.

        Args:
            images: the training images, encoded (PNG, JPEG, GIF or BMP bytes).
            captions: one caption string, or a list of reference captions, per image.
            vocabulary_size: caption tokens at most (padding, OOV, [START], [END] included).
            image_size: images are resized to this square side.
            max_caption_length: caption tokens generated at most.
            Other arguments: the network's options (see `ImageCaptioner`) and the task's.

        Returns:
            A `Captioner`.
        """
        images = image_bytes_tensor(images)
        references = caption_references(captions)
        if int(images.shape[0]) != len(references):
            raise ValueError(f"`images` and `captions` must have the same length, got "
                             f"{int(images.shape[0])} and {len(references)}.")
        preprocessor = CaptionerPreprocessor.build_from_captions(
            references, vocabulary_size, image_size, max_caption_length)
        network = build_network(
            preprocessor.tokenizer.vocabulary_size, image_size, embedding_dim, hidden_dim,
            rnn, attention, condition_on, encoder_filters, encoder_pooling,
            region_attention_heads, twin_heads, self_similarity, self_similarity_heads,
            backbone, backbone_weights, fine_tune_backbone, dropout)
        return cls(network, preprocessor, augment=augment, sampler=sampler,
                   num_beams=num_beams)

    # ---- training ---------------------------------------------------------------------
    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `({"image", "caption_in"}, caption_out, weights)` from raw data.

        Args:
            x: encoded images (a list of bytes), or a `tf.data.Dataset` of unbatched
                `(image_bytes, caption)` pairs, `caption` a string or a vector of reference
                strings ("" = no reference); a dataset is used in its own order.
            y: one caption or a list of references per image (None when `x` is a dataset).
            shuffle: training: shuffle (lists only), draw one of the references of each
                image at random in every epoch (else the first) and augment if `augment`.
        """
        p = self.preprocessor
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a tf.data.Dataset of "
                                 "(image_bytes, caption) pairs.")
            ds = x.map(lambda b, c: (b, tf.reshape(c, [-1])))
        else:
            if y is None:
                raise ValueError("`y` (the captions of the images `x`) is missing.")
            images = image_bytes_tensor(x, "x")
            references = caption_references(y, "y")
            if int(images.shape[0]) != len(references):
                raise ValueError(f"`x` and `y` must have the same length, got "
                                 f"{int(images.shape[0])} and {len(references)}.")
            most = max(len(r) for r in references)
            padded = [r + [""] * (most - len(r)) for r in references]
            ds = tf.data.Dataset.from_tensor_slices((images, tf.constant(padded, tf.string)))
            if shuffle:
                ds = ds.shuffle(len(references), seed=seed, reshuffle_each_iteration=True)
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        augment = shuffle and self.augment

        def example(pair, draw):
            image_bytes, references = pair
            image = p.decode_image(image_bytes)
            real = tf.boolean_mask(references, tf.strings.length(references) > 0)
            references = tf.cond(tf.size(real) > 0, lambda: real, lambda: references[:1])
            pick = 0
            if shuffle:
                pick = tf.random.stateless_uniform((), draw, 0, tf.size(references), tf.int32)
            if augment:
                image = image_ops.augment_image(image, draw[::-1])
            return image, references[pick]

        def to_batch(images, captions):
            ids = p.tokenize(captions)
            return ({"image": images, "caption_in": ids[:, :-1]}, ids[:, 1:],
                    tf.cast(ids[:, 1:] != 0, tf.float32))

        ds = tf.data.Dataset.zip(ds, draws).map(example, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size).map(to_batch).prefetch(tf.data.AUTOTUNE), None

    def compile(self, total_steps=1, learning_rate=1e-3, jit_compile="auto"):
        """Adam (clipnorm 1) with warm-up + cosine decay, token cross-entropy and accuracy."""
        from keras_seq import runtime
        from keras_seq.training.token_classifier import compile_token_classifier

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        self.trainer = compile_token_classifier(
            self.network, learning_rate, total_steps, jit_compile, max_warmup_steps=500)
        return self.trainer

    # ---- captions ---------------------------------------------------------------------
    def _generate_ids(self, images, max_length, sampler):
        """The network's decode loop: float images `[B, S, S, 3]` → ids `[B, max_length]`.

        The one place that calls the network's generation API (`generate_step`, the
        traceable decode of the generative contract).
        """
        buffer = tf.zeros([tf.shape(images)[0], max_length], tf.int32)
        return self.network.generate_step(images, buffer, sampler=sampler)

    def _sampler(self, sampler):
        from keras_seq.generation import get_sampler

        if sampler == "beam":
            return get_sampler("beam", num_beams=self.num_beams)
        get_sampler(sampler)  # a one-line error for an unknown name or object
        return sampler

    def decoder(self, sampler="greedy", max_length=None, jit_compile="auto"):
        """The compiled decode loop `images [B, S, S, 3] → ids [B, max_length]` (cached).

        Args:
            sampler: a `keras_seq.generation.get_sampler` name ("greedy", "beam", ...) or
                a `keras_hub.samplers.Sampler`; "beam" uses the task's `num_beams`.
            max_length: the total output length in tokens, [START] included (default
                `max_caption_length + 1`: [START], the caption, [END]).
            jit_compile: XLA for the loop ("auto": the inference default).
        """
        from keras_seq import runtime

        if max_length is None:
            max_length = self.preprocessor.max_caption_length + 1
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2, got max_length={max_length!r}.")
        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("inference")
        key = (sampler if isinstance(sampler, str) else id(sampler), max_length,
               bool(jit_compile))
        if key not in self._decoders:
            resolved = self._sampler(sampler)
            # The loop is an ops.while_loop already: AutoGraph has nothing to convert.
            self._decoders[key] = tf.function(
                lambda images: self._generate_ids(images, max_length, resolved),
                jit_compile=jit_compile, autograph=False)
        return self._decoders[key]

    def _decode_images(self, images):
        images = image_bytes_tensor(images)
        try:
            return self.preprocessor.decode_images(images)
        except tf.errors.InvalidArgumentError:  # which one, and why (eager: a plain message)
            for i, image_bytes in enumerate(images):
                try:
                    self.preprocessor.decode_image(image_bytes)
                except tf.errors.InvalidArgumentError as error:
                    raise ValueError(
                        f"`images[{i}]` must be an encoded JPEG, PNG, GIF or BMP file: "
                        f"{_tf_message(error)}") from None
            raise

    def generate(self, images, max_length=None, sampler="greedy", batch_size=128):
        """Captions `images` with one compiled decode loop; returns a list of str.

        Args:
            images: encoded image files (a list of bytes).
            max_length: the total output length in tokens, [START] included (default
                `max_caption_length + 1`).
            sampler: "greedy", "beam", "random", "top_k", "top_p" or a
                `keras_hub.samplers.Sampler`.
            batch_size: images per decode call.
        """
        decode = self.decoder(sampler, max_length)
        pixels = self._decode_images(images)
        out = []
        for i in range(0, int(pixels.shape[0]), batch_size):
            ids = decode(pixels[i:i + batch_size])
            out += [c.decode("utf-8") for c in self.preprocessor.detokenize(ids).numpy()]
        return out

    def predict(self, x, batch_size=128):
        """`{"caption": list of str}` for encoded images `x`, decoded like the export."""
        images = image_bytes_tensor(x)
        if int(images.shape[0]) == 0:
            return {"caption": []}
        return {"caption": self.generate(images, sampler=self.sampler, batch_size=batch_size)}

    def export(self, path, jit_compile="auto"):
        """SavedModel: `serving_default(image_bytes: tf.string [None])` → caption."""
        from keras_seq import runtime
        from keras_seq.export.captioner_module import CaptionerServingModule

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("inference")
        return CaptionerServingModule(self, jit_compile=jit_compile).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config(), "augment": self.augment,
                "sampler": self.sampler, "num_beams": self.num_beams}
