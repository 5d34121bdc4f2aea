import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# `pytest -n N` on a machine with at most N cores (CI: -n 2 on 2 cores): one TensorFlow
# intra-op thread per worker (its subprocesses inherit it), not N workers each spinning a
# pool as wide as the machine against the others.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= (os.cpu_count() or 1) > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy_and_seed():
    """Every test starts from float32 and a fixed seed, whatever the previous one did."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


# The 20 longest test files (their tests' seconds summed, `--durations=0` of one CI run,
# 2026-12-04), longest first.
# `pytest -n 2 --dist loadfile` hands whole files to the two workers in collection order, so
# running these first keeps a long file from starting last while the other worker sits idle
# (longest-first scheduling). Files not named keep their order, after these.
# test_docstrings.py runs every module's examples since 2026-12-04 (night): 79 s alone on
# shared cores, placed by that figure until the next --durations run.
LONGEST_FIRST = (
    "captioner/test_captioner_app.py", "distribution/test_same_loss.py", "test_architecture.py",
    "bert_mlm/test_app.py", "translator/test_translator_task.py", "imdb/test_imdb_app.py",
    "translator/test_seq2seq_models.py", "test_docstrings.py",
    "captioner/test_captioner_task.py",
    "bert_mlm/test_bert_mlm_task.py", "captioner/test_image_captioner.py",
    "training/test_adversarial_embedding_trainer.py", "translator/test_translator_app.py",
    "gpt_lm/test_app_export.py", "generation/test_beam_cache_consistency.py",
    "char_lm/test_char_lm_task.py", "layers/test_bidirectional_mean_pooled_rnn.py",
    "elmo_lm/test_elmo_lm_task.py", "tagger/test_tagger_task.py",
    "layers/test_transformer_blocks.py", "elmo_lm/test_app.py",
)


def pytest_collection_modifyitems(session, config, items):
    tests = pathlib.Path(__file__).resolve().parent
    rank = {str(tests / name): i for i, name in enumerate(LONGEST_FIRST)}
    # A stable sort: the tests of a file keep their order, and so do the other files.
    items.sort(key=lambda item: rank.get(str(item.path), len(rank)))
