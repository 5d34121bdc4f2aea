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
            `num_beams=4`, `seed=1`.

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
    if identifier not in SAMPLERS:
        raise ValueError(
            f"Unknown sampler {identifier!r}; expected one of {sorted(SAMPLERS)} or a "
            "keras_hub.samplers.Sampler instance."
        )
    return SAMPLERS[identifier](**kwargs)
