"""Stacked GRU/LSTM forecaster: a window of W values -> the next H values (direct multi-step)."""

import math

import keras
from keras import ops

RNN_TYPES = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
HEADS = ("mse", "gaussian")
RESIDUALS = ("none", "last", "seasonal")
LOG_VARIANCE_RANGE = (-12.0, 8.0)


def gaussian_nll(y_true, y_pred):
    """Gaussian negative log-likelihood of `y_true [B, H]` under `y_pred [B, H, 2]`.

    With μ = y_pred[..., 0] and s = y_pred[..., 1] = log σ²:
        NLL = mean over (b, h) of ½ (log 2π + s + (y - μ)² · e^{-s}).

    Args:
        y_true: targets `[B, H]`.
        y_pred: `[B, H, 2]`: the mean and the log-variance of each step.

    Returns:
        A scalar tensor (usable as a Keras loss).
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    mean, log_variance = y_pred[..., 0], y_pred[..., 1]
    nll = 0.5 * (math.log(2.0 * math.pi) + log_variance
                 + ops.square(y_true - mean) * ops.exp(-log_variance))
    return ops.mean(nll)


@keras.saving.register_keras_serializable(package="keras_seq")
class RNNForecaster(keras.Model):
    """Stacked GRU/LSTM over a window of scaled values, then a dense head for H steps.

    For an input window x_{t-W+1..t} (one feature per step):

        h_t = RNN_L(... RNN_1(x_{t-W+1..t}))            (last state of the top layer)
        μ_{t+h} = (W_μ h_t + b_μ)_h + r_{t+h}
        s_{t+h} = clip(W_s h_t + b_s)_h = log σ²_{t+h}     (`head="gaussian"` only)

    with the residual base r: 0 (`residual="none"`), the last input x_t (`"last"`: the network
    learns the change from persistence, which keeps level shifts outside the training range
    forecastable) or the input one season earlier x_{t+h-m·k}, k = ceil(h/m) (`"seasonal"`:
    the network learns the change from the seasonal-naive forecast; needs W >= m).
    With `head="mse"` train with the mean squared error; with `head="gaussian"` with
    `gaussian_nll` (the lecture's Gaussian loss: a per-step mean and log-variance, i.e. a
    predictive distribution N(μ, σ²)).

    Args:
        horizon: H, the number of future values forecast at once (direct multi-step).
        rnn: "gru" or "lstm".
        hidden_dim: units of every recurrent layer.
        num_layers: stacked recurrent layers (>= 1).
        dropout: dropout on the inputs of each recurrent layer and before the head, in [0, 1).
        head: "mse" (point forecast) or "gaussian" (mean and log-variance).
        residual: "none", "last" or "seasonal" (see above).
        season: m, the season of `residual="seasonal"` (in steps).
        **kwargs: passed to `keras.Model` (e.g. `name`, `dtype`).

    Call arguments:
        inputs: float tensor `[B, W]` or `[B, W, 1]` of scaled values (oldest first).
        training: whether dropout is active.

    Returns:
        `[B, H]` forecasts (`head="mse"`) or `[B, H, 2]` with the mean and the log-variance
        (`head="gaussian"`).

    Example:

    >>> import numpy as np
    >>> model = RNNForecaster(horizon=3, hidden_dim=8, head="gaussian")
    >>> tuple(model(np.zeros((2, 12), "float32")).shape)
    (2, 3, 2)
    >>> two = RNNForecaster(horizon=1, rnn="lstm", hidden_dim=4, num_layers=2)
    >>> tuple(two(np.zeros((5, 7))).shape)
    (5, 1)
    """

    def __init__(self, horizon=1, rnn="gru", hidden_dim=64, num_layers=1, dropout=0.0, head="mse",
                 residual="last", season=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(horizon, int) or horizon <= 0:
            raise ValueError(f"`horizon` must be a positive int, got horizon={horizon!r}.")
        if rnn not in RNN_TYPES:
            raise ValueError(f"`rnn` must be one of {sorted(RNN_TYPES)}, got rnn={rnn!r}.")
        if not isinstance(hidden_dim, int) or hidden_dim <= 0:
            raise ValueError(f"`hidden_dim` must be a positive int, got hidden_dim={hidden_dim!r}.")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"`num_layers` must be a positive int, got num_layers={num_layers!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got dropout={dropout!r}.")
        if head not in HEADS:
            raise ValueError(f"`head` must be one of {HEADS}, got head={head!r}.")
        if residual not in RESIDUALS:
            raise ValueError(f"`residual` must be one of {RESIDUALS}, got residual={residual!r}.")
        if residual == "seasonal" and (not isinstance(season, int) or season <= 0):
            raise ValueError("`season` must be a positive int with residual='seasonal', got "
                             f"season={season!r}.")
        self.horizon, self.rnn, self.num_layers = horizon, rnn, num_layers
        self.hidden_dim = hidden_dim
        self.dropout, self.head, self.residual = float(dropout), head, residual
        self.season = season
        self.rnn_layers = [
            RNN_TYPES[rnn](hidden_dim, return_sequences=i < num_layers - 1, dropout=self.dropout,
                           dtype=self.dtype_policy, name=f"{rnn}_{i}")
            for i in range(num_layers)]
        self.head_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                 name="head_dropout")
        # The heads compute in float32 (also under mixed precision): values and variances.
        self.mean_head = keras.layers.Dense(horizon, dtype="float32", name="mean_head")
        self.log_variance_head = None
        if head == "gaussian":
            self.log_variance_head = keras.layers.Dense(horizon, dtype="float32",
                                                        name="log_variance_head")

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")
        if len(x.shape) == 2:
            x = ops.expand_dims(x, -1)  # (B, W) -> (B, W, 1)
        h = ops.cast(x, self.compute_dtype)
        for layer in self.rnn_layers:
            h = layer(h, training=training)  # (B, W, U) below the top, (B, U) at the top
        h = self.head_dropout(h, training=training)
        mean = self.mean_head(h)  # (B, H)
        if self.residual == "last":
            mean = mean + x[:, -1, :1]  # + x_t, broadcast over the H steps
        elif self.residual == "seasonal":
            mean = mean + self._seasonal_base(x)  # + x_{t+h-m·k}
        if self.head == "mse":
            return mean
        log_variance = ops.clip(self.log_variance_head(h), *LOG_VARIANCE_RANGE)  # (B, H)
        return ops.stack([mean, log_variance], axis=-1)  # (B, H, 2)

    def _seasonal_base(self, x):
        """x_{t+h-m·k} for h = 1..H: `[B, H]` gathered from the window `[B, W, 1]`."""
        window, m = x.shape[1], self.season
        if window is None or window < m:
            raise ValueError(f"residual='seasonal' needs a window W >= the season m={m}, got "
                             f"W={window}.")
        index = [window - 1 + h - m * (-(-h // m)) for h in range(1, self.horizon + 1)]
        return ops.take(x[..., 0], ops.convert_to_tensor(index, "int32"), axis=1)

    def forecast_mean(self, inputs):
        """The point forecast `[B, H]` (the mean for the Gaussian head), in eval mode."""
        out = self(inputs, training=False)
        return out[..., 0] if self.head == "gaussian" else out

    def compute_output_shape(self, input_shape):
        if self.head == "gaussian":
            return (input_shape[0], self.horizon, 2)
        return (input_shape[0], self.horizon)

    def get_config(self):
        config = super().get_config()
        config.update(horizon=self.horizon, rnn=self.rnn, hidden_dim=self.hidden_dim,
                      num_layers=self.num_layers, dropout=self.dropout, head=self.head,
                      residual=self.residual, season=self.season)
        return config
