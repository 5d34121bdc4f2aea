"""Cached beam search ≡ a beam search that re-runs the whole model on every prefix.

`BeamSearchSampler` reorders each model's cache (K/V, RNN states, encoder outputs) after every
top-k so that row i follows the beam it extends. `tests/generation/beam_reference.py` needs
no cache: it runs the model's teacher-forced forward pass on each whole prefix. For tiny
random models of every generating architecture, the cached search must return the same
tokens (exactly) and the same log-probabilities and length-normalized scores (float32
tolerance, below) for every final beam, with several examples of different source/prompt
lengths in one batch.

The random models are made peaky (output kernel scaled, so logits have a spread of a few
units) so that beams diverge from greedy and swap places, and the pad id 0 gets a -1e4
output bias: a trained model never emits padding (pad targets are masked out of the loss),
and a pad inside a prefix is masked (or skipped) by a teacher-forced pass but read by a
cached step, so the two would differ for a reason that has nothing to do with the cache.
`test_..._fails_without_reordering` shows each comparison can fail: with the reorder made
the identity, the results differ. The eager searches run the same `ops.while_loop` code as
the compiled ones; `test_xla_compiled_...` runs the translator's XLA path as well.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_seq.generation import BeamSearchSampler
from keras_seq.models import (
    BahdanauEncoderDecoder,
    GPTLanguageModel,
    ImageCaptioner,
    RNNEncoderDecoder,
    TransformerEncoderDecoder,
)
from tests.generation.beam_reference import reference_beam_search

START, END = 2, 3
SOURCE_VOCAB, TARGET_VOCAB = 16, 14
MAX_LENGTH = 8  # output buffer of the encoder-decoders, [START] included: 7 steps
# Three sources of different lengths (0 = padding): the batch is padded.
SOURCES = np.array([[5, 6, 7, 8, 9, 0], [4, 11, 0, 0, 0, 0], [7, 8, 9, 10, 12, 13]], "int32")
# float32 scores: a sum of <= 7 log-probabilities, each from a log-softmax over logits that
# the cached and the whole-prefix passes compute in a different order (differences measured
# on CPU: at most 2e-6 absolute). rtol 1e-4; atol for log-probabilities near 0.
RTOL, ATOL = 1e-4, 1e-5
# The reference must not have had to choose between candidates closer than this (50x the
# float32 noise above), else a tie broken by rounding would decide the comparison.
MIN_GAP = 1e-4


class RecordingBeamSearch(BeamSearchSampler):
    """The library's beam search; keeps what `search` returned (eager tensors, or symbolic
    ones of the trace that called it)."""

    def search(self, *args, **kwargs):
        self.result = super().search(*args, **kwargs)
        return self.result


class NoReorderBeamSearch(RecordingBeamSearch):
    """A broken beam search: the cache is never reordered between beams."""

    def reorder_cache(self, cache, beam_indices):
        return cache


def _sharpen(model, output_scale):
    """Embeddings x10 (initialized at +-0.05 the token barely reaches the output and a random
    tiny model repeats one token), output kernel scaled (peaky logits), pad id bias -1e4."""
    for variable in model.weights:
        if "embedding" in variable.path:
            variable.assign(variable * 10.0)
    dense = model.output_projection
    dense.kernel.assign(dense.kernel * output_scale)
    dense.bias.assign(ops.where(ops.arange(dense.bias.shape[0]) == 0, -1e4, dense.bias))


# Seeds whose tiny model makes an informative case (checked in the test: beam search beats
# greedy on some example, some beams end with [END] and others do not, no near ties).
SEEDS = {"transformer": 4, "bahdanau": 4, "bahdanau_bidirectional_deep": 1, "rnn": 3,
         "captioner_gru_attention": 2, "captioner_lstm": 3}


@functools.cache  # built once per kind for the tests below
def _seq2seq(kind):
    """(model, source, prefix_logits) for a seeded tiny encoder-decoder of `kind`."""
    keras.utils.set_random_seed(SEEDS[kind])
    source = SOURCES
    if kind == "transformer":
        model = TransformerEncoderDecoder(SOURCE_VOCAB, TARGET_VOCAB, 6, MAX_LENGTH,
                                          embedding_dim=16, num_heads=2, intermediate_dim=32,
                                          num_layers=2, dropout=0.0)
    elif kind == "bahdanau":
        model = BahdanauEncoderDecoder(SOURCE_VOCAB, TARGET_VOCAB, embedding_dim=8, hidden_dim=16,
                                       dropout=0.0)
    elif kind == "bahdanau_bidirectional_deep":
        model = BahdanauEncoderDecoder(SOURCE_VOCAB, TARGET_VOCAB, embedding_dim=8, hidden_dim=16,
                                       dropout=0.0, bidirectional_encoder=True,
                                       deep_output_dim=12)
    elif kind == "rnn":
        model = RNNEncoderDecoder(SOURCE_VOCAB, TARGET_VOCAB, embedding_dim=8, hidden_dim=16,
                                  dropout=0.0)
    else:
        model = ImageCaptioner(TARGET_VOCAB, image_size=16, embedding_dim=8, hidden_dim=16,
                               rnn="gru" if kind == "captioner_gru_attention" else "lstm",
                               attention=kind == "captioner_gru_attention",
                               encoder_filters=(4, 8), dropout=0.0)
        source = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype("float32")
    model.build()
    _sharpen(model, 3.0)
    key = "caption_in" if isinstance(model, ImageCaptioner) else "target_in"
    other = "image" if isinstance(model, ImageCaptioner) else "source"

    def prefix_logits(rows, prefixes):  # the whole model on whole prefixes: no cache
        return ops.convert_to_numpy(model({other: source[rows], key: prefixes}))[:, -1]

    return model, source, prefix_logits


def _seq2seq_search(model, source, sampler):
    """The library's search as `Seq2SeqModel.generate`'s runner calls it (`generate_step`,
    here eager so the search's tensors can be read): (tokens, search)."""
    buffer = np.zeros((len(source), MAX_LENGTH), "int32")
    tokens = ops.convert_to_numpy(model.generate_step(source, buffer, sampler=sampler))
    return tokens, [ops.convert_to_numpy(x) for x in sampler.result]


@functools.cache
def _seq2seq_reference(kind, num_beams):
    """The reference search of `kind`'s model, for the way `Seq2SeqModel.generate` calls it."""
    _, source, prefix_logits = _seq2seq(kind)
    prompt = np.zeros((len(source), MAX_LENGTH), "int32")
    prompt[:, 0] = START
    mask = np.zeros_like(prompt, bool)
    mask[:, 0] = True
    return reference_beam_search(prefix_logits, prompt, 1, num_beams, length_penalty=0.6,
                                 mask=mask, stop_token_ids=(END,))


def _assert_well_posed(ref):
    assert ref["min_gap"] > MIN_GAP, f"ill-posed case: a near tie ({ref['min_gap']:.2e})"


def _assert_same(tokens, search, ref):
    _assert_well_posed(ref)
    beams, log_probs, scores = search
    np.testing.assert_array_equal(beams, ref["beams"])
    np.testing.assert_allclose(log_probs, ref["log_probs"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(scores, ref["scores"], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(tokens, ref["best"])


def _assert_differs(search, ref):
    """The comparison of `_assert_same` fails: other beams, or scores off by > tolerance."""
    _assert_well_posed(ref)  # the same well-posed case that the real search matches
    beams, log_probs, _ = search
    assert (beams != ref["beams"]).any() or not np.allclose(log_probs, ref["log_probs"],
                                                            rtol=RTOL, atol=ATOL)


SEQ2SEQ_KINDS = ["transformer", "bahdanau", "bahdanau_bidirectional_deep", "rnn",
                 "captioner_gru_attention", "captioner_lstm"]


@pytest.mark.parametrize("kind", SEQ2SEQ_KINDS)
def test_encoder_decoder_cached_beam_search_matches_whole_prefix_reference(kind):
    model, source, _ = _seq2seq(kind)
    for num_beams in (1, 2, 4):
        tokens, search = _seq2seq_search(model, source, RecordingBeamSearch(num_beams))
        _assert_same(tokens, search, _seq2seq_reference(kind, num_beams))
    # The case exercises the cache: beam 4 picks another answer than greedy (beam 1) for
    # some example, some beams end with [END] and others run to the buffer's end.
    best1, ref4 = _seq2seq_reference(kind, 1)["best"], _seq2seq_reference(kind, 4)
    assert (ref4["best"] != best1).any()
    ended = (ref4["beams"] == END).any(axis=2)
    assert ended.any() and not ended.all()


@pytest.mark.parametrize("kind", SEQ2SEQ_KINDS)
def test_encoder_decoder_comparison_fails_without_reordering(kind):
    model, source, _ = _seq2seq(kind)
    tokens, search = _seq2seq_search(model, source, NoReorderBeamSearch(4))
    _assert_differs(search, _seq2seq_reference(kind, 4))


@pytest.mark.parametrize("kind", ["transformer", "bahdanau_bidirectional_deep"])
def test_xla_compiled_beam_search_as_the_translator_runs_it(kind):
    # The translator task decodes with `network.generate(ids, L, sampler=get_sampler("beam",
    # ...), jit_compile=True)`: the compiled `GenerateRunner` around `generate_step`. The
    # models behind the two beam BLEU figures. The search's own tensors are read from an
    # XLA-compiled `generate_step` (the runner's call), the tokens from `generate` itself.
    model, source, _ = _seq2seq(kind)
    reference = _seq2seq_reference(kind, 4)
    sampler = RecordingBeamSearch(num_beams=4)

    def generate_step(ids):
        tokens = model.generate_step(ids, tf.zeros((len(source), MAX_LENGTH), tf.int32),
                                     sampler=sampler)
        return tokens, sampler.result  # the search's tensors of this same trace

    run = tf.function(generate_step, jit_compile=True, autograph=False)
    tokens, search = run(tf.constant(source))
    _assert_same(tokens.numpy(), [x.numpy() for x in search], reference)
    generated = model.generate(source, MAX_LENGTH, sampler=BeamSearchSampler(num_beams=4),
                               jit_compile=True)
    assert generated.dtype == np.int32
    np.testing.assert_array_equal(generated, reference["best"])


# ---- GPT: prompts of different lengths in one batch, given tokens copied into every beam ---

PROMPTS = np.array([[5, 6, 7, 0, 0], [4, 0, 0, 0, 0], [8, 9, 10, 11, 12]], "int32")
NEW_TOKENS = 6


@functools.cache
def _gpt():
    keras.utils.set_random_seed(3)
    # Separate output projection (`--no-tie-weights`) so the pad id can get a bias; the
    # cache code is the same as with tied weights.
    model = GPTLanguageModel(TARGET_VOCAB, max_length=16, num_layers=2, num_heads=2,
                             embedding_dim=16, dropout=0.0, tie_weights=False)
    model.build()
    _sharpen(model, 3.0)
    return model


def _gpt_buffer():
    """The runner's buffer (prompts, then empty slots), its first index and mask."""
    buffer = np.concatenate([PROMPTS, np.zeros((len(PROMPTS), NEW_TOKENS), "int32")], 1)
    index = int((PROMPTS != 0).sum(1).min())  # generation starts after the shortest prompt
    return buffer, index, buffer != 0


@functools.cache
def _gpt_reference(num_beams):
    model = _gpt()

    def prefix_logits(rows, prefixes):  # the whole model on whole prefixes: no cache
        return ops.convert_to_numpy(model(prefixes))[:, -1]

    buffer, index, given = _gpt_buffer()
    return reference_beam_search(prefix_logits, buffer, index, num_beams, mask=given)


def _gpt_search(sampler):
    """As `GPTLanguageModel.generate`'s runner (`generate_step`: `build_cache` prefills the
    prompt block, one loop decodes the rest), eager so the search's tensors can be read."""
    model = _gpt()
    buffer, _, _ = _gpt_buffer()
    tokens = model.generate_step(PROMPTS, np.zeros_like(buffer), sampler=sampler)
    return ops.convert_to_numpy(tokens), [ops.convert_to_numpy(x) for x in sampler.result]


def test_gpt_cached_beam_search_matches_whole_prefix_reference():
    for num_beams in (1, 2, 4):
        tokens, search = _gpt_search(RecordingBeamSearch(num_beams))
        _assert_same(tokens, search, _gpt_reference(num_beams))
    ref4 = _gpt_reference(4)
    assert (ref4["best"] != _gpt_reference(1)["best"]).any()
    # Every row keeps its prompt; the k beams of a row are k different continuations.
    given = ref4["beams"][:, :, :PROMPTS.shape[1]].transpose(0, 2, 1)[PROMPTS != 0]  # (n, 4)
    np.testing.assert_array_equal(given, np.repeat(PROMPTS[PROMPTS != 0][:, None], 4, 1))
    for row in ref4["beams"]:
        assert len({tuple(beam) for beam in row}) == 4


def test_gpt_generate_runs_the_same_search_compiled():
    # `generate`: the prompts laid out (and bucketed) by the model, the compiled runner.
    tokens = _gpt().generate(PROMPTS, PROMPTS.shape[1] + NEW_TOKENS,
                             sampler=BeamSearchSampler(num_beams=4), jit_compile=False)
    np.testing.assert_array_equal(tokens, _gpt_reference(4)["best"])


def test_gpt_comparison_fails_without_reordering():
    tokens, search = _gpt_search(NoReorderBeamSearch(4))
    _assert_differs(search, _gpt_reference(4))
