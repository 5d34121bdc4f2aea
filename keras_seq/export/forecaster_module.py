"""SavedModel of the `forecaster` task: a history of values (text or floats) in, the next H
values out."""

import tensorflow as tf

from keras_seq.export.atomic import replace_dir_atomically


class ForecasterServingModule(tf.Module):
    """The task's preprocessor (parsing, checks, scaling), its `RNNForecaster`, in one graph.

    The scaling runs inside the graph (the task's `ForecasterPreprocessor`): z = (f(y) -
    mean) / std with f = log1p or the identity, the model forecasts z for the next H steps,
    and y = f⁻¹(z · std + mean) comes back. With the Gaussian head the 95 % interval
    f⁻¹(μ ± 1.96 σ) (σ = e^{s/2}, mapped through the same monotone inverse) is returned too.

    A history holding NaN or Inf (or, with the log transform, a value <= -1) is rejected:
    the call fails with `tf.errors.InvalidArgumentError` naming the problem (no NaN
    forecast comes back), and `keras-seq predict` prints it as one line.

    Args:
        task: a `keras_seq.tasks.Forecaster`.

    Call arguments:
        text (`serving_default`): `tf.string [None]`, each a list of past values separated by
            commas (or spaces/semicolons), oldest first; at least W of them (the last W are
            used).
        values (`forecast`): `float32 [None, W]` on the original scale.

    Returns:
        `{"forecast": float32 [None, H]}` plus, for `serving_default`, `"forecast_text"`
        (the values as one string) and, with the Gaussian head, `"lower_95"`/`"upper_95"`.

    Example:

    >>> ForecasterServingModule(task).save("export/")  # doctest: +SKIP
    >>> tf.saved_model.load("export/").signatures["serving_default"](
    ...     text=tf.constant(["12.1, 13.0, ..."]))  # doctest: +SKIP
    """

    def __init__(self, task):
        super().__init__(name="forecaster_serving")
        self.network = task.network  # tracks the variables
        self.forecast = tf.function(task.forecast, autograph=False, input_signature=[
            tf.TensorSpec([None, task.preprocessor.window], tf.float32, name="values")])
        self.serve = tf.function(task.serve_text, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name="text")])

    def save(self, export_dir):
        """Writes the SavedModel to `export_dir` (temp dir + rename). Returns the path."""
        def build(path):
            tf.saved_model.save(self, path, signatures={"serving_default": self.serve,
                                                        "forecast": self.forecast})
        return replace_dir_atomically(build, export_dir)
