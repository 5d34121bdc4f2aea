"""The task API's own contracts: loading, the registry of task classes by stem."""

import pathlib

import pytest

import keras_seq
from keras_seq.tasks import Task


def test_load_refuses_what_is_not_a_task(tmp_path):
    (tmp_path / "not.kseq").write_text("hello")
    with pytest.raises(ValueError, match="task file"):
        keras_seq.load(tmp_path / "not.kseq")
    with pytest.raises(ValueError, match="not found"):
        keras_seq.load(tmp_path / "missing.kseq")
    with pytest.raises(ValueError, match="without task.kseq"):
        keras_seq.load(tmp_path)


def test_one_stem_names_each_application_everywhere():
    """CLI name, task class, task module, application, export module and test folder."""
    import importlib

    from keras_seq.cli import APPLICATIONS
    from keras_seq.tasks import TASK_CLASSES

    root = pathlib.Path(__file__).resolve().parents[2]
    stems = sorted(name.replace("-", "_") for name in APPLICATIONS)
    assert sorted(TASK_CLASSES) == stems
    for stem in stems:
        task_class = TASK_CLASSES[stem]
        assert issubclass(task_class, Task)
        assert task_class.__module__ == f"keras_seq.tasks.{stem}", task_class
        assert APPLICATIONS[stem.replace("_", "-")][0] == f"keras_seq.applications.{stem}"
        assert (root / "applications" / f"{stem}.py").is_file(), stem
        assert (root / "keras_seq" / "export" / f"{stem}_module.py").is_file(), stem
        assert (root / "tests" / stem / f"test_{stem}_task.py").is_file(), stem
        module = importlib.import_module(f"keras_seq.tasks.{stem}")
        assert getattr(module, task_class.__name__) is task_class
