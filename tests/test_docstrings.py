"""The docstrings of the whole package: every `Example:` in every module runs, every public
class says how it is used, and every public layer documents its formula and API."""

import importlib
import inspect
import pkgutil

import pytest

import keras_seq
import keras_seq.layers as L
from tests.docstring_checks import assert_examples_run, assert_sections

MODULES = sorted(info.name for info in pkgutil.walk_packages(keras_seq.__path__, "keras_seq.")
                 if not info.name.startswith("keras_seq.applications"))
# Public classes that are not used directly, so have no example of their own: bases whose
# subclasses show them, protocols, errors, and small records.
NO_EXAMPLE = {
    "keras_seq.tasks.task.Task", "keras_seq.models.seq2seq_model.Seq2SeqModel",
    "keras_seq.layers.transformer_block_base.TransformerBlockBase",
    "keras_seq.generation.generate_runner.GenerativeModel",
    "keras_seq.generation.generate_runner.GenerativeLanguageModel",
    "keras_seq.data.tokenizer.Tokenizer", "keras_seq.lifecycle.AppConfig",
    "keras_seq.lifecycle.TextCorpusConfig", "keras_seq.lifecycle.Application",
    "keras_seq.compat.KerasCompatError", "keras_seq.compat.KerasCompatWarning",
    "keras_seq.compat.Target", "keras_seq.distribution.training_cluster.WorkerLostError",
    "keras_seq.data.imdb.TextSplit", "keras_seq.data.shape_scenes.SceneObject",
    "keras_seq.data.timeseries.SeriesScaler",
}
LAYERS = [getattr(L, name) for name in dir(L)
          if inspect.isclass(getattr(L, name))
          and getattr(L, name).__module__.startswith("keras_seq")]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_example_in_the_module_runs(module_name):
    assert_examples_run(importlib.import_module(module_name), min_tests=0)


def test_every_public_class_has_an_example_or_is_listed_as_not_used_directly():
    missing = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and obj.__module__ == module_name
                    and not name.startswith("_")):
                qualified = f"{module_name}.{name}"
                has_example = "Example:" in (inspect.getdoc(obj) or "")
                if has_example == (qualified in NO_EXAMPLE):
                    missing.append(qualified)
    assert not missing, f"without an Example: (or listed in NO_EXAMPLE but has one): {missing}"


def test_the_walk_finds_the_package():
    assert len(MODULES) > 100 and "keras_seq.tasks.translator" in MODULES


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_docstring_sections(cls):
    assert_sections(cls)


def test_one_public_layer_per_file():
    modules = [c.__module__ for c in LAYERS]
    assert len(modules) == len(set(modules)), modules
