"""The compiled `generate` call of a language model: prefill + decode as one Keras `call`."""

import keras
from keras import ops


class GenerateRunner(keras.Model):
    """Base of a model's generate runner: Keras' predict compiles `call` once per shape.

    A language model's `generate` wraps its prefill + `keras_seq.generation.decode` loop in a
    subclass's `call(inputs)` with `inputs = (prompt, slots)` and runs it through
    `predict_on_batch`, which gives a backend-neutral compiled call (XLA when asked) without
    importing a backend in model code. This base keeps the language model, the sampler, the
    sampler's seed state (tracked, so a seeded sampler is a model variable, and remembered,
    so the same seed gives the same text again) and a trace counter.

    Args:
        lm: the language model (its `prefill`/`call_with_cache` are used by `call`).
        sampler: a `keras_hub.samplers.Sampler`.
        name: model name.

    Call arguments:
        inputs: `(prompt, slots)`, int `(B, W)` prompt ids and `(B, L - W)` empty slots.

    Returns:
        Subclasses return the filled `(B, L)` token buffer.

    Example:

    >>> import keras_hub
    >>> runner = GenerateRunner(keras.layers.Dense(4), keras_hub.samplers.RandomSampler(seed=1))
    >>> runner.traces, runner.initial_seed_state.shape
    (0, (2,))
    """

    def __init__(self, lm, sampler, name="generate_runner"):
        super().__init__(name=name)
        self.lm = lm
        self.sampler = sampler
        self.traces = 0  # incremented in `call`: a Python side effect, once per trace
        seed_generator = getattr(sampler, "seed_generator", None)
        if seed_generator is not None:
            self.seed_generator = seed_generator  # tracked: its state is a model variable
        self.initial_seed_state = (None if seed_generator is None
                                   else ops.convert_to_numpy(seed_generator.state.value))
