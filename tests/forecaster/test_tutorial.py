"""tutorials/time_series_forecasting.py --quick runs end to end and writes its figures."""

import pytest

from tests.tutorial_runner import assert_figures, run_tutorial


@pytest.mark.slow  # repeats the application's own end-to-end test
def test_forecasting_tutorial_quick(tmp_path):
    out = run_tutorial("time_series_forecasting.py", tmp_path, steps=5)
    for needle in ("persistence     ŷ_{t+h} = y_t", "beats both?", "95 % interval coverage",
                   "forecast_text:", "signatures: ['forecast', 'serving_default']"):
        assert needle in out
    assert_figures(tmp_path, ("forecasting_series_split.png", "forecasting_vs_baselines.png",
                              "forecasting_uncertainty.png"))
