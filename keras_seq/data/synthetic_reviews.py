"""A generated movie-review sentiment corpus: the offline default of the IMDB application.

Reviews are built from templates: neutral plot/film sentences, sentiment sentences with
positive or negative words, negated sentences whose polarity flips ("was not good" counts as
negative), intensifiers, HTML `<br />` line breaks and lengths from a few words to a few
hundred. The label is the sign of the summed polarity of the sentiment sentences, so a model
has to read the words (and the negations) to get it right. Fully determined by `seed`.
"""

import numpy as np

from keras_seq.data.imdb import TextSplit

POSITIVE = [
    "great", "wonderful", "excellent", "brilliant", "superb", "moving", "enjoyable",
    "beautiful", "fantastic", "delightful", "charming", "gripping", "memorable", "funny",
    "touching", "outstanding", "good", "amazing", "clever", "powerful",
]
NEGATIVE = [
    "bad", "awful", "terrible", "boring", "dull", "horrible", "poor", "weak", "stupid",
    "pointless", "dreadful", "tedious", "lame", "annoying", "mediocre", "forgettable",
    "predictable", "clumsy", "painful", "worst",
]
POSITIVE_VERBS = ["loved", "enjoyed", "adored", "recommend", "liked"]
NEGATIVE_VERBS = ["hated", "disliked", "regret watching", "could not stand", "walked out of"]
SUBJECTS = [
    "this movie", "the film", "the acting", "the story", "the plot", "the script",
    "the ending", "the cast", "the direction", "the soundtrack", "the dialogue",
    "the cinematography", "this picture", "the lead actor", "the lead actress",
]
INTENSIFIERS = ["", "", "so ", "very ", "really ", "truly ", "quite ", "incredibly ", "simply "]
NEUTRAL = [
    "I watched it last {day} with {who}.",
    "The story follows {who} who moves to {place}.",
    "It runs for about {n} minutes.",
    "The film was shot in {place} in {year}.",
    "There is a subplot about {who} and an old {thing}.",
    "Most of the action takes place in {place}.",
    "I saw it on {medium} after reading the book.",
    "The director also made a film about {thing} a few years earlier.",
    "It is based on a {thing} from {year}.",
    "My friend told me about it at {place}.",
]
FILL = {
    "day": ["monday", "friday", "weekend", "night", "sunday"],
    "who": ["my brother", "a young doctor", "two sisters", "an old farmer", "my parents",
            "a detective", "a teacher", "my wife", "a soldier", "some friends"],
    "place": ["paris", "a small town", "new york", "the desert", "a farm", "london",
              "the coast", "a spaceship", "tokyo", "the mountains"],
    "n": ["90", "100", "120", "140", "85", "180"],
    "year": ["1975", "1988", "1993", "2001", "2006", "2010", "1962"],
    "thing": ["painting", "war", "train", "dog", "song", "novel", "robbery", "letter"],
    "medium": ["dvd", "tv", "a plane", "cable", "video"],
}


def _neutral(rng):
    template = NEUTRAL[rng.integers(len(NEUTRAL))]
    return template.format(**{k: v[rng.integers(len(v))] for k, v in FILL.items()})


def _sentiment(rng, polarity):
    """One sentence whose meaning has `polarity` (+1 or -1); a quarter use a negation."""
    negate = rng.random() < 0.25
    surface = -polarity if negate else polarity
    words = POSITIVE if surface > 0 else NEGATIVE
    adjective = words[rng.integers(len(words))]
    intens = INTENSIFIERS[rng.integers(len(INTENSIFIERS))]
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    kind = rng.integers(4)
    if kind == 0:
        return f"{subject.capitalize()} {'was not' if negate else 'was'} {intens}{adjective}."
    if kind == 1:
        return f"{subject.capitalize()} {'is not' if negate else 'is'} {intens}{adjective}!"
    if kind == 2:
        if negate:
            return f"I didn't think {subject} was {intens}{adjective}."
        verbs = POSITIVE_VERBS if surface > 0 else NEGATIVE_VERBS
        return f"I {verbs[rng.integers(len(verbs))]} {subject}."
    return f"{'This is not' if negate else 'This is'} a {intens}{adjective} movie."


def generate_reviews(num_reviews, seed=0, min_sentences=1, max_sentences=25):
    """Generates `num_reviews` labelled reviews, balanced between the two labels.

    Args:
        num_reviews: number of reviews (positive int).
        seed: integer seed; the same seed gives the same corpus.
        min_sentences: fewest sentences per review.
        max_sentences: most sentences per review (lengths are spread log-uniformly).

    Returns:
        A `TextSplit` (label 1 = positive).

    Example:

    >>> split = generate_reviews(4, seed=1)
    >>> len(split.texts), split.labels.tolist()
    (4, [0, 1, 0, 1])
    """
    if not isinstance(num_reviews, int) or num_reviews <= 0:
        raise ValueError(f"`num_reviews` must be a positive int, got num_reviews={num_reviews!r}.")
    if not 1 <= min_sentences <= max_sentences:
        raise ValueError(
            "`min_sentences` and `max_sentences` must satisfy 1 <= min <= max, got "
            f"min_sentences={min_sentences!r}, max_sentences={max_sentences!r}."
        )
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(num_reviews):
        label = i % 2
        polarity = 1 if label else -1
        n = int(np.exp(rng.uniform(np.log(min_sentences), np.log(max_sentences + 1))))
        n = max(min_sentences, min(max_sentences, n))
        n_sent = max(1, int(round(n * rng.uniform(0.3, 0.6))))
        # A minority of sentences may disagree, but the total always has the label's sign.
        n_against = int(rng.integers(0, (n_sent - 1) // 2 + 1)) if n_sent > 2 else 0
        polarities = [polarity] * (n_sent - n_against) + [-polarity] * n_against
        sentences = [_sentiment(rng, p) for p in polarities]
        sentences += [_neutral(rng) for _ in range(max(0, n - n_sent))]
        order = rng.permutation(len(sentences))
        parts = []
        for j, k in enumerate(order):
            parts.append(sentences[k])
            if j + 1 < len(order) and rng.random() < 0.15:
                parts.append("<br /><br />")
        texts.append(" ".join(parts).replace(" <br /><br /> ", "<br /><br />"))
        labels.append(label)
    return TextSplit(texts, np.asarray(labels, "int32"))
