"""Beam search with a length penalty and frozen finished beams."""

import keras_hub
from keras import ops
from keras import tree


class BeamSearchSampler(keras_hub.samplers.Sampler):
    """Beam search over the `next(prompt, cache, index) -> (logits, hidden, cache)` contract.

    Keeps the `num_beams` most likely prefixes per example. A beam that emits a stop token is
    finished: it is only extended by padding (id 0) at no cost, so its log-probability stays
    fixed while the others grow. At the end each example returns the beam with the best
    length-normalized score (Wu et al., 2016):

        score(y) = log p(y | x) / lp(y),   lp(y) = ((5 + |y|) / 6) ** length_penalty

    `length_penalty=0` ranks by raw log-probability (which favours short outputs). During
    the search beams compete by raw log p; the penalty only ranks the final k. Given prompt
    tokens (`mask` True, e.g. the longer prompts of a GPT batch that starts generating after
    the shortest one) are copied into every beam at no cost: they add nothing to log p, do not
    count in |y| and never finish a beam. After each top-k the cache rows follow their beams
    (`reorder_cache`); `search` returns all k final beams with their scores.
    `keras_hub.samplers.BeamSampler` has neither the penalty nor frozen finished beams,
    which is why this one exists. The loop is one `ops.while_loop` like every sampler here.

    Args:
        num_beams: int, beam width k.
        length_penalty: float alpha >= 0.
        temperature: float, logits are divided by it.

    Call arguments:
        next: the step function.
        prompt: int `(B, L)` buffer.
        cache: the model's cache (batch-first tensors) or None.
        index: first position to generate.
        mask: bool `(B, L)`, True = given prompt token.
        stop_token_ids: tuple of ids that finish a beam.
        model: the Keras model (JAX variable threading).

    Returns:
        int `(B, L)`: the best beam of each example.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> def next_fn(tokens, cache, index):  # prefers token 3 ([END]) after two steps
    ...     logits = ops.where(ops.arange(5) == 3, 2.0 * ops.cast(index > 2, "float32"), 0.0)
    ...     return ops.tile(logits[None], (ops.shape(tokens)[0], 1)), None, cache
    >>> out = BeamSearchSampler(num_beams=2)(next_fn, np.array([[2, 0, 0, 0, 0, 0]]),
    ...                                      index=1, stop_token_ids=(3,))
    >>> int(np.asarray(out)[0, 3])
    3
    """

    def __init__(self, num_beams=4, length_penalty=0.6, temperature=1.0):
        super().__init__(temperature=temperature)
        if not isinstance(num_beams, int) or num_beams < 1:
            raise ValueError(f"`num_beams` must be a positive int, got num_beams={num_beams!r}.")
        if length_penalty < 0:
            raise ValueError(
                f"`length_penalty` must be >= 0, got length_penalty={length_penalty!r}.")
        self.num_beams = num_beams
        self.length_penalty = float(length_penalty)

    def __call__(self, next, prompt, cache=None, index=0, mask=None, stop_token_ids=None,
                 hidden_states=None, model=None):
        beams, _, scores = self.search(next, prompt, cache=cache, index=index, mask=mask,
                                       stop_token_ids=stop_token_ids, model=model)
        best = ops.argmax(scores, axis=1)  # (B,): the first of equal scores
        return ops.take_along_axis(beams, best[:, None, None], axis=1)[:, 0]  # (B, L)

    def reorder_cache(self, cache, beam_indices):
        """The cache rows of the surviving beams: `x[beam_indices]` for every tensor in it.

        Called once per step after the top-k: row i of the new cache is the row of the beam
        that new beam i extends. Caches must be batch-first (`(B * num_beams, ...)`).

        Args:
            cache: the model's cache (a nest of tensors).
            beam_indices: int `(B * num_beams,)` rows to take.

        Returns:
            The reordered cache (same structure).
        """
        return tree.map_structure(lambda x: ops.take(x, beam_indices, axis=0), cache)

    def search(self, next, prompt, cache=None, index=0, mask=None, stop_token_ids=None,
               model=None):
        """Runs the search and returns every final beam with its scores.

        Takes the same arguments as calling the sampler. Given prompt tokens (`mask` True at
        a position) are copied into every beam at no cost: they neither add to the
        log-probability nor count in the length, and they never finish a beam.

        Returns:
            `(beams, log_probs, scores)`: int `(B, num_beams, L)` token buffers, float32
            `(B, num_beams)` log p(y | x) of the generated tokens, and float32
            `(B, num_beams)` `log_probs / lp(y)`; beams in the order of the last top-k
            (by log-probability, best first). Beams that never became live (fewer than
            `num_beams` continuations, e.g. while a prompt is copied) keep a log-probability
            near -1e9.
        """
        k = self.num_beams
        prompt = ops.convert_to_tensor(prompt)
        max_length = ops.shape(prompt)[1]
        index = ops.cast(index, "int32")
        start_index = index
        mask = ops.zeros_like(prompt, "bool") if mask is None else ops.cast(mask, "bool")
        stop_token_ids = tuple(stop_token_ids or ())

        def repeat(x):
            return ops.repeat(x, k, axis=0)  # (B*k, ...)

        prompt, mask = repeat(prompt), repeat(mask)
        has_cache = cache is not None
        cache = tree.map_structure(repeat, cache) if has_cache else ()
        batch_k = ops.shape(prompt)[0]
        # Only beam 0 of each example is live at the start (the k copies are identical).
        first = ops.convert_to_tensor([0.0] + [-1e9] * (k - 1), "float32")
        log_probs = ops.reshape(ops.tile(first[None], (batch_k // k, 1)), (-1,))  # (B*k,)
        finished = ops.zeros((batch_k,), "bool")

        def is_stop(tokens):
            hit = ops.zeros_like(tokens, "bool")
            for stop in stop_token_ids:
                hit = ops.logical_or(hit, ops.equal(tokens, stop))
            return hit

        def cond(prompt, cache, index, log_probs, finished):
            if not stop_token_ids:
                return ops.convert_to_tensor(True)
            return ops.logical_not(ops.all(finished))

        def body(prompt, cache, index, log_probs, finished):
            logits, _, cache = next(prompt, cache, index)
            step_logp = ops.log_softmax(ops.cast(logits, "float32") / self.temperature)  # (Bk, V)
            vocab = ops.shape(step_logp)[-1]
            ids = ops.arange(vocab)[None, :]  # (1, V)
            # A given prompt token is the only continuation, at no cost.
            given = mask[:, index]  # (Bk,)
            given_token = ops.cast(prompt[:, index], "int32")[:, None]  # (Bk, 1)
            given_only = ops.where(ids == given_token, 0.0, -1e9)  # (Bk, V)
            step_logp = ops.where(given[:, None], given_only, step_logp)
            # A finished beam is only extended by padding, at no cost.
            pad_only = ops.where(ids == 0, 0.0, -1e9)  # (1, V)
            step_logp = ops.where(finished[:, None], pad_only, step_logp)
            total = ops.reshape(log_probs[:, None] + step_logp, (-1, k * vocab))  # (B, kV)
            top_logp, top_idx = ops.top_k(total, k=k)  # (B, k)
            beam = top_idx // vocab
            token = ops.reshape(top_idx % vocab, (-1,))  # (Bk,)
            source = ops.reshape(beam + ops.arange(ops.shape(beam)[0])[:, None] * k, (-1,))

            def gather(x):
                return ops.take(x, source, axis=0)

            prompt = gather(prompt)
            cache = self.reorder_cache(cache, source) if has_cache else cache
            finished = gather(finished)
            token = ops.cast(token, prompt.dtype)
            token = ops.where(given, prompt[:, index], token)
            prompt = ops.slice_update(prompt, [0, index], token[:, None])
            finished = ops.logical_or(
                finished, ops.logical_and(is_stop(token), ops.logical_not(given)))
            return prompt, cache, index + 1, ops.reshape(top_logp, (-1,)), finished

        prompt, _, _, log_probs, finished = self.run_loop(
            cond, body, loop_vars=(prompt, cache, index, log_probs, finished),
            maximum_iterations=(max_length - index), model=model)

        positions = ops.arange(max_length)[None, :]
        generated = ops.logical_and(positions >= start_index, ops.not_equal(prompt, 0))
        generated = ops.logical_and(generated, ops.logical_not(mask))
        length = ops.cast(ops.sum(ops.cast(generated, "int32"), axis=1), "float32")  # (Bk,)
        penalty = ops.power((5.0 + length) / 6.0, self.length_penalty)
        score = ops.reshape(log_probs / penalty, (-1, k))  # (B, k)
        beams = ops.reshape(prompt, (-1, k, max_length))  # (B, k, L)
        return beams, ops.reshape(log_probs, (-1, k)), score

    def get_config(self):
        config = super().get_config()
        config.update(num_beams=self.num_beams, length_penalty=self.length_penalty)
        return config
