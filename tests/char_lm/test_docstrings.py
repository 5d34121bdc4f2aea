"""The char-LM public classes document Args/Returns/Example, and their runnable examples pass."""

import doctest
import importlib
import inspect

import pytest

CLASSES = [
    ("keras_seq.models.char_language_model", "CharLanguageModel"),
    ("keras_seq.data.char_tokenizer", "CharTokenizer"),
    ("keras_seq.callbacks.perplexity_logger", "PerplexityLogger"),
    ("keras_seq.callbacks.reset_rnn_states", "ResetRNNStates"),
    ("keras_seq.callbacks.gradient_flow", "GradientFlowTensorBoard"),
    ("keras_seq.callbacks.generated_text_samples", "GeneratedTextSamples"),
    ("keras_seq.export.char_lm_module", "CharLMServingModule"),
]


@pytest.mark.parametrize("module_name, name", CLASSES, ids=[c[1] for c in CLASSES])
def test_docstring_sections_and_examples(module_name, name):
    module = importlib.import_module(module_name)
    cls = getattr(module, name)
    doc = inspect.getdoc(cls)
    for section in ("Args:", "Call arguments:", "Returns:", "Example:"):
        assert section in doc, f"{name} docstring lacks {section}"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(cls, module=module, globs=vars(module)):
        runner.run(test)
    assert runner.failures == 0, f"{name} example failed (see output above)"
    public = [n for n, obj in vars(module).items()
              if inspect.isclass(obj) and obj.__module__ == module_name and not n.startswith("_")]
    assert public == [name], f"one public class per file, got {public}"
