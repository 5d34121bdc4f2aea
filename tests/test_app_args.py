"""The argument helpers every application shares (keras_seq.app_args)."""

import argparse
import json

import pytest

from keras_seq import app_args


def test_argument_types_name_the_option():
    assert app_args.positive_int("--n")("3") == 3
    for bad in ("0", "-2", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"--n must be a positive integer"):
            app_args.positive_int("--n")(bad)
    rate = app_args.float_in("--rate", 0.0, 1.0)
    assert rate("0") == 0.0 and rate("0.5") == 0.5
    for bad in ("1", "-0.1", "nan", "inf", "abc"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"--rate must be in \[0, 1\)"):
            rate(bad)
    open_low = app_args.float_in("--lr", 0.0, 10.0, low_open=True)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 10\)"):
        open_low("0")


def test_restore_run_options_takes_the_stored_values(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": "transformer", "epochs": 7,
                                                      "other": 1}))
    args = argparse.Namespace(run_dir=str(tmp_path), model="attention", epochs=7, seed=3)
    lines = []
    app_args.restore_run_options(args, ("model", "epochs", "seed"), log=lines.append)
    assert (args.model, args.epochs, args.seed) == ("transformer", 7, 3)
    assert lines == [f"Resuming {tmp_path}: options taken from its config.json: "
                     "--model='transformer'"]
    fresh = argparse.Namespace(run_dir=str(tmp_path / "new"), model="attention")
    assert app_args.restore_run_options(fresh, ("model",), log=lines.append).model == "attention"
    # An option newer than the run: the value it was made with, not today's default.
    newer = argparse.Namespace(run_dir=str(tmp_path), model="attention", pooling="max")
    app_args.restore_run_options(newer, ("model", "pooling"), log=lines.append,
                                 absent_in_old_runs={"pooling": "mean", "model": "seq2seq"})
    assert (newer.model, newer.pooling) == ("transformer", "mean")  # stored values win


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


def test_apply_quick_shrinks_only_what_was_not_set(capsys):
    args = argparse.Namespace(quick=True, epochs=20, units=256, max_chars=None,
                              explicit_options=["epochs"])
    lines = []
    app_args.apply_quick(args, {"epochs": 2, "units": 32, "max_chars": 1000}, log=lines.append)
    assert (args.epochs, args.units, args.max_chars) == (20, 32, 1000)
    assert lines == ["--quick: --units 32, --max-chars 1000; kept as set: --epochs 20"]
    slow = argparse.Namespace(quick=False, epochs=20)
    app_args.apply_quick(slow, {"epochs": 2}, log=lines.append)
    assert slow.epochs == 20 and len(lines) == 1  # no --quick: nothing changes, nothing said


def test_restored_options_count_as_set(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"units": 512, "epochs": 3}))
    args = argparse.Namespace(run_dir=str(tmp_path), units=256, epochs=3, quick=True,
                              explicit_options=["quick"])
    app_args.restore_run_options(args, ("units", "epochs"), log=lambda line: None)
    assert args.explicit_options == ["epochs", "quick", "units"]
    app_args.apply_quick(args, {"units": 32, "epochs": 1}, log=lambda line: None)
    assert (args.units, args.epochs) == (512, 3)


def test_run_main_records_the_given_options_and_resolves_verbose():
    parser = argparse.ArgumentParser(prog="app")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", type=app_args.fit_verbosity, default="auto")
    seen = []
    assert app_args.run_main(parser, seen.append, ["--epochs", "5"]) == 0
    assert seen[0].explicit_options == ["epochs"] and seen[0].verbose in (1, 2)


def test_decode_errors_name_the_file_found_in_the_traceback(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"abc\xe9def")
    with pytest.raises(UnicodeDecodeError) as info:
        bad.read_text(encoding="utf-8")
    assert app_args.describe_decode_error(info.value) == (
        f"{bad}: not valid utf-8 text (invalid continuation byte 0xe9 at byte offset 3)")
