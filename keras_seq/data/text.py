"""Text standardization shared by training and export (TensorFlow string ops)."""

import keras
import tensorflow as tf

# `<br />`, `<br/>`, `<br>` (any case) in the IMDB reviews.
_BR_PATTERN = r"<\s*br\s*/?\s*>"
# ASCII punctuation, as in Keras' `lower_and_strip_punctuation`.
_PUNCTUATION_PATTERN = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


@keras.saving.register_keras_serializable(package="keras_seq")
def standardize_review(text):
    """Lower-cases a review and replaces HTML line breaks and punctuation by spaces.

    Registered with Keras serialization, so a `TextVectorization(standardize=standardize_review)`
    can be saved in the `.keras` format and reloaded. Only `tf.strings` ops are used, so the
    same function runs inside a SavedModel's serving function.

    Args:
        text: `tf.string` tensor of any shape.

    Returns:
        A `tf.string` tensor of the same shape.

    Example:

    >>> import tensorflow as tf
    >>> standardize_review(tf.constant(["Great!<br /><br />Loved IT."])).numpy()
    array([b'great   loved it '], dtype=object)
    """
    return tf.strings.regex_replace(_lower_without_line_breaks(text), _PUNCTUATION_PATTERN, " ")


def _lower_without_line_breaks(text):
    """Valid UTF-8, lower-cased, HTML line breaks replaced by spaces."""
    # Invalid UTF-8 bytes become U+FFFD instead of failing the lowercase op.
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.regex_replace(text, _BR_PATTERN, " ")


# "!" and "?": each one becomes a token ("!!!" -> three "!" tokens).
_MARKS_PATTERN = r"([!?])"
_OTHER_PUNCTUATION_PATTERN = r'[\"#$%&()\*\+,-\./:;<=>@\[\\\]^_`{|}~\']'


@keras.saving.register_keras_serializable(package="keras_seq")
def standardize_review_keep_marks(text):
    """As `standardize_review`, but "!" and "?" stay, as words of their own.

    Exclamation and question marks carry tone ("great!!!", "plot?"), which the plain
    standardization throws away; the other ASCII punctuation is replaced by spaces as
    before. Only `tf.strings` ops, so it runs inside a SavedModel too. Takes and returns a
    `tf.string` tensor of any shape, like `standardize_review`.

    Example:

    >>> import tensorflow as tf
    >>> tf.strings.split(standardize_review_keep_marks(
    ...     tf.constant(["Great!!<br />Why, oh why?"]))).to_list()
    [[b'great', b'!', b'!', b'why', b'oh', b'why', b'?']]
    """
    text = tf.strings.regex_replace(_lower_without_line_breaks(text),
                                    _OTHER_PUNCTUATION_PATTERN, " ")
    return tf.strings.regex_replace(text, _MARKS_PATTERN, r" \1 ")


REVIEW_STANDARDIZERS = {"strip": standardize_review, "marks": standardize_review_keep_marks}
