"""The BERT-MLM public classes and functions document their API, and their examples run."""

import doctest
import importlib
import inspect

import pytest

CLASSES = [
    ("keras_seq.models.masked_language_model", "MaskedLanguageModel"),
    ("keras_seq.export.masked_lm_module", "MaskedLMServingModule"),
    ("keras_seq.callbacks.fill_mask_samples", "FillMaskSamples"),
]


@pytest.mark.parametrize("module_name, name", CLASSES, ids=[c[1] for c in CLASSES])
def test_class_docstring_sections_and_one_public_class(module_name, name):
    module = importlib.import_module(module_name)
    doc = inspect.getdoc(getattr(module, name))
    for section in ("Args:", "Call arguments:", "Returns:", "Example:"):
        assert section in doc, f"{name} docstring lacks {section}"
    public = [n for n, obj in vars(module).items()
              if inspect.isclass(obj) and obj.__module__ == module_name and not n.startswith("_")]
    assert public == [name]


def test_pipeline_examples_run():
    module = importlib.import_module("keras_seq.data.masked_lm_pipeline")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert len(tests) >= 5
    for t in tests:
        runner.run(t)
    assert runner.failures == 0
    for fn in (module.split_sentences, module.mask_tokens, module.masked_lm_dataset):
        for section in ("Args:", "Returns:", "Example:"):
            assert section in inspect.getdoc(fn)
