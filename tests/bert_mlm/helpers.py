"""Shared helpers of the BERT-MLM tests: a tiny text and a small word-piece vocabulary."""

import functools

TINY_TEXT = (
    "The Time Traveller (for so it will be convenient to speak of him) was expounding a "
    "recondite matter to us. His grey eyes shone and twinkled, and his usually pale face was "
    "flushed and animated. The fire burned brightly, and the soft radiance of the incandescent "
    "lights in the lilies of silver caught the bubbles that flashed and passed in our glasses. "
    "Let's make some chicken! It tastes great with orange sauce. "
) * 8


@functools.lru_cache(maxsize=None)
def tiny_vocabulary(size=200):
    """A word-piece vocabulary learned from TINY_TEXT (cached: the learner is slow-ish)."""
    from keras_seq.data.word_pieces import train_word_piece_vocabulary

    # The learner keeps words seen >= 10 times: repeat the sentences.
    return tuple(train_word_piece_vocabulary(TINY_TEXT.split(". ") * 3, size))
