"""keras_seq.generation: decoding loops over the `next(prompt, cache, index)` contract."""

from keras_seq.generation.decode import decode, pad_after_first_stop
from keras_seq.generation.samplers import SAMPLERS, get_sampler
from keras_seq.generation.beam_search_sampler import BeamSearchSampler
from keras_seq.generation.generate_runner import GenerateRunner
