"""The forecaster's public classes document their API and formula; the model's example runs."""

import doctest
import inspect

import pytest

from keras_seq.callbacks.forecast_evaluation import ForecastEvaluation
from keras_seq.data.timeseries import SeriesScaler
from keras_seq.export.forecaster_module import ForecasterServingModule
from keras_seq.models import rnn_forecaster
from keras_seq.models.rnn_forecaster import RNNForecaster


@pytest.mark.parametrize("cls,sections,formula", [
    (RNNForecaster, ("Args:", "Call arguments:", "Returns:", "Example:"), "μ_{t+h}"),
    (ForecasterServingModule, ("Args:", "Call arguments:", "Returns:", "Example:"), "f⁻¹"),
    (ForecastEvaluation, ("Args:", "Example:"), "sqrt(mean"),
    (SeriesScaler, ("Args:",), "z = (f(y) - mean) / std"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_docstring_sections_and_formula(cls, sections, formula):
    doc = inspect.getdoc(cls)
    for section in sections:
        assert section in doc, f"{cls.__name__} docstring lacks {section}"
    assert formula in doc


def test_model_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(RNNForecaster, module=rnn_forecaster,
                                    globs=vars(rnn_forecaster)) if t.examples]
    assert tests
    for t in tests:
        runner.run(t)
    assert runner.failures == 0
