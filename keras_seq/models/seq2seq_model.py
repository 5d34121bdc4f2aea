"""The shared shape of every encoder-decoder: teacher-forced `call`, cached `generate`."""

import keras
import numpy as np
from keras import ops

from keras_seq.generation import GenerativeModel, decode

START_ID, END_ID = 2, 3  # keras_seq.data.sequence_tokenizer ids


class Seq2SeqModel(GenerativeModel, keras.Model):
    """Base class of the encoder-decoders (unaligned Seq2Seq: p(y_{1:T'} | x_{1:T})).

    Subclasses implement
      - `call({"source": (B, S), "target_in": (B, T)})` → logits `(B, T, V)` (teacher
        forcing: `target_in` is `[START] y_1 .. y_{T-1}`);
      - `build_cache(inputs, max_length)` → a tuple of batch-first tensors (the encoder's
        outputs and source mask, plus the decoder's initial state or empty K/V cache);
      - `call_with_cache(token_ids (B, L), cache, cache_update_index)` →
        `(logits (B, V), hidden, cache)`: one decoder step reading
        `token_ids[:, cache_update_index - 1]`;
      - `attention_weights(source, target_in)` → `(B, [heads,] T, S)` or None.

    `generate` (the contract of `keras_seq.generation`) runs `generate_step` (the whole
    decode as one `ops.while_loop`: greedy, beam or sampling) in a compiled
    `GenerateRunner`.
    """

    source_dtype = "int32"  # the captioner's inputs are float32 images

    def prepare_source(self, source):
        """The inputs as `build_cache` reads them (token ids: int32)."""
        return ops.convert_to_tensor(source, self.source_dtype)

    def _generate_layout(self, inputs, max_length, sampler):
        if max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2 ([START] and one token), got "
                             f"max_length={max_length!r}.")
        limit = getattr(self, "max_target_length", None)
        if limit is not None and max_length > limit:
            raise ValueError(f"`max_length` must be <= {limit} (the model's "
                             f"max_target_length), got max_length={max_length}.")
        inputs = np.asarray(inputs).astype(self.source_dtype)
        rank = 2 if self.source_dtype == "int32" else 4
        if inputs.ndim != rank or len(inputs) == 0:
            raise ValueError(f"`inputs` must be a non-empty batch of rank {rank}, got shape "
                             f"{inputs.shape}.")
        token_ids = np.zeros((len(inputs), max_length), "int32")
        return inputs, token_ids, lambda out: out

    def generate(self, inputs, max_length, sampler="greedy", jit_compile=None, *,
                 start_id=START_ID, end_id=END_ID):
        """Decodes target ids for `inputs` in one compiled loop.

        Args:
            inputs: int `(B, S)` source ids (0 = padding), or images for a captioner.
            max_length: int, length of the returned buffer ([START] included).
            sampler: a name ("greedy", "beam", "random", "top_k", "top_p") or a
                `keras_hub.samplers.Sampler` (`keras_seq.generation.get_sampler`).
            jit_compile: XLA for the loop (default `runtime.default_jit_compile("inference")`).
            start_id, end_id: ids of [START] and [END]; `end_id=None` never stops early
                (fills the whole buffer, e.g. for timing).

        Returns:
            numpy int32 `(B, max_length)`: [START], the generated ids, [END], then zeros.
        """
        return self._run_generate(inputs, max_length, sampler, jit_compile,
                                  start_id=start_id, end_id=end_id)

    def generate_step(self, inputs, token_ids, sampler="greedy", start_id=START_ID,
                      end_id=END_ID, hoist_kernels=True):
        """The traceable decode: `build_cache(inputs)`, then one `ops.while_loop`.

        Args:
            inputs: source ids `(B, S)` (or images for a captioner).
            token_ids: int `(B, L)` buffer (zeros); column 0 becomes [START].
            sampler: a name or a `keras_hub.samplers.Sampler`.
            start_id, end_id: as in `generate`.
            hoist_kernels: reshape the attention kernels once before the loop (`decode`);
                False times the cache alone (`benchmarks/bench_decoding.py`).

        Returns:
            int32 `(B, L)`: [START], the generated ids, [END], then zeros.
        """
        inputs = self.prepare_source(inputs)
        token_ids = ops.cast(token_ids, "int32")
        batch = ops.shape(token_ids)[0]
        length = token_ids.shape[1] if token_ids.shape[1] is not None else \
            ops.shape(token_ids)[1]
        first = ops.full((batch, 1), start_id, dtype="int32")
        token_ids = ops.concatenate([first, token_ids[:, 1:]], axis=1)
        mask = ops.concatenate(
            [ops.ones((batch, 1), "bool"), ops.zeros_like(token_ids[:, 1:], "bool")], axis=1)
        cache = self.build_cache(inputs, length)
        stop = None if end_id is None else (end_id,)
        return decode(self.call_with_cache, token_ids, cache=cache, index=1, mask=mask,
                      sampler=sampler, stop_token_ids=stop, model=self,
                      hoist_kernels=hoist_kernels)

    @staticmethod
    def previous_token(token_ids, cache_update_index):
        """`token_ids[:, cache_update_index - 1]` as `(B, 1)` ids (the token a step reads)."""
        token_ids = ops.cast(token_ids, "int32")
        position = ops.cast(cache_update_index, "int32") - 1
        return ops.slice(token_ids, [0, position], [ops.shape(token_ids)[0], 1])
