"""Sampler lookup over one contract: `next(prompt, cache, index) -> (logits, hidden, cache)`.

`keras_hub.samplers` already implement that contract as one `ops.while_loop` over a
fixed-size token buffer (greedy, random/temperature, top-k, top-p): we use them as they are,
and only name them here so every application accepts the same `--sampler` strings. Beam
search is ours (`BeamSearchSampler`: length penalty, finished beams frozen).
"""

import keras_hub

from keras_seq.generation.beam_search_sampler import BeamSearchSampler

SAMPLERS = {
    "greedy": keras_hub.samplers.GreedySampler,
    "random": keras_hub.samplers.RandomSampler,
    "top_k": keras_hub.samplers.TopKSampler,
    "top_p": keras_hub.samplers.TopPSampler,
    # Ours: keras_hub's BeamSampler has no length penalty and keeps extending finished beams.
    "beam": BeamSearchSampler,
}


def get_sampler(identifier="greedy", **kwargs):
    """Returns a sampler instance.

    Args:
        identifier: a name in `SAMPLERS` ("greedy", "random", "top_k", "top_p", "beam"),
            or a `keras_hub.samplers.Sampler` instance (returned unchanged).
        **kwargs: constructor arguments, e.g. `temperature=0.8`, `k=5`, `p=0.9`,
            `num_beams=4`, `seed=1` (a seeded sampler gives the same text again in
            every network's `generate`).

    Returns:
        A `keras_hub.samplers.Sampler`.

    Example:

    >>> sampler = get_sampler("top_k", k=3, temperature=0.7)
    >>> type(sampler).__name__
    'TopKSampler'
    """
    if isinstance(identifier, keras_hub.samplers.Sampler):
        if kwargs:
            raise ValueError(
                "Pass either a sampler instance or a name with arguments, not both; got "
                f"{type(identifier).__name__} and {sorted(kwargs)}."
            )
        return identifier
    if not isinstance(identifier, str) or identifier not in SAMPLERS:
        raise ValueError(
            f"Unknown sampler {identifier!r}; expected one of {sorted(SAMPLERS)} or a "
            "keras_hub.samplers.Sampler instance."
        )
    _check_arguments(identifier, kwargs)
    return SAMPLERS[identifier](**kwargs)


def _check_arguments(name, kwargs):
    """One clear ValueError for a bad temperature / k / p / seed instead of a trace error."""
    if "temperature" in kwargs:
        t = kwargs["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
            raise ValueError(f"`temperature` must be a number > 0 for sampler={name!r}, got "
                             f"temperature={t!r}.")
    k = kwargs.get("k")
    if k is not None or (name == "top_k" and "k" in kwargs):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be a positive int for sampler={name!r}, got k={k!r}.")
    if "p" in kwargs:
        p = kwargs["p"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ValueError(f"`p` must be in (0, 1] for sampler={name!r}, got p={p!r}.")
    seed = kwargs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be an int or None for sampler={name!r}, got "
                         f"seed={seed!r}.")


def sampler_key(sampler):
    """A hashable description of a sampler's configuration (its class and `get_config`).

    Two samplers with the same key decode the same way, so a compiled generate loop built
    for one serves the other (`GenerateRunner`s are cached under this key).

    Args:
        sampler: a `keras_hub.samplers.Sampler`.

    Returns:
        A tuple, or the sampler's `id` for one whose config cannot be read.

    Example:

    >>> sampler_key(get_sampler("top_k", k=3, seed=1)) == sampler_key(
    ...     get_sampler("top_k", k=3, seed=1))
    True
    """
    try:
        config = sampler.get_config()
        items = tuple(sorted((str(k), repr(v)) for k, v in config.items()))
    except Exception:  # a custom sampler without a readable config: one runner per instance
        return ("instance", id(sampler))
    cls = type(sampler)
    return (cls.__module__, cls.__qualname__, items)
