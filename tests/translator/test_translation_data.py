import os
import pathlib
import zipfile

import pytest

from tests.shared_data import missing_data

from keras_seq.data.date_normalization import generate_date_pairs
from keras_seq.data.sequence_tokenizer import SequenceTokenizer
from keras_seq.data.translation_pairs import (
    extract_member, locate_pairs_file, read_pairs, sha256_of, split_pairs)
from keras_seq.metrics import corpus_bleu, exact_match

SHARED = pathlib.Path(os.environ.get(
    "KERAS_SEQ_DATA_DIR", pathlib.Path(__file__).resolve().parents[3] / "shared" / "datasets"))
FRA = SHARED / "translation" / "fra-eng" / "fra.txt"


def test_date_pairs_are_correct_distinct_and_seeded():
    import datetime

    pairs = generate_date_pairs(500, seed=7)
    assert pairs == generate_date_pairs(500, seed=7)
    assert len({s for s, _ in pairs}) == 500
    for source, target in pairs:
        date = datetime.date.fromisoformat(target)
        assert str(date.year) in source
        weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        named = [w for w in weekdays if source.startswith(w[:3])]
        if named:
            assert named[0] == weekdays[date.weekday()], (source, target)
    with pytest.raises(ValueError, match="num_pairs"):
        generate_date_pairs(0)


def test_tokenizer_round_trip_word_and_character():
    texts = ["Je suis l'homme.", "Qui\u202f?", "Va !"]
    tok = SequenceTokenizer.build_from_texts(texts)
    ids = tok.tokenize(texts, 8, add_start_end=True).numpy()
    assert (ids[:, 0] == 2).all() and ids.shape == (3, 8)
    assert [t.decode() for t in tok.detokenize(ids).numpy()] == ["je suis l'homme.", "qui?", "va!"]
    chars = SequenceTokenizer.build_from_texts(["1998-03-03"], split="character")
    ids = chars.tokenize(["1998-03-03", "2001-12-31"], 12, add_start_end=True)
    assert chars.detokenize(ids).numpy()[0] == b"1998-03-03"
    assert b"[UNK]" in chars.detokenize(ids).numpy()[1]  # '2' unseen is kept visible as unknown


def test_word_piece_tokenizer_spells_rare_words_and_round_trips():
    common = ["Je mange une pomme.", "Il mange des pommes !", "Nous mangeons l'orange.",
              "Tu manges une orange ?", "Elles mangent."] * 20
    tok = SequenceTokenizer.build_from_texts(common, max_tokens=50, split="word-piece")
    assert tok.vocabulary_size <= 50 and tok.tokens[:4] == ("", "[UNK]", "[START]", "[END]")
    assert any(t.startswith("##") for t in tok.tokens)  # continuation pieces were learnt
    words = SequenceTokenizer.build_from_texts(common, max_tokens=40)
    # "mangerons" is no word of the corpus: word mode makes it [UNK], word pieces spell it.
    texts = ["Nous mangerons des oranges\u202f!", "mange", ""]
    ids = tok.tokenize(texts, 24, add_start_end=True).numpy()
    assert 1 not in ids[0] and (ids[0] > 3).sum() > 5  # more pieces than its 5 words
    assert [t.decode() for t in tok.detokenize(ids).numpy()] == [
        "nous mangerons des oranges!", "mange", ""]
    assert b"[UNK]" in words.detokenize(words.tokenize(texts, 24, add_start_end=True)).numpy()[0]
    # Truncation keeps [END]; a character never seen is [UNK]; the config rebuilds it.
    short = tok.tokenize(["nous mangerons des oranges"], 5, add_start_end=True).numpy()[0]
    assert short[0] == 2 and short[-1] == 3
    assert 1 in tok.tokenize(["Ω"], 4).numpy()[0]
    again = SequenceTokenizer(**tok.get_config())
    assert (again.tokenize(texts, 24, add_start_end=True).numpy() == ids).all()
    with pytest.raises(ValueError, match="max_tokens"):
        SequenceTokenizer.build_from_texts(common, split="word-piece")


def test_tokenizer_truncates_but_keeps_end_and_handles_odd_input():
    tok = SequenceTokenizer.build_from_texts(["a b c d e f g"])
    ids = tok.tokenize(["a b c d e f g", "", "   ", "\xff\xfe bad utf8"], 5,
                       add_start_end=True).numpy()
    assert ids[0].tolist()[-1] == 3 and ids[0, 0] == 2
    assert ids[1].tolist() == [2, 3, 0, 0, 0]
    with pytest.raises(ValueError, match="sequence_length"):
        tok.tokenize(["a"], 2)
    with pytest.raises(ValueError, match="split"):
        SequenceTokenizer([], split="bpe")


def test_read_pairs_and_split_keep_test_sources_out_of_train(tmp_path):
    f = tmp_path / "fra.txt"
    lines = [f"sentence {i % 40}.\ttraduction {i}.\tCC-BY attribution" for i in range(200)]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_pairs(f)
    assert pairs[0] == ("sentence 0.", "traduction 0.")
    splits = split_pairs(pairs, test_size=30, validation_size=20, seed=1)
    assert len(splits["test"]) >= 30 and len(splits["validation"]) >= 20
    train_sources = {s for s, _ in splits["train"]}
    assert not train_sources & {s for s, _ in splits["test"]}
    assert sum(len(v) for v in splits.values()) == 200
    assert splits == split_pairs(pairs, 30, 20, seed=1)
    bad = tmp_path / "bad.txt"
    bad.write_text("no tab here\n")
    with pytest.raises(ValueError, match="english<TAB>"):
        read_pairs(bad)


def test_locate_with_data_dir_and_offline_message(tmp_path, monkeypatch):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text("Go.\tVa !\n", encoding="utf-8")
    assert locate_pairs_file("fra-eng", str(tmp_path)).name == "fra.txt"
    with pytest.raises(ValueError, match="holds no fra.txt"):
        locate_pairs_file("fra-eng", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_SEQ_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("KERAS_SEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    import keras_seq.data.translation_pairs as tp

    monkeypatch.setattr(tp, "_candidates", lambda name, d: iter([tmp_path / "missing.txt"]))
    with pytest.raises(ValueError, match="--data-dir"):
        locate_pairs_file("fra-eng", None, download=False)


def test_zip_extraction_checks_the_checksum(tmp_path):
    text = b"Go.\tVa !\n"
    archive = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fra-eng/fra.txt", text)
    good = extract_member(archive, "fra-eng/fra.txt", tmp_path / "ok.txt",
                          sha256=__import__("hashlib").sha256(text).hexdigest())
    assert good.read_bytes() == text and sha256_of(good)
    with pytest.raises(ValueError, match="Checksum mismatch"):
        extract_member(archive, "fra-eng/fra.txt", tmp_path / "bad.txt", sha256="0" * 64)
    assert not (tmp_path / "bad.txt").exists()


def test_real_fra_eng_file():
    if not FRA.is_file():
        missing_data(f"shared fra-eng data not found at {FRA}")
    pairs = read_pairs(FRA)
    assert len(pairs) == 167130 and pairs[0] == ("Go.", "Va !")
    splits = split_pairs(pairs, 5000, 2000, seed=0)
    assert not {s for s, _ in splits["train"]} & {s for s, _ in splits["test"]}


def test_bleu_and_exact_match():
    assert corpus_bleu(["le chat est noir ."], ["Le chat est noir ."]) == pytest.approx(100.0)
    assert corpus_bleu(["un deux"], ["trois quatre cinq six"]) == pytest.approx(0.0)
    assert exact_match(["Va !"], ["va\u00a0!"]) == 1.0
    with pytest.raises(ValueError):
        exact_match(["a"], [])
