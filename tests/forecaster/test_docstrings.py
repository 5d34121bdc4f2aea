"""The forecaster's public classes state their formula (sections: tests/test_docstrings.py)."""

import inspect

import pytest

from keras_seq.callbacks.forecast_evaluation import ForecastEvaluation
from keras_seq.data.timeseries import SeriesScaler
from keras_seq.export.forecaster_module import ForecasterServingModule
from keras_seq.models.rnn_forecaster import RNNForecaster


@pytest.mark.parametrize("cls,formula", [
    (RNNForecaster, "μ_{t+h}"),
    (ForecasterServingModule, "f⁻¹"),
    (ForecastEvaluation, "sqrt(mean"),
    (SeriesScaler, "z = (f(y) - mean) / std"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_docstring_states_the_formula(cls, formula):
    assert formula in inspect.getdoc(cls)
