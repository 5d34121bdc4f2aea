"""The code passes the project's ruff configuration (pyproject.toml); conftest's scheduling list
names existing files."""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: `pip install -e .[test]` installs it")
    done = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_longest_first_test_files_exist():
    """conftest.LONGEST_FIRST schedules these files first; a renamed one would fall back
    silently to collection order, so each must still exist."""
    from tests.conftest import LONGEST_FIRST

    tests = pathlib.Path(__file__).resolve().parent
    assert [name for name in LONGEST_FIRST if not (tests / name).is_file()] == []
