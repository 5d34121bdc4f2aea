"""The masked-LM pipeline's functions document their API (classes: tests/test_docstrings.py)."""

import importlib

from tests.docstring_checks import assert_sections


def test_pipeline_functions_document_their_api():
    module = importlib.import_module("keras_seq.data.masked_lm_pipeline")
    for fn in (module.split_sentences, module.mask_tokens, module.masked_lm_dataset,
               module.mask_batches):
        assert_sections(fn, ("Args:", "Returns:", "Example:"))
