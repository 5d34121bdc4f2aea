"""The protocol helpers of benchmarks/bench_common.py: choices on validation, seed summaries."""

import argparse
import doctest
import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_common.py"
_SPEC = importlib.util.spec_from_file_location("bench_common", _PATH)
bench_common = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_common)


ROWS = [{"name": "a", "validation_f1": 0.90, "validation_loss": 0.30},
        {"name": "b", "validation_f1": 0.95, "validation_loss": 0.35},
        {"name": "c", "validation_f1": 0.95, "validation_loss": 0.25}]


def test_choose_on_validation_max_min_and_first_on_tie():
    assert bench_common.choose_on_validation(ROWS, "validation_f1", "max")["name"] == "b"
    assert bench_common.choose_on_validation(ROWS, "validation_loss", "min")["name"] == "c"
    assert bench_common.choose_on_validation(ROWS[:1], "validation_f1")["name"] == "a"
    assert bench_common.choose_on_validation(iter(ROWS), "validation_f1") is ROWS[1]


@pytest.mark.parametrize("key", ["test_f1", "validation_test_f1", "f1", "TEST_val"])
def test_choose_on_validation_refuses_keys_not_naming_validation(key):
    rows = [{key: 0.5}]
    with pytest.raises(ValueError, match="validation"):
        bench_common.choose_on_validation(rows, key)


@pytest.mark.parametrize("rows, mode, match", [
    ([], "max", "at least one"),
    (ROWS, "best", "mode"),
    ([{"validation_f1": 0.9}, {"other": 1.0}], "max", "row 1 has no"),
    ([{"validation_f1": float("nan")}], "max", "finite"),
    ([{"validation_f1": None}], "min", "finite"),
    ([{"validation_f1": True}], "min", "finite"),
])
def test_choose_on_validation_bad_input(rows, mode, match):
    with pytest.raises(ValueError, match=match):
        bench_common.choose_on_validation(rows, "validation_f1", mode)


def test_seed_summary_mean_min_max_and_each_seed_kept():
    s = bench_common.seed_summary(
        [1337, 7, 2026],
        [{"acc": 0.8, "loss": 1.0, "split": "test"}, {"acc": 0.9, "loss": 2.0, "split": "test"},
         {"acc": 0.7, "loss": 3.0, "split": "test"}])
    assert s["seeds"] == [1337, 7, 2026]
    assert s["mean"] == pytest.approx({"acc": 0.8, "loss": 2.0})
    assert s["min"] == {"acc": 0.7, "loss": 1.0}
    assert s["max"] == {"acc": 0.9, "loss": 3.0}
    assert [r["seed"] for r in s["per_seed"]] == [1337, 7, 2026]
    assert [r["acc"] for r in s["per_seed"]] == [0.8, 0.9, 0.7]
    assert s["per_seed"][0]["split"] == "test" and "split" not in s["mean"]
    assert s["headline"] is True


def test_seed_summary_one_seed_is_no_headline_and_metric_missing_somewhere_is_skipped():
    s = bench_common.seed_summary([1], [{"acc": 0.5}])
    assert s["headline"] is False and s["mean"] == {"acc": 0.5}
    s = bench_common.seed_summary([1, 2], [{"acc": 0.5, "f1": 0.1}, {"acc": 0.7}])
    assert set(s["mean"]) == {"acc"}


@pytest.mark.parametrize("seeds, per_seed", [([], []), ([1, 2], [{"acc": 1.0}])])
def test_seed_summary_bad_input(seeds, per_seed):
    with pytest.raises(ValueError, match="same length"):
        bench_common.seed_summary(seeds, per_seed)


def test_run_seeds_runs_each_seed_once_in_order():
    calls, lines = [], []

    def run_one(seed):
        calls.append(seed)
        return {"acc": seed / 100}

    s = bench_common.run_seeds(run_one, [20, 40], log=lines.append)
    assert calls == [20, 40]
    assert s["mean"]["acc"] == pytest.approx(0.3)
    assert [r["acc"] for r in s["per_seed"]] == [0.2, 0.4]
    assert lines == ["seed 20: acc 0.2000", "seed 40: acc 0.4000"]
    bench_common.run_seeds(lambda seed: {"a": 1.0, "b": 2.0}, [5], log=lines.append,
                           show=("b",))
    assert lines[-1] == "seed 5: b 2.0000"
    assert any("not a headline" in line for line in lines)


@pytest.mark.parametrize("seeds", [[], [1, 1]])
def test_run_seeds_bad_seeds(seeds):
    with pytest.raises(ValueError, match="distinct"):
        bench_common.run_seeds(lambda seed: {}, seeds)


def test_seeds_argument_defaults_to_two_seeds_and_refuses_repeats():
    parser = bench_common.add_seeds_argument(argparse.ArgumentParser())
    assert parser.parse_args([]).seeds == list(bench_common.DEFAULT_SEEDS)
    assert len(bench_common.DEFAULT_SEEDS) >= 2
    assert parser.parse_args(["--seeds", "3", "4", "5"]).seeds == [3, 4, 5]
    with pytest.raises(SystemExit):
        bench_common.check_seeds(parser, [3, 3])


def test_format_spread():
    s = bench_common.seed_summary([1, 2], [{"f1": 0.9}, {"f1": 0.8}])
    assert bench_common.format_spread(s, "f1", 2) == "0.85 (0.80–0.90, 2 seeds)"
    one = bench_common.seed_summary([1], [{"f1": 0.9}])
    assert bench_common.format_spread(one, "f1", 1) == "0.9 (0.9–0.9, 1 seed)"


def test_validation_only_scores_the_validation_split_under_validation_names():
    class App:
        def load_data(self, config, log):
            return {"train": "TR", "validation": "VA", "test": "TE"}, {"dataset": "d"}

        def evaluate(self, task, config, splits, history, run_dir, log):
            return {"test_accuracy": {"VA": 0.7, "TE": 0.9}[splits["test"]],
                    "test_size": 3, "epochs": 2}

    app = bench_common.validation_only(App())
    assert isinstance(app, App)
    splits, info = app.load_data(None, print)
    assert splits["test"] == "VA" and splits["validation"] == "VA"
    assert "validation" in info["scored_split"]
    metrics = app.evaluate(None, None, splits, None, None, print)
    assert metrics == {"validation_accuracy": 0.7, "validation_size": 3, "epochs": 2,
                       "scored_split": "validation"}
    assert app.summary(None, metrics, None) == [
        "Validation only (the test split is not scored): validation_accuracy 0.7000, "
        "validation_size 3."]


def test_held_out_test_cuts_the_end_of_the_training_part_only():
    class App:
        seen = None

        def load_data(self, config, log):
            return {"train": self.train, "validation": "VAL"}, {"dataset": "d"}

    app = bench_common.held_out_test(App(), fraction=0.25)
    assert isinstance(app, App)
    app.train = list(range(8))
    splits, info = app.load_data(None, print)
    assert splits == {"train": [0, 1, 2, 3, 4, 5], "validation": "VAL"}
    assert app.held_out_test == [6, 7] and info["held_out_test_units"] == 2
    assert info["dataset"] == "d" and info["trained_units"] == 6
    app.train = "line one\nline two\nline three\nfour\n"  # cut at a line start
    splits, _ = app.load_data(None, print)
    assert splits["train"] + app.held_out_test == app.train
    assert app.held_out_test == "line three\nfour\n"
    app.train = [1]
    with pytest.raises(ValueError, match="nothing"):
        app.load_data(None, print)
    with pytest.raises(ValueError, match="fraction"):
        bench_common.held_out_test(App(), fraction=1.0)


def test_docstring_examples_run():
    result = doctest.testmod(bench_common, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


class _Clock:
    """A fake clock: each call returns the next value."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_median_rotates_order_times_each_call_and_takes_the_median():
    clock, order = _Clock(), []
    cost = {"a": iter([9.0, 1.0, 2.0, 3.0]), "b": iter([5.0, 5.0, 7.0, 6.0])}

    def make(name):
        def fn():
            order.append(name)
            clock.now += next(cost[name]) if len(order) > 2 else 0.0  # warm-up costs nothing
            return name
        return fn

    t = bench_common.interleaved_median({"a": make("a"), "b": make("b")}, calls=2, rounds=2,
                                        warmup=1, clock=clock)
    # warm-up a, b; round 0: a a b b; round 1 (rotated): b b a a
    assert order == ["a", "b", "a", "a", "b", "b", "b", "b", "a", "a"]
    assert t["a"]["times_s"] == [9.0, 1.0, 2.0, 3.0] and t["a"]["median_s"] == 2.5
    assert t["b"]["times_s"] == [5.0, 5.0, 7.0, 6.0] and t["b"]["median_s"] == 5.5
    assert t["a"]["calls"] == t["b"]["calls"] == 4


def test_interleaved_median_blocks_on_each_result():
    computed = []

    class Lazy:
        def numpy(self):
            computed.append(1)

    bench_common.interleaved_median({"x": lambda: {"out": [Lazy(), Lazy()]}}, calls=3,
                                    rounds=1, warmup=0)
    assert len(computed) == 6


@pytest.mark.parametrize("fns, kwargs, match", [
    ({}, {}, "callables"),
    ({"a": 1}, {}, "callables"),
    ({"a": lambda: 0}, {"calls": 0}, "calls"),
    ({"a": lambda: 0}, {"rounds": 1.5}, "rounds"),
    ({"a": lambda: 0}, {"warmup": -1}, "warmup"),
])
def test_interleaved_median_bad_input(fns, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench_common.interleaved_median(fns, **kwargs)


def test_speed_row_labels_and_ratio():
    like = bench_common.speed_row("fp32 both, XLA off both", 0.2, 0.3, True, steps=10)
    assert like["like_for_like"] is True and like["differences"] == []
    assert like["ratio"] == pytest.approx(1.5) and like["steps"] == 10
    ours = bench_common.speed_row("our defaults", 0.1, 0.3, False, ("bf16 (baseline fp32)",))
    assert ours["like_for_like"] is False and ours["differences"] == ["bf16 (baseline fp32)"]
    assert ours["ratio"] == pytest.approx(3.0)
    lines = []
    bench_common.print_speed_rows([like, ours], log=lines.append)
    assert lines[2] == "| fp32 both, XLA off both | yes | 200.00 | 300.00 | 1.50x |"
    assert lines[3] == "| our defaults | no | 100.00 | 300.00 | 3.00x |"
    assert lines[4] == "our defaults: differs in bf16 (baseline fp32)"


@pytest.mark.parametrize("args, match", [
    ((0.0, 1.0, True), "ours_s"),
    ((1.0, float("nan"), True), "baseline_s"),
    ((1.0, 1.0, True, ["bf16"]), "names no differences"),
    ((1.0, 1.0, False), "must name each difference"),
])
def test_speed_row_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        bench_common.speed_row("r", *args)


@pytest.mark.slow  # four tiny captioner runs and two test scorings (~2.5 min on 2 cores)
def test_captioner_quality_chooses_on_validation_then_scores_the_chosen_runs_on_test(tmp_path):
    import json
    import subprocess
    import sys

    script = _PATH.parent / "bench_captioner.py"
    tiny = ["--train-size", "128", "--validation-size", "16", "--test-size", "16", "--epochs",
            "1", "--image-size", "32", "--embedding-dim", "16", "--hidden-dim", "16",
            "--encoder-filters", "8,8", "--batch-size", "32", "--verbose", "0"]
    subprocess.run([sys.executable, str(script), "--part", "quality", "--seeds", "1", "2",
                    "--runs-root", str(tmp_path), "--out", str(tmp_path / "val.json"), "--",
                    *tiny], check=True, capture_output=True)
    validation = json.loads((tmp_path / "val.json").read_text())
    assert validation["scored_split"] == "validation" and len(validation["rows"]) == 2
    for row in validation["rows"]:
        assert [r["seed"] for r in row["validation"]["per_seed"]] == [1, 2]
        assert not any(k.startswith("test_") for r in row["validation"]["per_seed"] for k in r)
        for r in row["validation"]["per_seed"]:  # the runs scored validation, never test
            assert json.loads((pathlib.Path(r["run_dir"]) / "metrics.json").read_text())[
                "scored_split"] == "validation"
    subprocess.run([sys.executable, str(script), "--part", "quality", "--score-test",
                    str(tmp_path / "val.json"), "--out", str(tmp_path / "test.json")],
                   check=True, capture_output=True)
    test = json.loads((tmp_path / "test.json").read_text())
    best = max(validation["rows"], key=lambda r: r["validation"]["mean"]["validation_exact_match"])
    (chosen,) = test["rows"]
    assert test["scored_split"] == "test" and chosen["attention"] == best["attention"]
    assert [r["run_dir"] for r in chosen["test"]["per_seed"]] == [
        r["run_dir"] for r in best["validation"]["per_seed"]]
    assert all(0 <= r["test_exact_match"] <= 1 for r in chosen["test"]["per_seed"])
