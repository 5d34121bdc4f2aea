"""Every public layer documents its formula and API, and its `Example:` runs."""

import importlib
import inspect

import pytest

from tests.docstring_checks import assert_examples_run, assert_sections

import keras_seq.layers as L

PUBLIC = [
    getattr(L, name)
    for name in dir(L)
    if inspect.isclass(getattr(L, name)) and getattr(L, name).__module__.startswith("keras_seq")
]


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_docstring_sections(cls):
    assert_sections(cls)


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_docstring_example_runs(cls):
    assert_examples_run(cls, importlib.import_module(cls.__module__))


def test_one_public_class_per_file():
    modules = [c.__module__ for c in PUBLIC]
    assert len(modules) == len(set(modules)), modules
