"""The examples in the tasks' docstrings run (preprocessors, tasks, the Task base)."""

import importlib

import pytest

from tests.docstring_checks import assert_examples_run


@pytest.mark.parametrize("module_name", ["keras_seq.tasks.imdb",
                                         "keras_seq.tasks.translator"])
def test_task_module_examples_run(module_name):
    assert_examples_run(importlib.import_module(module_name), min_tests=2)
