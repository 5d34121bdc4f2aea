"""The `forecaster` task: past values in (numbers or "v1, v2, ..." text), the next H out.

One preprocessor (`ForecasterPreprocessor`: parse a history, keep its last W values, check
them, scale z = (f(y) - mean) / std, and map forecasts back) serves training (windows in
`tf.data`), `predict` and the exported SavedModel.
"""

import numpy as np
import tensorflow as tf

from keras_seq.data.timeseries import SeriesScaler, make_windows
from keras_seq.tasks.task import Task

Z_95 = 1.959963984540054  # the 97.5 % quantile of N(0, 1)
RESIDUALS = {"delta": "last", "seasonal-delta": "seasonal", "level": "none"}


class ForecasterPreprocessor:
    """Histories → the scaled last W values; scaled forecasts → the original scale.

    z = (f(y) - mean) / std with f = log1p (`transform="log"`) or the identity, mean and std
    fit on the training series (`SeriesScaler`); the inverse is y = f⁻¹(z · std + mean). A
    history holding NaN or Inf (or, with the log transform, a value <= -1) is rejected:
    eagerly with a `ValueError`, inside the SavedModel with `tf.errors.InvalidArgumentError`;
    no NaN forecast comes back.

    Args:
        window: W, the number of past values the model reads.
        horizon: H, the number of values it forecasts.
        transform: "none" or "log".
        mean, std: the scaler's statistics of f(y).

    Example:

    >>> p = ForecasterPreprocessor(3, 1, mean=10.0, std=2.0)
    >>> p.parse(tf.constant(["1, 2; 12 14 16"])).numpy().tolist()
    [[12.0, 14.0, 16.0]]
    >>> p.scale(tf.constant([[12.0, 14.0, 16.0]])).numpy().tolist()
    [[1.0, 2.0, 3.0]]
    """

    def __init__(self, window, horizon=1, transform="none", mean=0.0, std=1.0):
        for arg, value in (("window", window), ("horizon", horizon)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{arg}` must be a positive int, got {arg}={value!r}.")
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError(f"`mean` and `std` must be finite and std > 0, got mean={mean!r}, "
                             f"std={std!r}.")
        self.scaler = SeriesScaler(transform, mean, std)  # checks `transform`
        self.window, self.horizon = window, horizon
        self.log = transform == "log"
        self._mean = tf.constant(self.scaler.mean, tf.float32)
        self._std = tf.constant(self.scaler.std, tf.float32)

    @classmethod
    def build_from_series(cls, series, window, horizon=1, transform="none"):
        """Fits the scaling on `series` (the training part, original scale)."""
        series = series_array(series, "series")
        scaler = SeriesScaler(transform).fit(series)
        return cls(window, horizon, transform, scaler.mean, scaler.std)

    def parse(self, text):
        """The last W values of each comma- (or space/semicolon-) separated history `[B, W]`."""
        cleaned = tf.strings.regex_replace(tf.strings.strip(text), r"[\s,;]+", ",")
        cleaned = tf.strings.regex_replace(cleaned, r"^,|,$", "")
        tokens = tf.strings.split(cleaned, ",")  # ragged (B, n_b)
        tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
        lengths = tokens.row_lengths()
        with tf.control_dependencies([tf.debugging.assert_greater_equal(
                lengths, tf.cast(self.window, tf.int64),
                message=f"text: each input needs at least {self.window} comma-separated "
                        "values (the model's window)")]):
            values = tf.strings.to_number(tokens, tf.float32)
        index = (lengths - self.window)[:, None] + tf.range(self.window, dtype=tf.int64)[None]
        flat = tf.gather(values.flat_values, values.row_starts()[:, None] + index)
        return tf.ensure_shape(flat, [None, self.window])

    def scale(self, values):
        """Original scale → model scale; fails on NaN/Inf (and values <= -1 under log)."""
        values = tf.debugging.assert_all_finite(
            tf.cast(values, tf.float32),
            "values: every past value must be a finite number (got NaN or Inf)")
        if self.log:
            with tf.control_dependencies([tf.debugging.assert_greater(
                    values, tf.constant(-1.0, values.dtype),
                    message="values: this model forecasts log1p(values), so every past "
                            "value must be > -1")]):
                values = tf.math.log1p(values)
        return (values - self._mean) / self._std

    def unscale(self, z):
        """Model scale → original scale."""
        f = z * self._std + self._mean
        return tf.math.expm1(f) if self.log else f

    def check(self, values, name="x"):
        """NumPy windows `[B, >= W]` → their last W values as float32; a ValueError on
        NaN/Inf or (log transform) values <= -1."""
        if values.ndim != 2 or values.shape[1] < self.window:
            raise ValueError(f"`{name}` must be windows of at least {self.window} values (the "
                             f"model's window) each, got shape {values.shape}.")
        values = values[:, -self.window:]
        bad = ~np.isfinite(values) | ((values <= -1.0) if self.log else False)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"`{name}` must hold finite numbers"
                             + (" > -1 (the model forecasts log1p(values))" if self.log else "")
                             + f", got {values[row, col]} in row {row}.")
        return values

    def windows(self, series, origins=None):
        """Scaled training windows of a raw series: `(x [N, W], y [N, H])` float32.

        Args:
            series: the values (original scale).
            origins: the indices t of the windows' last values (default: every t with
                W values up to t and H after it).
        """
        series = series_array(series, "x")
        w, h = self.window, self.horizon
        if origins is None:
            origins = np.arange(w - 1, len(series) - h)
        if len(origins) == 0:
            raise ValueError(f"`x` must hold at least window + horizon = {w + h} values, got "
                             f"{len(series)}.")
        try:
            scaled = self.scaler.transform_values(series)
        except ValueError as error:
            raise ValueError(f"`x`: {error}") from None
        return make_windows(scaled, origins, w, h)

    def get_config(self):
        return {"window": self.window, "horizon": self.horizon, **self.scaler.get_config()}


def series_array(values, name):
    """A raw 1-D series as float64, with one-line errors (not 1-D, empty, NaN/Inf)."""
    try:
        series = np.asarray(values, "float64")
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a 1-D series of numbers, got "
                         f"{type(values).__name__}.") from None
    if series.ndim != 1 or not len(series) or not np.isfinite(series).all():
        raise ValueError(f"`{name}` must be a non-empty 1-D series of finite numbers, got "
                         f"shape {series.shape}"
                         + (" with NaN/Inf." if series.size and
                            not np.isfinite(series).all() else "."))
    return series


class Forecaster(Task):
    """Forecasts of the next H values from raw histories: `ForecasterPreprocessor` + an
    `RNNForecaster` (a stacked GRU/LSTM over the scaled window, direct multi-step head).

    `fit` trains on a raw series (windows of it, scaled inside), or on raw windows and their
    next values, or on a `tf.data.Dataset` of raw `(window [W], next values [H])` pairs;
    `predict` takes windows (lists of at least W numbers, the last W are used) or history
    strings "v1, v2, ..." and returns what the export's `serving_default` returns.

    Args:
        network: an `RNNForecaster` with the preprocessor's horizon.
        preprocessor: a `ForecasterPreprocessor` (or its config).

    Example:

    >>> series = [10 + (t % 7) for t in range(120)]
    >>> task = Forecaster.from_series(series, window=14, hidden_dim=4)
    >>> _ = task.fit(series, epochs=1, verbose=0)
    >>> sorted(task.predict([series[-14:]]))
    ['forecast', 'forecast_text']
    """

    stem = "forecaster"

    def __init__(self, network, preprocessor):
        if isinstance(preprocessor, dict):
            preprocessor = ForecasterPreprocessor(**preprocessor)
        super().__init__(network, preprocessor)
        if getattr(network, "horizon", None) != preprocessor.horizon:
            raise ValueError(f"`network` forecasts {getattr(network, 'horizon', None)} steps "
                             f"but the preprocessor's horizon is {preprocessor.horizon}; "
                             "expected the same.")
        self.gaussian = network.head == "gaussian"
        self._outputs = None

    @classmethod
    def from_series(cls, series, *, window=None, horizon=1, transform="none", target="delta",
                    season=12, rnn="gru", hidden_dim=64, num_layers=1, dropout=0.0, loss="mse"):
        """An untrained forecaster with the application's defaults; fits the scaling.

        Args:
            series: the training values (1-D, original scale).
            window: W (default, as for a CSV series: min(24, max(2, len(series) // 10))).
            horizon: H, values forecast at once.
            transform: "none" or "log" (log1p before standardizing).
            target: "delta" (the change from the last value), "seasonal-delta" (from the
                value one season earlier; needs window >= season) or "level".
            season: m, the season of "seasonal-delta".
            rnn, hidden_dim, num_layers, dropout: the `RNNForecaster`'s architecture.
            loss: "mse" (point forecast) or "gaussian" (mean, log-variance, 95% intervals).
        """
        from keras_seq.models.rnn_forecaster import RNNForecaster

        series = series_array(series, "series")
        window = window or min(24, max(2, len(series) // 10))
        if target not in RESIDUALS or loss not in ("mse", "gaussian"):
            raise ValueError(f"`target` must be one of {sorted(RESIDUALS)} and `loss` 'mse' or "
                             f"'gaussian', got target={target!r}, loss={loss!r}.")
        if target == "seasonal-delta" and window < season:
            raise ValueError(f"target='seasonal-delta' needs window >= season, got window "
                             f"{window} and season {season}.")
        preprocessor = ForecasterPreprocessor.build_from_series(series, window, horizon,
                                                                transform)
        network = RNNForecaster(horizon=horizon, rnn=rnn, hidden_dim=hidden_dim,
                                num_layers=num_layers,
                                dropout=dropout, head="gaussian" if loss == "gaussian" else "mse",
                                residual=RESIDUALS[target], season=season)
        task = cls(network, preprocessor)
        task.build_network()
        return task

    def build_network(self):
        if not self.network.built:
            self.network(np.zeros((1, self.preprocessor.window), "float32"))

    def dataset(self, x, y=None, batch_size=32, shuffle=False, seed=None):
        """Batches `(scaled windows [B, W], scaled next values [B, H])`.

        `x` is a raw series (`y` None: every window of it), raw windows `[N, W]` with `y`
        their next values `[N, H]`, or a `tf.data.Dataset` of raw `(window, next values)`.
        """
        p = self.preprocessor
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a tf.data.Dataset of (window, "
                                 "next values) pairs.")
            data = x.map(lambda w, v: (p.scale(w), p.scale(v))).batch(batch_size)
            return data.prefetch(tf.data.AUTOTUNE), None
        if y is None:
            inputs, targets = p.windows(x)
        else:
            windows = p.check(np.asarray(x, "float64"), "x")
            targets = np.asarray(y, "float64").reshape(len(windows), -1)
            if targets.shape[1] != p.horizon or not np.isfinite(targets).all():
                raise ValueError(f"`y` must hold {p.horizon} finite next values per window, "
                                 f"got shape {np.asarray(y).shape}.")
            inputs, targets = p.scaler.transform_values(windows), \
                p.scaler.transform_values(targets)
        data = tf.data.Dataset.from_tensor_slices((inputs, targets))
        if shuffle:
            data = data.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE), None

    def compile(self, total_steps=1, learning_rate=1e-3, jit_compile="auto"):
        """Adam (clipnorm 1) at a constant rate; MSE or the Gaussian NLL; sets `trainer`."""
        import keras

        from keras_seq import runtime
        from keras_seq.models.rnn_forecaster import gaussian_nll

        if jit_compile == "auto":
            jit_compile = runtime.default_jit_compile("train")
        self.network.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
                             loss=gaussian_nll if self.gaussian else "mse",
                             jit_compile=jit_compile)
        self.trainer = self.network
        return self.trainer

    # ---- the graph of predict and of the export -----------------------------------------
    def forecast(self, values):
        """Raw windows `float32 [B, W]` → `{"forecast" [B, H]}` (+ the 95% interval)."""
        p = self.preprocessor
        out = tf.cast(self.network(p.scale(values), training=False), tf.float32)
        if not self.gaussian:
            return {"forecast": p.unscale(out)}  # (B, H)
        mean, sigma = out[..., 0], tf.exp(0.5 * out[..., 1])  # (B, H) each
        return {"forecast": p.unscale(mean), "lower_95": p.unscale(mean - Z_95 * sigma),
                "upper_95": p.unscale(mean + Z_95 * sigma)}

    def outputs(self, values):
        """`forecast` plus `forecast_text`: the values as one string ("12.345, 13.000")."""
        out = self.forecast(values)
        out["forecast_text"] = tf.strings.reduce_join(
            tf.strings.as_string(out["forecast"], precision=3), axis=1, separator=", ")
        return out

    def serve_text(self, text):
        """`serving_default`: histories `tf.string [B]` → `outputs` of their last W values."""
        return self.outputs(self.preprocessor.parse(text))

    def predict(self, x):
        """Forecasts for windows of raw values or history strings, as `serving_default`.

        Args:
            x: a list/array of windows (each at least W numbers, oldest first; the last W
                are used), or a list of strings "v1, v2, ..." (at least W values each).

        Returns:
            `{"forecast": float32 [B, H], "forecast_text": list of str}` and, with the
            Gaussian head, `"lower_95"`/`"upper_95"` (float32 [B, H]).

        Raises:
            ValueError: a history with fewer than W values, NaN/Inf (or values <= -1 under
                the log transform), or text that is not numbers.
        """
        items = list(x) if not isinstance(x, (str, bytes)) else None
        if items is None:
            raise ValueError(f"`x` must be a list of windows or history strings, got one "
                             f"string {x[:40]!r}: wrap it in a list.")
        if items and all(isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in items):
            try:
                values = self.preprocessor.parse(tf.constant(items, tf.string)).numpy()
            except (tf.errors.InvalidArgumentError, ValueError) as error:
                raise ValueError(f"`x`: {_first_line(error)}") from None
        else:
            try:
                values = np.asarray(items, "float64").reshape(len(items), -1) if items \
                    else np.zeros((0, self.preprocessor.window))
            except (TypeError, ValueError):
                raise ValueError("`x` must be equal-length windows of numbers or history "
                                 "strings, got ragged or non-numeric rows.") from None
        values = self.preprocessor.check(values).astype("float32")
        if self._outputs is None:
            self._outputs = tf.function(self.outputs, autograph=False, input_signature=[
                tf.TensorSpec([None, self.preprocessor.window], tf.float32)])
        out = self._outputs(tf.constant(values))
        return {k: ([s.decode("utf-8") for s in v.numpy()] if v.dtype == tf.string
                    else v.numpy()) for k, v in out.items()}

    def export(self, path):
        """SavedModel: `serving_default(text)` and `forecast(values)` (see the module)."""
        from keras_seq.export.forecaster_module import ForecasterServingModule

        return ForecasterServingModule(self).save(path)

    def get_config(self):
        return {"preprocessor": self.preprocessor.get_config()}


def _first_line(error):
    import re

    text = getattr(error, "message", None) or str(error)
    bad = re.search(r"could not correctly convert string: (.*?) \[Op", text)
    if bad:
        return f"each history must hold numbers, got {bad.group(1)!r}"
    return text.strip().splitlines()[0]
