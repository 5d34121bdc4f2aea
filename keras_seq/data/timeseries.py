"""Univariate time series: the three classic CSVs, any user CSV, a generated default; the
chronological split, scaling fit on the training part, and windows for tf.data.

Where a named series comes from, in order (`load_series`):
  1. `data_dir=` - a folder holding `NAME.csv` (or `timeseries/NAME.csv`);
  2. `$KERAS_SEQ_DATA_DIR/timeseries/`, then `../shared/datasets/timeseries/` relative to the
     repository and to the working directory;
  3. the download cache `~/.keras/datasets/keras_seq/timeseries/NAME.csv`, or a download from
     `SERIES[NAME]["url"]` checked against its sha256 (temp file, then rename);
  4. (`series="auto"` only) the generated seasonal series of `generated_series()`, said loudly.
A `csv=` file (any CSV with a header row) is used as is, with `value_column=` naming the column.

The CSVs are read as they are published: a header row, a date column first, CRLF line ends
and no newline after the last row. A value that is empty or not a number is an error naming the
file, the line and what was found (nothing is silently dropped or interpolated).
"""

import csv
import hashlib
import io
import math
import os
import pathlib
import tempfile
import urllib.request

import numpy as np
from keras_seq.data import dataset_files
from keras_seq.data.dataset_files import sha256_of  # noqa: F401 (public here too)

_COMMIT = "d20fcb6402ae34e653d4513b00f39257bb37ed7f"
_BASE = f"https://raw.githubusercontent.com/jbrownlee/Datasets/{_COMMIT}/"

# season: the seasonal period m of the seasonal-naive baseline (in steps of the series).
# test_periods / val_periods: the chronological split (the test part is the final period).
# transform: "log" (log1p) where the variance grows with the level (airline), else "none".
SERIES = {
    "daily-min-temperatures": dict(
        file="daily-min-temperatures.csv", url=_BASE + "daily-min-temperatures.csv",
        sha256="8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
        value_column="Temp", season=365, test_periods=730, val_periods=365, window=30,
        multi_horizon=7, transform="none", unit="°C", step="day",
        description="daily minimum temperatures, Melbourne 1981-1990 (3650 days)"),
    "monthly-sunspots": dict(
        file="monthly-sunspots.csv", url=_BASE + "monthly-sunspots.csv",
        sha256="c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
        value_column="Sunspots", season=132, test_periods=282, val_periods=282, window=48,
        multi_horizon=12, transform="none", unit="sunspots", step="month",
        description="Zurich monthly sunspot numbers 1749-1983 (2820 months)"),
    "airline-passengers": dict(
        file="airline-passengers.csv", url=_BASE + "airline-passengers.csv",
        sha256="8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
        value_column="Passengers", season=12, test_periods=24, val_periods=12, window=24,
        multi_horizon=12, transform="log", target="seasonal-delta", unit="thousand passengers",
        step="month",
        description="international airline passengers, monthly 1949-1960 (144 months)"),
}
GENERATED = dict(season=50, test_periods=200, val_periods=200, window=100, multi_horizon=10,
                 transform="none", unit="", step="step",
                 description="GENERATED: trend + season (period 50) + AR(1) noise, 1500 steps")
CSV_DEFAULTS = dict(season=None, test_periods=None, val_periods=None, window=None,
                    multi_horizon=None, transform="none", unit="", step="step",
                    description="user CSV")
NAMES = ("auto", *SERIES, "generated")


def cache_dir():
    """Folder of downloaded series (`keras_seq.data.dataset_files.cache_dir()/timeseries`)."""
    return dataset_files.cache_dir() / "timeseries"


def candidate_paths(name, data_dir=None):
    """Where the CSV of series `name` is looked for, in order (the cache last)."""
    return dataset_files.candidate_paths(SERIES[name]["file"], "timeseries", data_dir,
                                         cache_subfolder="timeseries")


def find_series(name, data_dir=None):
    """The first existing CSV of `candidate_paths(name, data_dir)`, or None."""
    return dataset_files.first_existing(candidate_paths(name, data_dir))


def download_series(name, timeout=30):
    """Downloads the CSV of series `name` into the cache, checks its sha256, returns the path.

    Raises:
        OSError: no network (the message names the series, its URL and `--data-dir`).
        ValueError: the downloaded bytes have another sha256 (nothing is kept).
    """
    spec = SERIES[name]
    target = cache_dir() / spec["file"]
    if target.is_file() and sha256_of(target) == spec["sha256"]:
        return target
    try:
        with urllib.request.urlopen(spec["url"], timeout=timeout) as response:
            data = response.read()
    except OSError as error:
        raise OSError(f"Could not download the {name} series from {spec['url']} ({error}). "
                      f"Offline? Pass --data-dir DIR (a folder with {spec['file']}) or "
                      "--csv FILE.") from error
    got = hashlib.sha256(data).hexdigest()
    if got != spec["sha256"]:
        raise ValueError(f"The download from {spec['url']} has sha256 {got}, expected "
                         f"{spec['sha256']}; nothing was saved.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec['file']}-", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return target


def read_csv_series(path, value_column=None, argument="--csv"):
    """Reads one numeric column of a CSV with a header row.

    Args:
        path: the CSV file (CRLF or LF line ends, a final newline or not, quoted or not).
        value_column: the column of values: its header name or its 0-based index (an int or
            a str of digits). Default: the last column.
        argument: the option named in error messages.

    Returns:
        `(labels, values)`: the first column's strings (dates) and a float64 array.

    Raises:
        ValueError: no such file, no data rows, an unknown column, or a value that is empty
            or not a finite number (the message names the file, the line and the value).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"`{argument}` must be an existing CSV file, got {str(path)!r}.")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if len(rows) < 2:
        raise ValueError(f"`{argument}` {str(path)!r} has {len(rows)} non-empty rows; expected "
                         "a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    if value_column is None:
        column = len(header) - 1
    elif isinstance(value_column, int) or str(value_column).strip().isdigit():
        column = int(value_column)
        if column >= len(header):
            raise ValueError(f"`--value-column` {value_column!r} is out of range: {str(path)!r} "
                             f"has the columns {header} (0-based indices 0..{len(header) - 1}).")
    elif value_column in header:
        column = header.index(value_column)
    else:
        raise ValueError(f"`--value-column` must name a column of {str(path)!r}, got "
                         f"{value_column!r}; the columns are {header}.")
    labels, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        raw = row[column].strip() if column < len(row) else ""
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            what = "an empty value" if not raw else f"{raw!r}"
            raise ValueError(f"`{argument}` {str(path)!r} line {line}, column "
                             f"{header[column]!r}: {what} is not a number; expected a finite "
                             "number on every row (fill or remove missing values first).")
        labels.append(row[0].strip())
        values.append(value)
    return labels, np.asarray(values, dtype="float64")


def generated_series(length=1500, season=50, seed=0):
    """A deterministic seasonal series made by this project (the offline default).

    y_t = 10 + 0.004 t + 3 sin(2π t / season) + 1.2 sin(4π t / season + 1) + e_t,
    with AR(1) noise e_t = 0.6 e_{t-1} + 0.5 ε_t, ε_t ~ N(0, 1). It is NOT one of the real
    series; results on it say nothing about them.

    Args:
        length: number of steps.
        season: period of the seasonal part.
        seed: seed of the noise.

    Returns:
        A float64 array of shape `(length,)`.
    """
    if not isinstance(length, int) or length <= 0:
        raise ValueError(f"`length` must be a positive int, got {length!r}.")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype="float64")
    eps = rng.normal(size=length)
    noise = np.zeros(length)
    for i in range(length):
        noise[i] = (0.6 * noise[i - 1] if i else 0.0) + 0.5 * eps[i]
    return (10.0 + 0.004 * t + 3.0 * np.sin(2 * np.pi * t / season)
            + 1.2 * np.sin(4 * np.pi * t / season + 1.0) + noise)


def load_series(series="auto", csv_file=None, value_column=None, data_dir=None, download=True,
                log=print):
    """Returns `(values, info)` following the order in the module docstring.

    Args:
        series: "auto", one of `SERIES`, or "generated".
        csv_file: any CSV with a header row (overrides `series`).
        value_column: column of `csv_file` (name or 0-based index; default the last one).
        data_dir: folder holding the series' CSV.
        download: whether a download may be tried.
        log: called with progress lines.

    Returns:
        `values` (float64 [n]) and `info` (dict: dataset, path, sha256, labels, season,
        test/val periods, window, transform, unit, description).

    Raises:
        ValueError: a bad argument, a missing file, a bad value, or (a named series) no copy
            and no download.
    """
    if series not in NAMES:
        raise ValueError(f"`--series` must be one of {NAMES}, got {series!r}.")
    if csv_file is not None:
        labels, values = read_csv_series(csv_file, value_column)
        info = dict(CSV_DEFAULTS, dataset="csv", path=str(csv_file),
                    sha256=sha256_of(csv_file), labels=labels)
        return values, info
    if value_column is not None:
        raise ValueError(f"`--value-column` needs `--csv FILE`, got --value-column "
                         f"{value_column!r} with --series {series}.")
    if data_dir is not None and not pathlib.Path(data_dir).is_dir():
        raise ValueError(f"`--data-dir` must be an existing folder, got {str(data_dir)!r}.")
    if series == "generated":
        return generated_series(), dict(GENERATED, dataset="generated", path=None, labels=None)
    name = "daily-min-temperatures" if series == "auto" else series
    path = find_series(name, data_dir)
    if path is None and data_dir is not None:
        raise ValueError(f"`--data-dir` {str(data_dir)!r} holds no {SERIES[name]['file']} "
                         f"(also looked in {str(pathlib.Path(data_dir) / 'timeseries')!r}).")
    if path is None and download:
        try:
            log(f"Downloading the {name} series from {SERIES[name]['url']} ...")
            path = download_series(name)
        except OSError as error:
            if series != "auto":
                raise ValueError(str(error)) from error
            log(f"NOTE: {error}")
    if path is None:
        if series != "auto":
            raise ValueError(
                f"The {name} series ({SERIES[name]['file']}, {SERIES[name]['url']}) was not "
                f"found in {[str(p) for p in candidate_paths(name)]} and downloading is off; "
                "pass --data-dir DIR or --csv FILE.")
        log("NOTE: no real series is available here: using the GENERATED seasonal series "
            "(trend + season + noise), not real data. Pass --data-dir or --csv for real data.")
        return generated_series(), dict(GENERATED, dataset="generated", path=None, labels=None)
    spec = {k: v for k, v in SERIES[name].items() if k not in ("file", "url", "sha256")}
    labels, values = read_csv_series(path, spec.pop("value_column"), argument="--data-dir")
    digest = sha256_of(path)
    return values, dict(spec, dataset=name, path=str(path), sha256=digest,
                        sha256_ok=digest == SERIES[name]["sha256"], labels=labels)


def chronological_split(length, test_periods, val_periods):
    """Boundaries of the train / validation / test parts (in this order in time).

    Args:
        length: number of points of the series.
        test_periods: points of the final held-out test period.
        val_periods: points of the validation period just before it.

    Returns:
        `(train_end, val_end)`: train = [0, train_end), validation = [train_end, val_end),
        test = [val_end, length).

    Raises:
        ValueError: a period that is not a positive int or leaves no training part.
    """
    for arg, value in (("--test-periods", test_periods), ("--val-periods", val_periods)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"`{arg}` must be a positive int, got {value!r}.")
    train_end = length - test_periods - val_periods
    if train_end <= 0:
        raise ValueError(f"`--test-periods` {test_periods} + `--val-periods` {val_periods} "
                         f"leave no training part of a series of {length} points; expected "
                         f"a sum < {length}.")
    return int(train_end), int(length - test_periods)


class SeriesScaler:
    """Maps values to the model's scale and back: z = (f(y) - mean) / std.

    f is log1p (`transform="log"`) or the identity; mean and std are fit on the training part
    only. The inverse is y = f⁻¹(z · std + mean).

    Args:
        transform: "none" or "log".
        mean: mean of f(y) over the training part (set by `fit`).
        std: standard deviation of f(y) over the training part (set by `fit`).
    """

    def __init__(self, transform="none", mean=0.0, std=1.0):
        if transform not in ("none", "log"):
            raise ValueError(f"`--transform` must be 'none' or 'log', got {transform!r}.")
        self.transform, self.mean, self.std = transform, float(mean), float(std)

    def fit(self, values):
        """Fits mean and std on `values` (the training part); returns self."""
        f = self._forward(np.asarray(values, "float64"))
        self.mean = float(f.mean())
        self.std = float(f.std()) or 1.0
        return self

    def _forward(self, values):
        if self.transform == "log":
            if np.any(values <= -1.0):
                raise ValueError("`--transform log` needs values > -1 (log1p), got a minimum "
                                 f"of {values.min()}; use --transform none.")
            return np.log1p(values)
        return values

    def transform_values(self, values):
        """Original scale -> model scale (float32)."""
        return ((self._forward(np.asarray(values, "float64")) - self.mean) / self.std
                ).astype("float32")

    def inverse(self, scaled):
        """Model scale -> original scale (float64)."""
        f = np.asarray(scaled, "float64") * self.std + self.mean
        return np.expm1(f) if self.transform == "log" else f

    def get_config(self):
        """A JSON-able dict (`SeriesScaler(**config)` rebuilds it)."""
        return {"transform": self.transform, "mean": self.mean, "std": self.std}


def forecast_origins(start, end, horizon):
    """Forecast origins t (index of the last input) whose targets t+1..t+H lie in [start, end).

    Returns:
        An int array `[start - 1, ..., end - 1 - horizon]` (empty when the part is shorter
        than the horizon).
    """
    return np.arange(start - 1, end - horizon, dtype="int64")


def make_windows(values, origins, window, horizon):
    """Inputs of length W ending at each origin and the next H values.

    x_i = values[t_i - W + 1 : t_i + 1], y_i = values[t_i + 1 : t_i + 1 + H].

    Args:
        values: array `[n]` (any scale).
        origins: int array of origins t (need t - W + 1 >= 0 and t + H < n).
        window: W.
        horizon: H.

    Returns:
        `(x [N, W], y [N, H])` float32.
    """
    values = np.asarray(values, "float32")
    origins = np.asarray(origins, "int64")
    if len(origins) and (origins.min() - window + 1 < 0 or origins.max() + horizon >= len(values)):
        raise ValueError(f"windows of --window {window} and --horizon {horizon} at origins "
                         f"{origins.min()}..{origins.max()} do not fit a series of "
                         f"{len(values)} points.")
    x = values[origins[:, None] + np.arange(-window + 1, 1)[None, :]]
    y = values[origins[:, None] + np.arange(1, horizon + 1)[None, :]]
    return x, y


def split_windows(values, window, horizon, test_periods, val_periods):
    """The chronological train/validation/test windows of a raw series (original scale).

    Train ends where validation begins, and validation where the final test period begins
    (`chronological_split`); each part's windows are those whose targets t+1..t+H lie in it.

    Args:
        values: the series `[n]`.
        window: W. horizon: H.
        test_periods, val_periods: the lengths of the test and validation periods.

    Returns:
        `{"train_end", "val_end", "train", "validation", "test"}`; each part is a dict of
        `origins [N]`, `x [N, W]` (the windows) and `truth [N, H]` (their next values),
        float64.

    Raises:
        ValueError: a part holds no window (naming --window, --horizon and the periods).
    """
    values = np.asarray(values, "float64")
    n, w, h = len(values), window, horizon
    train_end, val_end = chronological_split(n, test_periods, val_periods)
    out = {"train_end": train_end, "val_end": val_end}
    for name, (start, end) in {"train": (w, train_end), "validation": (train_end, val_end),
                               "test": (val_end, n)}.items():
        origins = forecast_origins(start, end, h)
        origins = origins[origins >= w - 1]
        if len(origins) == 0:
            raise ValueError(
                f"the {name} part [{start}, {end}) of the series ({n} points) holds no window: "
                f"--window {w} and --horizon {h} need at least {h} {name} points and {w} "
                "values before them. Use a smaller --window/--horizon or longer periods "
                "(--test-periods, --val-periods).")
        out[name] = {"origins": origins,
                     "x": values[origins[:, None] + np.arange(-w + 1, 1)[None, :]],
                     "truth": values[origins[:, None] + np.arange(1, h + 1)[None, :]]}
    return out


def windows_dataset(x, y, batch_size, shuffle=False, seed=None):
    """A tf.data pipeline of `(x [B, W], y [B, H])` batches (shuffled for training)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
