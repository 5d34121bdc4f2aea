"""Validation MAE/RMSE on the original scale and a forecast-vs-truth figure in TensorBoard."""

import io

import keras
import numpy as np
import tensorflow as tf


def forecast_figure_png(time_index, truth, forecasts, title, band=None, history=None,
                        ylabel="value", path=None):
    """Draws truth vs forecasts (matplotlib, Agg) and returns the PNG bytes.

    Args:
        time_index: x positions `[N]` of the forecast targets.
        truth: the true values `[N]`.
        forecasts: dict label -> values `[N]` (e.g. model, persistence, seasonal naive).
        title: figure title.
        band: optional `(lower [N], upper [N], label)` shaded around the model.
        history: optional `(x [M], y [M])` of values before the period, drawn in grey.
        ylabel: y-axis label.
        path: also write the PNG here when given.

    Returns:
        The PNG bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_index = np.asarray(time_index)
    zoom = len(time_index) > 240  # long periods: the whole period + its first 120 points
    fig, axes = plt.subplots(2 if zoom else 1, 1, figsize=(11, 7.5 if zoom else 4.2),
                             squeeze=False)
    styles = {"model": dict(color="tab:blue", lw=1.4), "persistence": dict(
        color="tab:orange", lw=1.0, ls="--"), "seasonal naive": dict(color="tab:green", lw=1.0,
                                                                       ls=":")}
    for row, ax in enumerate(axes[:, 0]):
        part = slice(0, 120) if row == 1 else slice(None)
        if history is not None and row == 0:
            ax.plot(history[0], history[1], color="0.65", lw=1.0, label="history")
        if band is not None:
            ax.fill_between(time_index[part], np.asarray(band[0])[part],
                            np.asarray(band[1])[part], color="tab:blue", alpha=0.2,
                            label=band[2])
        ax.plot(time_index[part], np.asarray(truth)[part], color="black", lw=1.4, label="truth")
        for label, values in forecasts.items():
            key = next((k for k in styles if label.startswith(k)), None)
            ax.plot(time_index[part], np.asarray(values)[part], label=label,
                    **styles.get(key, {"lw": 1.0}))
        ax.set_title(title if row == 0 else "zoom: the first 120 points of the period",
                     fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("time step")
        ax.legend(fontsize=8, loc="upper left", ncol=3)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    data = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data


def write_png_summary(log_dir, tag, png, step):
    """Writes PNG bytes as a TensorBoard image summary."""
    image = tf.image.decode_png(png, channels=4)[None]  # (1, H, W, 4)
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.image(tag, image, step=step)
    writer.flush()
    writer.close()


class ForecastEvaluation(keras.callbacks.Callback):
    """After every epoch: validation MAE and RMSE on the ORIGINAL scale, to TensorBoard.

    With windows x (scaled) and truth y (original scale), the model's point forecast ẑ is
    mapped back, ŷ = inverse(ẑ), and MAE = mean|y - ŷ|, RMSE = sqrt(mean (y - ŷ)²) over all
    (origin, step) pairs. The values go to `log_dir/validation` as `epoch_mae_original` and
    `epoch_rmse_original`, into the epoch `logs` (`val_mae_original`, `val_rmse_original`,
    so History/CSVLogger keep them) and, every `figure_every` epochs and at the end, a
    forecast-vs-truth image of the last step of the horizon (`forecast_vs_truth/validation`).

    Args:
        log_dir: TensorBoard folder of the run (the summaries go to its `validation/`).
        x: scaled validation windows `[N, W]`.
        y: validation truth `[N, H]` on the original scale.
        inverse: function mapping scaled values back to the original scale.
        time_index: x positions `[N]` of the first target of each window (for the figure).
        figure_every: epochs between two figures (0 = only at the end).
        log: printer for one line per epoch, or None.

    Example:

    >>> model.fit(ds, callbacks=[ForecastEvaluation("logs", xv, yv, scaler.inverse,
    ...                                             origins + 1)])  # doctest: +SKIP
    """

    def __init__(self, log_dir, x, y, inverse, time_index, figure_every=10, log=None):
        super().__init__()
        self.log_dir = str(log_dir)
        self.x, self.y, self.inverse = x, np.asarray(y, "float64"), inverse
        self.time_index = np.asarray(time_index)
        self.figure_every, self.log = figure_every, log
        self._writer = None
        self.history = []

    def _predict(self):
        out = np.asarray(self.model.predict(self.x, verbose=0, batch_size=256), "float64")
        return self.inverse(out[..., 0] if out.ndim == 3 else out)

    def on_epoch_end(self, epoch, logs=None):
        pred = self._predict()
        mae = float(np.mean(np.abs(pred - self.y)))
        rmse = float(np.sqrt(np.mean((pred - self.y) ** 2)))
        self.history.append({"epoch": epoch, "mae": mae, "rmse": rmse})
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/validation")
        with self._writer.as_default():
            tf.summary.scalar("epoch_mae_original", mae, step=epoch)
            tf.summary.scalar("epoch_rmse_original", rmse, step=epoch)
        self._writer.flush()
        if logs is not None:
            logs["val_mae_original"], logs["val_rmse_original"] = mae, rmse
        if self.log is not None:
            self.log(f"epoch {epoch + 1}: validation MAE {mae:.4f}, RMSE {rmse:.4f} "
                     "(original scale)")
        if self.figure_every and (epoch + 1) % self.figure_every == 0:
            self._figure(epoch, pred)

    def _figure(self, step, pred=None):
        pred = self._predict() if pred is None else pred
        h = self.y.shape[1]
        png = forecast_figure_png(self.time_index + h - 1, self.y[:, -1],
                                  {f"model ({h}-step)": pred[:, -1]},
                                  f"validation period, epoch {step + 1}: forecast vs truth")
        write_png_summary(f"{self.log_dir}/validation", "forecast_vs_truth/validation", png,
                          step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.history:
            self._figure(self.history[-1]["epoch"])
