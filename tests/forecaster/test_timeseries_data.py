"""Loaders, split, scaling and windows of `keras_seq.data.timeseries`."""

import os
import pathlib

import numpy as np
import pytest

from tests.shared_data import missing_data

from keras_seq.data import timeseries as ts

SHARED = pathlib.Path(os.environ.get("KERAS_SEQ_DATA_DIR") or
                      pathlib.Path(__file__).resolve().parents[3] / "shared" / "datasets")
HAS_SHARED = (SHARED / "timeseries" / "airline-passengers.csv").is_file()


def _write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name,rows,first,last", [
    ("airline-passengers", 144, 112.0, 432.0),
    ("daily-min-temperatures", 3650, 20.7, 13.0),
    ("monthly-sunspots", 2820, 58.0, 33.4),
])
def test_shared_csvs_load_with_their_checksums(name, rows, first, last):
    if not HAS_SHARED:
        missing_data(f"shared time series not found under {SHARED}")
    values, info = ts.load_series(name, data_dir=str(SHARED), download=False, log=None)
    assert values.shape == (rows,) and values[0] == first and values[-1] == last
    assert info["sha256_ok"] and info["dataset"] == name
    assert len(info["labels"]) == rows and info["season"] == ts.SERIES[name]["season"]
    # the raw file really is CRLF without a final newline (the reader must cope with that)
    raw = pathlib.Path(info["path"]).read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")


def test_crlf_csv_without_final_newline_and_value_column(tmp_path):
    path = _write(tmp_path / "s.csv", '"Date","A","B"\r\n"2000-01",1.5,10\r\n"2000-02",2,20\r\n'
                                      '"2000-03",3.25,30')
    labels, values = ts.read_csv_series(path)  # default: the last column
    assert labels == ["2000-01", "2000-02", "2000-03"]
    np.testing.assert_array_equal(values, [10, 20, 30])
    np.testing.assert_array_equal(ts.read_csv_series(path, "A")[1], [1.5, 2, 3.25])
    np.testing.assert_array_equal(ts.read_csv_series(path, "1")[1], [1.5, 2, 3.25])
    values, info = ts.load_series(csv_file=str(path), value_column="A", log=None)
    assert info["dataset"] == "csv" and values.tolist() == [1.5, 2, 3.25]


@pytest.mark.parametrize("body,needle", [
    ('"d","v"\r\n"a",1\r\n"b",oops\r\n"c",3', "line 3, column 'v': 'oops' is not a number"),
    ('"d","v"\r\n"a",1\r\n"b",\r\n"c",3', "line 3, column 'v': an empty value"),
    ('"d","v"\r\n"a",nan', "line 2"),
    ('"d","v"', "expected a header row and at least one data row"),
])
def test_bad_values_give_clear_errors(tmp_path, body, needle):
    path = _write(tmp_path / "bad.csv", body)
    with pytest.raises(ValueError, match="--csv") as error:
        ts.read_csv_series(path)
    assert needle in str(error.value)


def test_bad_arguments_name_the_option(tmp_path):
    path = _write(tmp_path / "s.csv", "d,v\n1,2\n")
    with pytest.raises(ValueError, match="--value-column.*'w'.*\\['d', 'v'\\]"):
        ts.read_csv_series(path, "w")
    with pytest.raises(ValueError, match="--value-column.*out of range"):
        ts.read_csv_series(path, 5)
    with pytest.raises(ValueError, match="--csv.*existing"):
        ts.load_series(csv_file=str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="--data-dir.*holds no airline-passengers.csv"):
        ts.load_series("airline-passengers", data_dir=str(tmp_path), download=False)
    with pytest.raises(ValueError, match="--series"):
        ts.load_series("stocks")
    with pytest.raises(ValueError, match="--value-column needs|`--value-column` needs"):
        ts.load_series("generated", value_column="v")


def test_generated_series_is_deterministic_and_seasonal():
    a, b = ts.generated_series(), ts.generated_series()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1500,)
    # the seasonal period 50 shows: lag-50 differences are far smaller than lag-25 ones
    assert np.std(a[50:] - a[:-50]) < 0.5 * np.std(a[25:] - a[:-25])
    values, info = ts.load_series("generated", log=None)
    assert info["dataset"] == "generated" and info["season"] == 50


def test_chronological_split_and_scaler_fit_on_train_only():
    train_end, val_end = ts.chronological_split(100, test_periods=20, val_periods=10)
    assert (train_end, val_end) == (70, 80)
    with pytest.raises(ValueError, match="--test-periods"):
        ts.chronological_split(30, 20, 10)
    with pytest.raises(ValueError, match="--val-periods"):
        ts.chronological_split(30, 5, 0)
    values = np.concatenate([np.linspace(1, 10, 70), np.full(30, 1000.0)])
    scaler = ts.SeriesScaler("log").fit(values[:train_end])
    f = np.log1p(values[:train_end])
    assert scaler.mean == pytest.approx(f.mean()) and scaler.std == pytest.approx(f.std())
    z = scaler.transform_values(values)
    assert z.dtype == np.float32 and abs(float(z[:train_end].mean())) < 1e-5
    np.testing.assert_allclose(scaler.inverse(z), values, rtol=1e-5)
    again = ts.SeriesScaler(**scaler.get_config())
    np.testing.assert_allclose(again.transform_values(values), z)
    with pytest.raises(ValueError, match="--transform"):
        ts.SeriesScaler("sqrt")


def test_windows_are_the_w_values_up_to_the_origin_and_the_next_h():
    values = np.arange(20, dtype="float32") * 10
    origins = ts.forecast_origins(15, 20, horizon=2)  # targets t+1, t+2 in [15, 20)
    np.testing.assert_array_equal(origins, [14, 15, 16, 17])
    x, y = ts.make_windows(values, origins, window=3, horizon=2)
    np.testing.assert_array_equal(x[0], [120, 130, 140])
    np.testing.assert_array_equal(y[0], [150, 160])
    np.testing.assert_array_equal(x[-1], [150, 160, 170])
    np.testing.assert_array_equal(y[-1], [180, 190])
    with pytest.raises(ValueError, match="--window 16"):
        ts.make_windows(values, origins, window=16, horizon=2)
    batches = list(ts.windows_dataset(x, y, batch_size=3).as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(3, 3), (1, 3)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    shuffled = list(ts.windows_dataset(x, y, 4, shuffle=True, seed=1).as_numpy_iterator())[0]
    order = np.argsort(shuffled[1][:, 0])
    np.testing.assert_array_equal(shuffled[0][order], x)  # pairs stay together


def test_download_checks_the_sha256_and_caches(tmp_path, monkeypatch):
    source = _write(tmp_path / "src.csv", '"Month","Passengers"\r\n"1949-01",112\r\n"1949-02",118')
    digest = ts.sha256_of(source)
    monkeypatch.setenv("KERAS_SEQ_CACHE", str(tmp_path / "cache"))
    spec = dict(ts.SERIES["airline-passengers"], url=source.as_uri(), sha256=digest)
    monkeypatch.setitem(ts.SERIES, "airline-passengers", spec)
    path = ts.download_series("airline-passengers")
    assert path == tmp_path / "cache" / "timeseries" / "airline-passengers.csv"
    assert ts.sha256_of(path) == digest
    path.unlink()
    monkeypatch.setitem(ts.SERIES, "airline-passengers", dict(spec, sha256="0" * 64))
    with pytest.raises(ValueError, match="sha256"):
        ts.download_series("airline-passengers")
    assert not path.exists() and not list(path.parent.glob(".*tmp"))  # nothing kept
    monkeypatch.setitem(ts.SERIES, "airline-passengers",
                        dict(spec, url=(tmp_path / "missing.csv").as_uri()))
    with pytest.raises(OSError, match="--data-dir"):
        ts.download_series("airline-passengers")


def test_auto_falls_back_to_the_generated_series_loudly(monkeypatch):
    monkeypatch.setattr(ts, "find_series", lambda name, data_dir=None: None)
    lines = []
    values, info = ts.load_series("auto", download=False, log=lines.append)
    assert info["dataset"] == "generated" and len(values) == 1500
    assert any("GENERATED" in line for line in lines)
    with pytest.raises(ValueError, match="daily-min-temperatures.*--data-dir"):
        ts.load_series("daily-min-temperatures", download=False)
