"""The shared shape of every encoder-decoder: teacher-forced `call`, cached `generate`."""

import keras
from keras import ops

from keras_seq.generation import decode

START_ID, END_ID = 2, 3  # keras_seq.data.sequence_tokenizer ids


class Seq2SeqModel(keras.Model):
    """Base class of the encoder-decoders (unaligned Seq2Seq: p(y_{1:T'} | x_{1:T})).

    Subclasses implement
      - `call({"source": (B, S), "target_in": (B, T)})` → logits `(B, T, V)` (teacher
        forcing: `target_in` is `[START] y_1 .. y_{T-1}`);
      - `build_cache(source, max_length)` → a tuple of batch-first tensors (the encoder's
        outputs and source mask, plus the decoder's state or K/V cache);
      - `call_with_cache(token_ids (B, 1), cache, cache_update_index)` →
        `(logits (B, V), hidden, cache)`: one decoder step;
      - `attention_weights(source, target_in)` → `(B, [heads,] T, S)` or None.

    `generate` runs the whole decode as one `ops.while_loop` (via
    `keras_seq.generation.decode`), greedy, beam or sampling.
    """

    def prepare_source(self, source):
        """The source as `generate` feeds it to `build_cache` (token ids: int32)."""
        return ops.convert_to_tensor(source, "int32")

    def generate(self, source, max_length, sampler="greedy", start_id=START_ID, end_id=END_ID):
        """Decodes target ids for `source`.

        Args:
            source: int `(B, S)` source ids (0 = padding), or whatever the subclass's
                `prepare_source` accepts (e.g. images for a captioner).
            max_length: int, size of the output buffer (including [START]).
            sampler: a `keras_seq.generation.get_sampler` name or sampler instance.
            start_id, end_id: ids of [START] and [END]; `end_id=None` never stops early
                (fills the whole buffer, e.g. for timing).

        Returns:
            int32 `(B, max_length)`: [START], the generated ids, [END], then zeros.
        """
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2, got max_length={max_length!r}.")
        source = self.prepare_source(source)
        batch = ops.shape(source)[0]
        cache = self.build_cache(source, max_length)
        first = ops.full((batch, 1), start_id, dtype="int32")
        tokens = ops.concatenate([first, ops.zeros((batch, max_length - 1), "int32")], axis=1)
        mask = ops.concatenate(
            [ops.ones((batch, 1), "bool"), ops.zeros((batch, max_length - 1), "bool")], axis=1
        )

        def next_fn(tokens, cache, index):
            # The batch here may be B * num_beams (beam search), not B.
            previous = ops.slice(tokens, [0, index - 1], [ops.shape(tokens)[0], 1])  # (B, 1)
            return self.call_with_cache(previous, cache, index - 1)

        stop = None if end_id is None else (end_id,)
        return decode(next_fn, tokens, cache=cache, index=1, mask=mask, sampler=sampler,
                      stop_token_ids=stop, model=self)
