"""The BERT-MLM public classes and functions document their API (examples: test_docstrings)."""

import importlib
import inspect

import pytest

from tests.docstring_checks import assert_sections

CLASSES = [
    ("keras_seq.models.masked_language_model", "MaskedLanguageModel"),
    ("keras_seq.export.bert_mlm_module", "BertMLMServingModule"),
    ("keras_seq.callbacks.fill_mask_samples", "FillMaskSamples"),
]


@pytest.mark.parametrize("module_name, name", CLASSES, ids=[c[1] for c in CLASSES])
def test_class_docstring_sections_and_one_public_class(module_name, name):
    module = importlib.import_module(module_name)
    assert_sections(getattr(module, name))
    public = [n for n, obj in vars(module).items()
              if inspect.isclass(obj) and obj.__module__ == module_name and not n.startswith("_")]
    assert public == [name]


def test_pipeline_functions_document_their_api():
    module = importlib.import_module("keras_seq.data.masked_lm_pipeline")
    for fn in (module.split_sentences, module.mask_tokens, module.masked_lm_dataset,
               module.mask_batches):
        assert_sections(fn, ("Args:", "Returns:", "Example:"))


def test_task_classes_document_their_api():
    module = importlib.import_module("keras_seq.tasks.bert_mlm")
    for cls in (module.BertMLM, module.BertMLMPreprocessor):
        assert_sections(cls, ("Args:", "Example:"))
