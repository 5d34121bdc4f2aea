"""The config machinery of `keras_seq.lifecycle`: options, --quick, resume from config.json."""

import argparse
import dataclasses
import json

import pytest

from keras_seq.lifecycle import (AppConfig, add_config_arguments, config_from_args, option,
                                 positive_int, restore_from_run)


@dataclasses.dataclass
class ToyConfig(AppConfig):
    APP = "toy"

    vocabulary_size: int = option(100, "model", "ids", type=positive_int, quick=10,
                                  renamed_from="vocabulary_size")
    pooling: str = option("mean_max", "model", "pooling", choices=("mean", "mean_max"),
                          before="mean")
    width: int = option(8, "model", "width", type=positive_int)
    tied: bool = option(True, "model", "untie", before=True)
    prompt: tuple = option(("a b", "c"), "samples", "a prompt", resumed=False)


def _parse(*argv):
    parser = add_config_arguments(argparse.ArgumentParser(), ToyConfig)
    return parser.parse_args(list(argv))


def test_explicit_options_win_over_quick_and_quick_over_defaults():
    lines = []
    config = config_from_args(ToyConfig, _parse("--quick"), log=lines.append)
    assert config.vocabulary_size == 10 and config.width == 8
    assert lines == ["--quick: --vocabulary-size 10 (options given explicitly win)."]
    config = config_from_args(ToyConfig, _parse("--quick", "--vocabulary-size", "50"),
                              log=lines.append)
    assert config.vocabulary_size == 50
    assert config_from_args(ToyConfig, _parse(), log=lines.append).vocabulary_size == 100


def test_a_true_flag_is_turned_off_by_no_and_a_tuple_option_repeats(capsys):
    config = config_from_args(ToyConfig, _parse(), log=print)
    assert config.tied is True and config.prompt == ("a b", "c")
    config = config_from_args(ToyConfig, _parse("--no-tied", "--prompt", "x", "--prompt", "y"),
                              log=print)
    assert config.tied is False and config.prompt == ("x", "y")
    with pytest.raises(SystemExit):
        _parse("--tied")  # already the default: only --no-tied exists
    assert "unrecognized arguments: --tied" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse("--help")
    assert "(repeatable; default 'a b' / 'c')" in " ".join(capsys.readouterr().out.split())


def test_bad_option_values_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _parse("--vocabulary-size", "0")
    with pytest.raises(SystemExit):
        _parse("--pooling", "max")
    assert "--pooling" in capsys.readouterr().err


def _stored(tmp_path, **values):
    shared = {"epochs": 2, "batch_size": 64, "learning_rate": 1e-3, "seed": 1337,
              "quick": False}
    (tmp_path / "config.json").write_text(json.dumps({"app": "toy", **shared, **values}))
    return config_from_args(ToyConfig, _parse("--run-dir", str(tmp_path)), log=print)


def test_resume_takes_stored_values_old_names_and_before_values(tmp_path):
    lines = []
    # An old run: the option under its former name, `pooling` not yet an option.
    config = restore_from_run(_stored(tmp_path, vocabulary_size=42, width=8), log=lines.append)
    assert (config.vocabulary_size, config.pooling, config.width) == (42, "mean", 8)
    assert "--vocabulary-size=42" in lines[0] and "--pooling='mean'" in lines[0]


def test_resume_refuses_a_run_without_an_option_it_cannot_infer(tmp_path):
    with pytest.raises(ValueError, match="lacks --width"):
        restore_from_run(_stored(tmp_path, vocabulary_size=5, pooling="mean"), log=print)


def test_resume_refuses_another_applications_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"app": "translator"}))
    config = config_from_args(ToyConfig, _parse("--run-dir", str(tmp_path)))
    with pytest.raises(ValueError, match="holds a translator run, not a toy run"):
        restore_from_run(config)
