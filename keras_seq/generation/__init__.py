"""keras_seq.generation: one generative contract, one decode loop, one compiled runner.

Every generative network (`GPTLanguageModel`, `CharLanguageModel`, the encoder-decoders
`RNNEncoderDecoder`, `BahdanauEncoderDecoder`, `TransformerEncoderDecoder`, and
`ImageCaptioner`) exposes the same four methods:

- `build_cache(inputs, max_length) -> cache`: `inputs` are what the network conditions on:
  the prompt ids `(B, P)` of a language model (right-padded with 0), the source ids
  `(B, S)` of an encoder-decoder, the images `(B, H, W, 3)` of the captioner. `max_length`
  is the length L of the token buffer the cache serves (a transformer preallocates L K/V
  slots). The cache is the one the decode loop starts from: for a language model it has
  read the prompt up to the shortest row's last id (the loop then reads that id again at
  `index` = the shortest prompt's length: a transformer rewrites the same K/V slot, an RNN
  reads it from the state before it); for an encoder-decoder it holds the encoder outputs
  and source mask and the decoder's initial state (the loop reads [START] at `index` = 1).
  A cache is a nest of batch-first tensors, so beam search can reorder its rows.
- `call_with_cache(token_ids, cache, cache_update_index) -> (logits, hidden, cache)`:
  `token_ids` is the whole `(B, L)` buffer; the network reads the token at
  `cache_update_index - 1` (keras-hub's `next(prompt, cache, index)` convention), updates
  the cache with it and returns the logits `(B, V)` of the token at `cache_update_index`,
  the last hidden state and the new cache. It is `next` itself: samplers call it directly.
- `generate_step(inputs, token_ids, sampler="greedy") -> (B, L)`: the traceable decode,
  `build_cache` then one `ops.while_loop` (`decode`) over the `(B, L)` buffer `token_ids`
  (zeros; the network writes the prompt or [START] into it). Export modules call it inside
  their `tf.function`.
- `generate(inputs, max_length, sampler="greedy", jit_compile=None) -> numpy int32
  (B, max_length)`: `max_length` is the total length of the returned buffer (keras-hub's
  meaning: the prompt, or [START], included). `sampler` is a name ("greedy", "beam",
  "random", "top_k", "top_p") or a `keras_hub.samplers.Sampler`;
  `get_sampler(name, temperature=..., k=..., p=..., num_beams=..., seed=...)` builds a
  configured one, and a seeded sampler gives the same ids again. A language model returns
  each row's prompt ids (moved to the left) followed by generated ids; an encoder-decoder
  returns [START], the generated ids, [END], then zeros (keyword-only `start_id`/`end_id`
  extras; `end_id=None` never stops early).

`generate` runs `generate_step` inside ONE compiled `GenerateRunner` (a `keras.Model`
whose `call` is `generate_step`, run through `predict_on_batch`: XLA by default for
inference), cached per network and per sampler configuration (`sampler_key`), with a trace
counter (`network.generate_traces`).
"""

from keras_seq.generation.decode import decode, pad_after_first_stop
from keras_seq.generation.samplers import SAMPLERS, get_sampler, sampler_key
from keras_seq.generation.beam_search_sampler import BeamSearchSampler
from keras_seq.generation.generate_runner import (
    GenerateRunner,
    GenerativeLanguageModel,
    GenerativeModel,
)
