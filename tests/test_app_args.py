"""The argument helpers every application shares (keras_seq.app_args)."""

import argparse

import pytest

from keras_seq import app_args
from keras_seq.lifecycle import fit_verbosity


def test_run_main_turns_value_errors_into_usage_errors(capsys):
    parser = argparse.ArgumentParser(prog="app")
    parser.add_argument("--x", type=int, default=1)

    def run(args):
        if args.x < 0:
            raise ValueError("x must not be negative")

    assert app_args.run_main(parser, run, ["--x", "2"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        app_args.run_main(parser, run, ["--x", "-1"])
    assert exit_info.value.code == 2
    assert "app: error: x must not be negative" in capsys.readouterr().err


def test_run_main_runs_with_the_parsed_options():
    parser = argparse.ArgumentParser(prog="app")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", type=fit_verbosity, default="auto")
    seen = []
    assert app_args.run_main(parser, seen.append, ["--epochs", "5"]) == 0
    assert seen[0].epochs == 5 and seen[0].verbose in (1, 2)


def test_decode_errors_name_the_file_found_in_the_traceback(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"abc\xe9def")
    with pytest.raises(UnicodeDecodeError) as info:
        bad.read_text(encoding="utf-8")
    assert app_args.describe_decode_error(info.value) == (
        f"{bad}: not valid utf-8 text (invalid continuation byte 0xe9 at byte offset 3)")
