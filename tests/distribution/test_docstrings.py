"""The scale-out classes document their arguments, and their `Example:`s run."""


import pytest

from tests.docstring_checks import assert_sections

from keras_seq.callbacks.resumable_backup import ResumableBackupAndRestore
from keras_seq.distribution.local_worker_launcher import LocalWorkerLauncher
from keras_seq.distribution.training_cluster import TrainingCluster

CLASSES = [TrainingCluster, LocalWorkerLauncher, ResumableBackupAndRestore]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_docstring_sections_and_examples(cls):
    assert_sections(cls, ("Args:", "Example:"))
