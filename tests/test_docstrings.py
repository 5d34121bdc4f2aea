"""The docstrings of the whole package: every `Example:` in every module runs, every public
class says how it is used, and the sections a class documents depend on its folder."""

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
# The sections a public class documents, by its folder: what is called (layers, models) says
# how, serving modules say what their signatures return, everything else what it takes.
CALLED = ("Args:", "Call arguments:", "Returns:", "Example:")
SECTIONS_BY_FOLDER = {
    "layers": CALLED, "models": CALLED, "export": ("Args:", "Returns:", "Example:"),
    "callbacks": ("Args:", "Example:"), "data": ("Args:", "Example:"),
    "distribution": ("Args:", "Example:"), "generation": ("Args:", "Example:"),
    "losses": CALLED, "metrics": ("Args:", "Returns:", "Example:"),
    "tasks": ("Args:", "Example:"), "training": CALLED,
}
# Folders with at most one public class per file (helpers: none).
ONE_CLASS_PER_FILE = ("layers", "models", "callbacks", "export", "losses", "training")


def public_classes(module_name):
    module = importlib.import_module(module_name)
    return [(name, obj) for name, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module_name
            and not name.startswith("_")]


def folder(module_name):
    parts = module_name.split(".")
    return parts[1] if len(parts) > 2 else None


@pytest.mark.parametrize("module_name", MODULES)
def test_every_example_in_the_module_runs(module_name):
    assert_examples_run(importlib.import_module(module_name), min_tests=0)


def test_every_public_class_has_an_example_or_is_listed_as_not_used_directly():
    missing = []
    for module_name in MODULES:
        for name, obj in public_classes(module_name):
            qualified = f"{module_name}.{name}"
            has_example = "Example:" in (inspect.getdoc(obj) or "")
            if has_example == (qualified in NO_EXAMPLE):
                missing.append(qualified)
    assert not missing, f"without an Example: (or listed in NO_EXAMPLE but has one): {missing}"


def test_the_walk_finds_the_package():
    assert len(MODULES) > 100 and "keras_seq.tasks.translator" in MODULES


@pytest.mark.parametrize("module_name", [m for m in MODULES if folder(m) in SECTIONS_BY_FOLDER])
def test_public_classes_document_the_sections_of_their_folder(module_name):
    for name, obj in public_classes(module_name):
        if f"{module_name}.{name}" not in NO_EXAMPLE:
            assert_sections(obj, SECTIONS_BY_FOLDER[folder(module_name)])


def test_every_folder_of_the_package_has_its_sections():
    folders = {folder(m) for m in MODULES} - {None}
    assert folders <= set(SECTIONS_BY_FOLDER), folders - set(SECTIONS_BY_FOLDER)


@pytest.mark.parametrize("module_name",
                         [m for m in MODULES if folder(m) in ONE_CLASS_PER_FILE])
def test_at_most_one_public_class_per_file(module_name):
    names = [name for name, _ in public_classes(module_name)]
    assert len(names) <= 1, (module_name, names)


def test_every_public_layer_is_exported_by_keras_seq_layers():
    files = [m for m in MODULES if folder(m) == "layers"
             and any(f"{m}.{name}" not in NO_EXAMPLE for name, _ in public_classes(m))]
    exported = {c.__module__ for c in LAYERS}
    assert set(files) == exported, set(files) ^ exported
