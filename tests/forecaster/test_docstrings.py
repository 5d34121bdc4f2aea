"""The forecaster's public classes document their API and formula; the model's example runs."""

import inspect

import pytest

from tests.docstring_checks import assert_sections

from keras_seq.callbacks.forecast_evaluation import ForecastEvaluation
from keras_seq.data.timeseries import SeriesScaler
from keras_seq.export.forecaster_module import ForecasterServingModule
from keras_seq.models.rnn_forecaster import RNNForecaster


@pytest.mark.parametrize("cls,sections,formula", [
    (RNNForecaster, ("Args:", "Call arguments:", "Returns:", "Example:"), "μ_{t+h}"),
    (ForecasterServingModule, ("Args:", "Call arguments:", "Returns:", "Example:"), "f⁻¹"),
    (ForecastEvaluation, ("Args:", "Example:"), "sqrt(mean"),
    (SeriesScaler, ("Args:",), "z = (f(y) - mean) / std"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_docstring_sections_and_formula(cls, sections, formula):
    assert_sections(cls, sections)
    assert formula in inspect.getdoc(cls)

