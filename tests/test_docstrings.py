"""Every public layer documents its formula and API, and its `Example:` runs."""

import doctest
import importlib
import inspect

import pytest

import keras_seq.layers as L

PUBLIC = [
    getattr(L, name)
    for name in dir(L)
    if inspect.isclass(getattr(L, name)) and getattr(L, name).__module__.startswith("keras_seq")
]


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_docstring_sections(cls):
    doc = inspect.getdoc(cls)
    for section in ("Args:", "Call arguments:", "Returns:", "Example:"):
        assert section in doc, f"{cls.__name__} docstring lacks {section}"


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_docstring_example_runs(cls):
    module = importlib.import_module(cls.__module__)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(cls, module=module, globs=vars(module)) if t.examples]
    assert tests, f"{cls.__name__} has no runnable example"
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{cls.__name__} example failed (see output above)"


def test_one_public_class_per_file():
    modules = [c.__module__ for c in PUBLIC]
    assert len(modules) == len(set(modules)), modules
