"""The generated numbers-and-dates task, users' JSONL and the tf.data pipeline."""

import json

import numpy as np
import pytest

from keras_seq.data import span_tagging as st


def test_tags_align_with_spans():
    examples = st.generate_examples(300, seed=3)
    names = st.tag_names()
    kinds = set()
    for ex in examples:
        text, tags = ex["text"], st.spans_to_tags(ex["text"], ex["spans"])
        assert len(tags) == len(text) <= 96
        assert ex["spans"], text  # every sentence has at least one number or date
        covered = np.zeros(len(text), bool)
        for start, end, kind in ex["spans"]:
            kinds.add(kind)
            assert names[tags[start]] == f"B-{kind}"
            assert all(names[t] == f"I-{kind}" for t in tags[start + 1:end])
            assert text[start].isdigit() or text[start] in "-JFMASOND"
            assert text[end - 1].isalnum()
            covered[start:end] = True
        assert (tags[~covered] == 0).all()
    assert kinds == {"NUM", "DATE"}


def test_the_task_needs_right_context():
    examples = st.generate_examples(2000, seed=0)
    # The same left context "on 12" starts a NUM in one sentence and a DATE in another.
    first = {}
    for ex in examples:
        for start, end, kind in ex["spans"]:
            first.setdefault(ex["text"][start:start + 2], set()).add(kind)
    ambiguous = [k for k, v in first.items() if v == {"NUM", "DATE"}]
    assert len(ambiguous) > 20, ambiguous
    texts = [ex["text"][a:b] for ex in examples for a, b, k in ex["spans"]]
    for pattern in ("-", "/", ",", " "):
        assert any(pattern in t for t in texts)


def test_determinism_and_disjoint_splits():
    a = st.generated_splits(200, 50, 50, seed=7)
    b = st.generated_splits(200, 50, 50, seed=7)
    c = st.generated_splits(200, 50, 50, seed=8)
    assert a == b
    assert a["train"] != c["train"]
    train = {ex["text"] for ex in a["train"]}
    assert not train & {ex["text"] for ex in a["validation"] + a["test"]}
    assert [ex["text"] for ex in a["validation"]] != [ex["text"] for ex in a["test"]]
    assert [len(a[k]) for k in st.SPLIT_NAMES] == [200, 50, 50]


def test_char_ids_numpy_and_tensorflow_agree():
    import tensorflow as tf

    texts = ["Paid 12 on 12 March 1998.", "café ~", ""]
    ragged = st.char_ids_tf(tf.constant(texts)).to_list()
    assert ragged == [st.encode_chars(t).tolist() for t in texts]
    assert ragged[1][3] == st.UNKNOWN_ID and max(ragged[0]) < st.VOCABULARY_SIZE
    assert min(ragged[0]) >= 2


def test_jsonl_round_trip_and_custom_types(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"text": "Alice met Bob", "spans": [[0, 5, "PER"],
                                                                   {"start": 10, "end": 13,
                                                                    "type": "PER"}]}) + "\n\n"
                    + json.dumps({"text": "in Paris", "spans": [[3, 8, "LOC"]]}) + "\n")
    examples, types = st.read_jsonl(path)
    assert types == ["LOC", "PER"]
    assert examples[0]["spans"] == [[0, 5, "PER"], [10, 13, "PER"]]
    names = st.tag_names(types)
    assert names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert st.spans_to_tags(examples[1]["text"], examples[1]["spans"], types).tolist() == \
        [0, 0, 0, 1, 2, 2, 2, 2]
    out = st.write_jsonl(examples, tmp_path / "copy.jsonl")
    assert st.read_jsonl(out)[0] == examples


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ('{"spans": []}', "non-empty \\\"text\\\""),
    ('{"text": "abc", "spans": [[0, 9, "X"]]}', "0 <= start < end <= 3"),
    ('{"text": "abcdef", "spans": [[0, 3, "X"], [2, 4, "X"]]}', "overlap"),
    ('{"text": "abc", "spans": [[0, "1", "X"]]}', "start, end"),
])
def test_bad_jsonl_names_the_argument_and_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "spans": []}\n' + line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        st.read_jsonl(path)
    assert "--data-file" in str(info.value) and "line 2" in str(info.value)
    with pytest.raises(ValueError, match="not found"):
        st.read_jsonl(tmp_path / "missing.jsonl")


def test_dataset_pads_with_zero_and_weights_only_real_characters():
    examples = st.generate_examples(70, seed=1)
    ids, tags = st.encode_examples(examples)
    ds = st.tagging_dataset(ids, tags, batch_size=16, shuffle=True, seed=0)
    seen, batches = 0, 0
    for x, y, w in ds:
        x, y, w = x.numpy(), y.numpy(), w.numpy()
        assert x.shape == y.shape == w.shape
        assert ((x != 0) == (w == 1)).all() and ((w == 0) | (w == 1)).all()
        assert (y[x == 0] == 0).all()
        lengths = (x != 0).sum(1)
        assert lengths.max() == x.shape[1]  # padded to the longest text of the batch
        seen += len(x)
        batches += 1
    assert seen == 70 and batches == int(ds.cardinality())
    first = [x.numpy().tolist() for x, _, _ in st.tagging_dataset(ids, tags, 16, True, seed=0)]
    again = [x.numpy().tolist() for x, _, _ in st.tagging_dataset(ids, tags, 16, True, seed=0)]
    assert first == again
