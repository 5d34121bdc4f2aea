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
