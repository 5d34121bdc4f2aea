"""The one compiled `generate` of every generative network: `GenerateRunner` + the mixins.

`GenerativeModel` gives a network `generate(inputs, max_length, sampler, jit_compile)` on top
of the contract of `keras_seq.generation` (`build_cache`, `call_with_cache`,
`generate_step`); `GenerativeLanguageModel` adds the prompt layout and `generate_step` that
both language models share. The decode loop itself runs inside a `GenerateRunner`, cached per
sampler configuration.
"""

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_seq.generation.decode import decode
from keras_seq.generation.samplers import get_sampler, sampler_key
from keras_seq.runtime import default_jit_compile


class GenerateRunner(keras.Model):
    """A network's `generate_step` as a Keras `call`, so Keras' predict compiles it per shape.

    `predict_on_batch` gives a backend-neutral compiled call (XLA when compiled with
    `jit_compile=True`) without importing a backend in model code. The runner keeps the
    network, the sampler, the sampler's seed state (tracked, so a seeded sampler's state is a
    model variable; `run` resets it, so the same seed gives the same text again) and a trace
    counter (`traces`, incremented once per trace).

    Args:
        network: a generative network (its `generate_step` is called).
        sampler: a `keras_hub.samplers.Sampler`.
        options: dict of extra keyword arguments of `generate_step` (e.g. an
            encoder-decoder's `start_id`/`end_id`).
        name: model name.

    Call arguments:
        inputs: `(inputs, token_ids)` as `generate_step` takes them.

    Returns:
        The filled `(B, L)` token buffer.

    Example:

    >>> import keras_hub
    >>> runner = GenerateRunner(keras.layers.Dense(4), keras_hub.samplers.RandomSampler(seed=1))
    >>> runner.traces, runner.initial_seed_state.shape
    (0, (2,))
    """

    def __init__(self, network, sampler, options=None, name="generate_runner"):
        super().__init__(name=name)
        self.network = network
        self.sampler = sampler
        self.options = dict(options or {})
        self.traces = 0  # incremented in `call`: a Python side effect, once per trace
        self.initial_seed_state = None
        seed_generator = getattr(sampler, "seed_generator", None)
        if seed_generator is not None:
            self.seed_generator = seed_generator  # tracked: its state is a model variable
            seed = getattr(sampler, "seed", None)
            if seed is not None:  # restarts from its seed on every run; unseeded ones go on
                self.initial_seed_state = ops.convert_to_numpy(
                    keras.random.SeedGenerator(seed).state.value)

    def call(self, inputs):
        inputs, token_ids = inputs
        self.traces += 1  # a Python side effect: runs once per trace
        return self.network.generate_step(inputs, token_ids, sampler=self.sampler,
                                          **self.options)

    def run(self, inputs, token_ids):
        """Runs the compiled loop on numpy `inputs` and `token_ids`; int32 numpy `(B, L)`."""
        if self.initial_seed_state is not None:
            self.seed_generator.state.assign(self.initial_seed_state)  # same seed, same text
        return np.asarray(self.predict_on_batch([inputs, token_ids])).astype("int32")


class _Untracked:
    """A plain attribute holder that Keras' layer tracking leaves alone."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class GenerativeModel:
    """Mixin of every generative network: one `generate` over one compiled `GenerateRunner`.

    A subclass (also a `keras.Model`) implements the contract of `keras_seq.generation`:
    `build_cache(inputs, max_length)`, `call_with_cache(token_ids, cache,
    cache_update_index)` and the traceable `generate_step(inputs, token_ids, sampler)`, plus
    `_generate_layout(inputs, max_length, sampler)` → `(inputs, token_ids, finish)`: the arrays
    the runner gets and a function that turns the runner's buffer into the returned one.
    """

    def generate(self, inputs, max_length, sampler="greedy", jit_compile=None):
        """Generates token ids for `inputs` in one compiled loop.

        Args:
            inputs: what `build_cache` reads (prompt ids of a language model; source ids
                or images of an encoder-decoder).
            max_length: int, length of the returned buffer (keras-hub's meaning: the prompt
                or [START] included).
            sampler: a name ("greedy", "beam", "random", "top_k", "top_p") or a
                `keras_hub.samplers.Sampler`; `keras_seq.generation.get_sampler(name,
                temperature=..., k=..., p=..., seed=...)` builds configured ones, and a
                seeded one gives the same ids again.
            jit_compile: XLA for the loop (default `runtime.default_jit_compile("inference")`).

        Returns:
            numpy int32 `(B, max_length)`.
        """
        return self._run_generate(inputs, max_length, sampler, jit_compile)

    def _run_generate(self, inputs, max_length, sampler, jit_compile, **options):
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise ValueError(f"`max_length` must be an int, got max_length={max_length!r}.")
        max_length = int(max_length)
        sampler = get_sampler(sampler)
        self._check_sampler(sampler)
        inputs, token_ids, finish = self._generate_layout(inputs, max_length, sampler)
        network = self._generation_network()
        jit = default_jit_compile("inference") if jit_compile is None else bool(jit_compile)
        key = (sampler_key(sampler), jit, tuple(sorted(options.items())))
        runners = self._generate_runners()
        runner = runners.get(key)
        if runner is None:
            runner = GenerateRunner(network, sampler, options)
            runner.compile(jit_compile=jit)
            runners[key] = runner
        return finish(runner.run(inputs, token_ids))

    def _generate_runners(self):
        holder = self.__dict__.get("_generate_holder")
        if holder is None:
            holder = _Untracked(runners={})
            object.__setattr__(self, "_generate_holder", holder)  # untracked by Keras
        return holder.runners

    def _generation_network(self):
        """The network the runner wraps (a language model may use a stateless twin)."""
        if not self.built:
            self.build()
        return self

    def _output_vocabulary_size(self):
        for name in ("vocabulary_size", "target_vocabulary_size", "vocabulary_size"):
            if getattr(self, name, None) is not None:
                return int(getattr(self, name))
        return None

    def _check_sampler(self, sampler):
        k, vocabulary = getattr(sampler, "k", None), self._output_vocabulary_size()
        if k is not None and vocabulary is not None and k > vocabulary:
            raise ValueError(f"`k` of the {type(sampler).__name__} must be <= the vocabulary "
                             f"size {vocabulary}, got k={k}.")

    @property
    def generate_traces(self):
        """How many times a generate loop was traced (compiled), over all sampler settings."""
        return sum(r.traces for r in self._generate_runners().values())


# Samplers that pick each token from its own step's logits only (a beam search does not).
_STEPWISE_SAMPLERS = (keras_hub.samplers.GreedySampler, keras_hub.samplers.RandomSampler,
                      keras_hub.samplers.TopKSampler, keras_hub.samplers.TopPSampler)


def _round_up(n, multiple):
    return int(-(-n // multiple) * multiple)


class GenerativeLanguageModel(GenerativeModel):
    """Mixin of the language models: prompts in, each prompt continued in one buffer.

    Prompts are int ids `(B, P)`, 0 = padding anywhere in a row (each row's ids are moved to
    the left). The runner's buffer is `(B, L)`, L = `max_length` rounded up to 64 (capped at
    the model's `max_length`, if it has one), the prompts bucketed to a width of 16, so a few
    shapes cover every call and each compiles once. Only for the samplers whose first tokens
    do not depend on how many follow (greedy, random, top-k, top-p): a beam search (or any
    other sampler) gets a buffer of exactly `max_length`. Generation starts after the
    shortest prompt; the longer rows keep their given ids (the sampler's mask).
    """

    _LENGTH_BUCKET, _WIDTH_BUCKET = 64, 16

    def _model_max_length(self):
        return None

    def _generate_layout(self, inputs, max_length, sampler):
        prompt_ids = np.asarray(inputs)
        if prompt_ids.ndim != 2 or prompt_ids.shape[1] < 1 or \
                not np.issubdtype(prompt_ids.dtype, np.integer):
            raise ValueError("`inputs` (prompt ids) must be ints of shape (batch, length >= 1), "
                             f"got shape {prompt_ids.shape} and dtype {prompt_ids.dtype}.")
        vocabulary = self._output_vocabulary_size()
        if np.any((prompt_ids < 0) | (prompt_ids >= vocabulary)):
            raise ValueError(f"`inputs` (prompt ids) must be in [0, {vocabulary}), got values "
                             f"in [{prompt_ids.min()}, {prompt_ids.max()}].")
        rows = [row[row != 0] for row in prompt_ids]
        lengths = np.array([len(r) for r in rows])
        if len(rows) == 0 or lengths.min() == 0:
            raise ValueError("every row of `inputs` (prompt ids) needs at least one non-padding "
                             f"id; rows {np.flatnonzero(lengths == 0).tolist()} are all padding.")
        longest = int(lengths.max())
        if max_length <= longest:
            raise ValueError(f"`max_length` (the returned length, prompt included) must exceed "
                             f"the longest prompt ({longest} ids), got max_length={max_length}.")
        cap = self._model_max_length()
        if cap is not None and max_length > cap:
            raise ValueError(f"`max_length` must be <= {cap} (the model's max_length), got "
                             f"max_length={max_length}.")
        total = max_length
        if isinstance(sampler, _STEPWISE_SAMPLERS):  # a longer buffer changes no early token
            total = _round_up(max_length, self._LENGTH_BUCKET)
            total = total if cap is None else min(total, cap)
        width = min(_round_up(longest, self._WIDTH_BUCKET), total)
        prompt = np.zeros((len(rows), width), "int32")
        for i, row in enumerate(rows):
            prompt[i, :len(row)] = row  # left-aligned (right-padded)
        token_ids = np.zeros((len(rows), total), "int32")
        return prompt, token_ids, lambda out: out[:, :max_length]

    def generate_step(self, inputs, token_ids, sampler="greedy"):
        """The traceable decode: `build_cache(inputs)`, then one `ops.while_loop`.

        Args:
            inputs: int `(B, W)` right-padded prompts (every row >= 1 id).
            token_ids: int `(B, L)` buffer, L > W (its first W columns are replaced by
                `inputs`).
            sampler: a name or a `keras_hub.samplers.Sampler`.

        Returns:
            int32 `(B, L)`: each prompt followed by its generated ids.
        """
        prompt = ops.cast(inputs, "int32")
        width = ops.shape(prompt)[1]
        buffer = ops.concatenate([prompt, ops.cast(token_ids, "int32")[:, width:]], axis=1)
        length = buffer.shape[1] if buffer.shape[1] is not None else ops.shape(buffer)[1]
        given = ops.not_equal(buffer, 0)  # prompt ids are kept (the sampler's mask)
        # Generation starts after the shortest prompt; longer rows keep their own ids.
        index = ops.min(ops.sum(ops.cast(ops.not_equal(prompt, 0), "int32"), axis=1))
        cache = self.build_cache(prompt, length)
        return decode(self.call_with_cache, buffer, cache=cache, index=index, mask=given,
                      sampler=sampler, model=self)
