"""A generated translation task: written dates → ISO dates (the embedded offline default).

    "saturday, march 3rd 1998"  →  "1998-03-03"
    "3 mar 1998"                →  "1998-03-03"

Every pair is made here from a seeded random generator (no download), the weekday is the
real one, and the splits never share a source sentence. The alignment between the words of
the source and the digits of the target makes attention learn a readable pattern.
"""

import datetime

import numpy as np

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _ordinal(day):
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


FORMATS = (
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {_ordinal(d.day)} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}",
)


def generate_date_pairs(num_pairs, seed=0, first_year=1950, last_year=2049):
    """Returns `num_pairs` distinct (written date, ISO date) pairs.

    Args:
        num_pairs: int > 0 (at most the number of distinct sentences the formats allow).
        seed: int, the generator's seed.
        first_year, last_year: the range of years.

    Returns:
        A list of `(source, target)` string pairs.

    Example:

    >>> generate_date_pairs(2, seed=3)[0][1][:2] in ("19", "20")
    True
    """
    if not isinstance(num_pairs, int) or num_pairs <= 0:
        raise ValueError(f"`num_pairs` must be a positive int, got num_pairs={num_pairs!r}.")
    rng = np.random.default_rng(seed)
    start = datetime.date(first_year, 1, 1).toordinal()
    span = datetime.date(last_year, 12, 31).toordinal() - start + 1
    capacity = span * len(FORMATS)
    if num_pairs > capacity // 2:
        raise ValueError(
            f"`num_pairs`={num_pairs} is too many for years {first_year}-{last_year}: "
            f"at most {capacity // 2}.")
    seen, pairs = set(), []
    while len(pairs) < num_pairs:
        date = datetime.date.fromordinal(start + int(rng.integers(span)))
        source = FORMATS[int(rng.integers(len(FORMATS)))](date)
        if source in seen:
            continue
        seen.add(source)
        pairs.append((source, date.isoformat()))
    return pairs
