"""SavedModel of a forecaster: a history of values (text or floats) in, the next H values out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically

Z_95 = 1.959963984540054  # the 97.5 % quantile of N(0, 1)


class ForecasterServingModule(tf.Module):
    """Wraps a trained `RNNForecaster` and its scaler into a plain-TensorFlow model.

    The scaling runs inside the graph: z = (f(y) - mean) / std with f = log1p or the identity,
    the model forecasts z for the next H steps, and y = f⁻¹(z · std + mean) comes back. With
    the Gaussian head the 95 % interval f⁻¹(μ ± 1.96 σ) (σ = e^{s/2}, mapped through the same
    monotone inverse) is returned too.

    A history holding NaN or Inf (or, with the log transform, a value <= -1) is rejected:
    the call fails with `tf.errors.InvalidArgumentError` naming the problem (no NaN
    forecast comes back), and `keras-seq predict` prints it as one line.

    Args:
        model: a Keras model mapping scaled windows `[B, W]` to `[B, H]` (or `[B, H, 2]`:
            mean and log-variance, with `gaussian=True`).
        scaler: a dict with "transform" ("none" or "log"), "mean" and "std" (as
            `SeriesScaler.get_config()` returns).
        window: W, the number of past values the model reads.
        horizon: H, the number of values it forecasts.
        gaussian: whether the model has the Gaussian head.

    Call arguments:
        text (`serving_default`): `tf.string [None]`, each a list of past values separated by
            commas (or spaces/semicolons), oldest first; at least W of them (the last W are
            used).
        values (`forecast`): `float32 [None, W]` on the original scale.

    Returns:
        `{"forecast": float32 [None, H]}` plus, for `serving_default`, `"forecast_text"`
        (the values as one string) and, with the Gaussian head, `"lower_95"`/`"upper_95"`.

    Example:

    >>> ForecasterServingModule(model, scaler.get_config(), 30, 1).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["12.1, 13.0, ..."]))  # doctest: +SKIP
    """

    def __init__(self, model, scaler, window, horizon, gaussian=False):
        super().__init__(name="forecaster_serving")
        if scaler.get("transform") not in ("none", "log"):
            raise ValueError(f"`scaler['transform']` must be 'none' or 'log', got {scaler!r}.")
        for arg, value in (("window", window), ("horizon", horizon)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{arg}` must be a positive int, got {arg}={value!r}.")
        self.model = model
        self.window, self.horizon, self.gaussian = window, horizon, bool(gaussian)
        self.log = scaler["transform"] == "log"
        self.mean = tf.constant(float(scaler["mean"]), tf.float32)
        self.std = tf.constant(float(scaler["std"]), tf.float32)
        self.forecast = tf.function(
            self._forecast, input_signature=[tf.TensorSpec([None, window], tf.float32,
                                                           name="values")])
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    def _to_scaled(self, values):
        values = tf.debugging.assert_all_finite(
            values, "values: every past value must be a finite number (got NaN or Inf)")
        if self.log:
            with tf.control_dependencies([tf.debugging.assert_greater(
                    values, tf.constant(-1.0, values.dtype),
                    message="values: this model forecasts log1p(values), so every past "
                            "value must be > -1")]):
                f = tf.math.log1p(values)
        else:
            f = values
        return (f - self.mean) / self.std

    def _from_scaled(self, z):
        f = z * self.std + self.mean
        return tf.math.expm1(f) if self.log else f

    def _forecast(self, values):
        out = tf.cast(self.model(self._to_scaled(values), training=False), tf.float32)
        if not self.gaussian:
            return {"forecast": self._from_scaled(out)}  # (B, H)
        mean, sigma = out[..., 0], tf.exp(0.5 * out[..., 1])  # (B, H) each
        return {"forecast": self._from_scaled(mean),
                "lower_95": self._from_scaled(mean - Z_95 * sigma),
                "upper_95": self._from_scaled(mean + Z_95 * sigma)}

    def parse(self, text):
        """The last W values of each comma-separated history: float32 `[B, W]`."""
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
        starts = lengths - self.window  # take the last W values of every row
        index = starts[:, None] + tf.range(self.window, dtype=tf.int64)[None, :]  # (B, W)
        flat = tf.gather(values.flat_values, values.row_starts()[:, None] + index)
        return tf.ensure_shape(flat, [None, self.window])

    def _serve(self, text):
        out = self._forecast(self.parse(text))
        strings = tf.strings.as_string(out["forecast"], precision=3)
        out["forecast_text"] = tf.strings.reduce_join(strings, axis=1, separator=", ")
        return out

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` (temp dir + rename). Returns the path."""
        def build(path):
            tf.saved_model.save(self, path, signatures={"serving_default": self.serve,
                                                        "forecast": self.forecast})
        return replace_dir_atomically(build, export_dir)
