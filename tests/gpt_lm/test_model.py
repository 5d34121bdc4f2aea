"""GPTLanguageModel: cache == one-shot, causality, padding, tied weights, generation, errors."""

import numpy as np
import pytest

import keras

from keras_seq.generation import get_sampler
from keras_seq.models.gpt_language_model import GPTLanguageModel
from tests.layer_harness import assert_causal, assert_padding_invariant

VOCAB = 23


def tiny(**kwargs):
    config = dict(vocabulary_size=VOCAB, max_length=40, num_layers=2, num_heads=2,
                  embedding_dim=16, intermediate_dim=32, dropout=0.0)
    config.update(kwargs)
    model = GPTLanguageModel(**config)
    model(np.ones((1, 4), "int32"))
    return model


def ids(batch=2, length=12, seed=0):
    return np.random.default_rng(seed).integers(1, VOCAB, (batch, length)).astype("int32")


@pytest.mark.parametrize("options", [
    {}, {"tie_weights": False}, {"norm_first": False}, {"position": "sinusoidal"}])
def test_cached_decoding_equals_the_full_forward(options):
    model = tiny(**options)
    x = ids()
    full = np.asarray(model(x))
    # build_cache prefills the first 5 ids in one call; then one id per step through the
    # KV cache, the first step reading id 4 again (it rewrites the same slot).
    cache = model.build_cache(x[:, :5], 16)
    assert tuple(cache.shape) == (2, 2, 2, 16, 2, 8)  # (B, N, 2, L, heads, head_dim)
    for t in range(4, 12):
        step_logits, hidden, cache = model.call_with_cache(x, cache, t + 1)
        assert tuple(hidden.shape) == (2, 16)
        np.testing.assert_allclose(np.asarray(step_logits), full[:, t], atol=1e-5)


def test_token_by_token_from_a_one_id_prompt_equals_the_full_forward():
    model = tiny()
    x = ids(batch=3, length=8, seed=1)
    full = np.asarray(model(x))
    cache = model.build_cache(x[:, :1], 8)
    for t in range(8):
        step_logits, _, cache = model.call_with_cache(x, cache, t + 1)
        np.testing.assert_allclose(np.asarray(step_logits), full[:, t], atol=1e-5)


def test_causal_and_padding_invariant():
    model = tiny()
    x = ids(batch=2, length=7, seed=2)
    assert_causal(lambda v: model(v), x)
    mask = np.ones_like(x, bool)
    mask[1, 5:] = False
    x[1, 5:] = 0
    assert_padding_invariant(lambda v, m: model(v, padding_mask=m), x, mask, extra=4)


def test_tied_weights_are_the_token_embedding():
    tied, untied = tiny(), tiny(tie_weights=False)
    assert tied.output_projection is None
    names = [w.path for w in tied.weights]
    assert not any("output_projection" in n for n in names)
    assert untied.count_params() - tied.count_params() == 16 * VOCAB + VOCAB
    # Logits really are LayerNorm(h) E^T: moving row 5 of E (id 5 absent from the input)
    # moves the logit of id 5 and no other.
    x = np.array([[3, 4, 6, 7, 8, 9]], "int32")
    before = np.asarray(tied(x))
    emb = tied.token_embeddings
    values = np.asarray(emb.value).copy()
    values[5] += np.random.default_rng(0).normal(size=16).astype("float32")
    emb.assign(values)
    after = np.asarray(tied(x))
    assert np.abs(after[..., 5] - before[..., 5]).max() > 1e-2
    others = [i for i in range(VOCAB) if i != 5]
    np.testing.assert_allclose(after[..., others], before[..., others], atol=1e-6)


def test_logits_are_float32_under_mixed_precision():
    model = tiny(dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(model(ids()).dtype) == "float32"
    untied = tiny(dtype="mixed_bfloat16", tie_weights=False)
    assert keras.backend.standardize_dtype(untied(ids()).dtype) == "float32"


def test_config_and_keras_file_round_trip(tmp_path):
    model = tiny(tie_weights=False, position="sinusoidal", norm_first=False)
    clone = GPTLanguageModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    path = tmp_path / "gpt.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(ids())), np.asarray(model(ids())), atol=1e-6)


def greedy_by_full_forward(model, row, n):
    seq = list(row)
    for _ in range(n):
        seq.append(int(np.argmax(np.asarray(model(np.array([seq], "int32")))[0, -1])))
    return seq[len(row):]


def test_generate_greedy_equals_argmax_of_the_full_forward_with_mixed_lengths():
    model = tiny()
    prompts = np.array([[3, 4, 5, 6, 7, 8], [0, 0, 0, 9, 10, 11], [12, 13, 0, 0, 0, 0]])
    out = model.generate(prompts, 13, jit_compile=False)
    assert out.shape == (3, 13) and out.dtype == np.int32  # max_length: the whole buffer
    for row, got in zip(prompts, out):
        prompt = row[row != 0].tolist()  # each row's ids, moved to the left
        assert got[:len(prompt)].tolist() == prompt
        assert got[len(prompt):].tolist() == greedy_by_full_forward(model, prompt,
                                                                    13 - len(prompt))


def test_generate_compiles_once_per_bucket_with_xla():
    model = tiny()
    first = model.generate(np.array([[3, 4, 5]]), 9)
    model.generate(np.array([[7, 8]]), 9)  # same buckets: no new trace
    model.generate(np.array([[7, 8]]), 30)  # a longer buffer in the same bucket (40)
    assert model.generate_traces == 1
    assert next(iter(model._generate_runners().values())).jit_compile is True
    assert first[0, 3:].tolist() == greedy_by_full_forward(model, [3, 4, 5], 6)


@pytest.mark.parametrize("sampler,options", [
    ("random", {}), ("top_k", {"k": 3}), ("top_p", {"p": 0.8})])
def test_sampling_samplers_are_seeded_and_keep_prompts(sampler, options):
    model = tiny()
    prompts = np.array([[3, 4, 5], [6, 0, 0]])
    a = model.generate(prompts, 13, jit_compile=False,
                       sampler=get_sampler(sampler, temperature=1.5, seed=7, **options))
    b = model.generate(prompts, 13, jit_compile=False,
                       sampler=get_sampler(sampler, temperature=1.5, seed=7, **options))
    np.testing.assert_array_equal(a, b)
    assert a[0, :3].tolist() == [3, 4, 5] and a[1, 0] == 6
    assert a.min() >= 0 and a.max() < VOCAB
    if sampler == "top_k":  # every sampled id is among the 3 most likely at its step
        row = [6]
        for tok in a[1, 1:]:
            logits = np.asarray(model(np.array([row])))[0, -1]
            assert tok in np.argsort(logits)[-3:]
            row.append(int(tok))


@pytest.mark.parametrize("sampler,match", [
    ({"k": 0}, "`k`"),
    ({"k": VOCAB + 1}, "`k`"),
    ({"p": 1.5}, "`p`"),
    ({"temperature": 0.0}, "temperature"),
    ({"name": "nucleus"}, "sampler"),
])
def test_generate_rejects_bad_samplers(sampler, match):
    model = tiny()
    name = sampler.pop("name", "top_p" if "p" in sampler else "top_k" if "k" in sampler
                       else "random")
    with pytest.raises(ValueError, match=match):
        model.generate(np.array([[3, 4]]), 8, sampler=get_sampler(name, **sampler))


@pytest.mark.parametrize("max_length", [2, 41, 8.0])
def test_generate_rejects_bad_lengths(max_length):
    with pytest.raises(ValueError, match="max_length"):
        tiny().generate(np.array([[3, 4]]), max_length)


def test_bad_prompts_and_constructor_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="non-padding"):
        model.generate(np.array([[3, 4], [0, 0]]), 5)
    with pytest.raises(ValueError, match="inputs"):
        model.generate(np.array([3, 4]), 5)
    with pytest.raises(ValueError, match="inputs"):
        model.generate(np.array([[3, VOCAB]]), 5)
    with pytest.raises(ValueError, match="max_length"):
        model(np.ones((1, 41), "int32"))
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        GPTLanguageModel(VOCAB, embedding_dim=10, num_heads=4)
    with pytest.raises(ValueError, match="position"):
        GPTLanguageModel(VOCAB, position="rotary")
    with pytest.raises(ValueError, match="vocabulary_size"):
        GPTLanguageModel(1)
    with pytest.raises(ValueError, match="dropout"):
        GPTLanguageModel(VOCAB, dropout=1.0)
