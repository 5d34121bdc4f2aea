"""The char-LM public classes document Args/Returns/Example, and their runnable examples pass."""

import importlib
import inspect

import pytest

from tests.docstring_checks import assert_sections

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
    assert_sections(cls)
    public = [n for n, obj in vars(module).items()
              if inspect.isclass(obj) and obj.__module__ == module_name and not n.startswith("_")]
    assert public == [name], f"one public class per file, got {public}"
