"""What the run figures say, read from their matplotlib artists: the log-posterior trace
with its burn-in, the R-hat/ESS panels' reference lines and the prior fit's trace."""

import numpy as np
import pytest

from conftest import TINY
from experiments import config as configs
from experiments import plots, report
from experiments.experiment import Outcome
from experiments.prior_fit import PriorChoice

JUDGED = {"w1_initial": 30.0, "w1_initial_error": 1.0, "w1_final": 6.0, "w1_final_error": 0.5}


def legend_labels(axes) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def burn_in_spans(axes) -> list:
    return [patch for patch in axes.patches if "burn-in" in patch.get_label()]


def test_the_trace_is_against_the_sampler_step_with_the_burn_in_shaded(tmp_path, saved_figures):
    logdensity = np.random.default_rng(0).normal(size=(3, 20))
    plots.logdensity_trace(tmp_path / "trace.png", logdensity, burn_in=500, thin=25, title="t", full_batch=True)
    axes = saved_figures[0].axes[0]
    # Draw k (from 1) follows step burn_in + k thin: the first at 525, the last at 1000.
    for line, values in zip(axes.lines, logdensity):
        np.testing.assert_array_equal(line.get_xdata(), 500 + 25 * np.arange(1, 21))
        np.testing.assert_array_equal(line.get_ydata(), values)
    [span] = burn_in_spans(axes)
    assert (span.get_x(), span.get_x() + span.get_width()) == (0, 500)
    assert "burn-in (500 steps, not traced)" in legend_labels(axes)
    assert axes.get_xlim()[0] == 0 and "kept draws only" in axes.get_xlabel() and axes.get_ylabel()


def test_a_trace_without_burn_in_marks_none_and_many_chains_get_no_legend(tmp_path, saved_figures):
    plots.logdensity_trace(tmp_path / "none.png", np.zeros((2, 5)), burn_in=0, thin=1, title="t", full_batch=False)
    plots.logdensity_trace(tmp_path / "many.png", np.zeros((12, 5)), burn_in=10, thin=1, title="t", full_batch=False)
    without, many = (figure.axes[0] for figure in saved_figures)
    assert not burn_in_spans(without) and legend_labels(without) == ["chain 0", "chain 1"]
    assert legend_labels(many) == ["burn-in (10 steps, not traced)"]


def test_write_plots_marks_the_configs_burn_in_and_explains_a_warm_critic(tmp_path, saved_figures):
    config = configs.from_dict({**TINY, "prior": {"kind": "gpig"}})
    fit = {"trace": [5.0, 20.0, 12.0], "report": JUDGED}
    outcome = Outcome({}, None, None, np.zeros((2, 10)), PriorChoice(None, fit, None, False), {})
    report.write_plots(tmp_path, outcome, "t", config=config)
    trace, prior_fit = (figure.axes[0] for figure in saved_figures)
    [span] = burn_in_spans(trace)
    assert span.get_width() == config.sampling.burn_in == 100
    assert trace.lines[0].get_xdata()[0] == 100 + config.sampling.thin
    assert "minibatch estimate" in trace.get_ylabel()  # TINY samples on batches of 16
    assert "starts untrained" in prior_fit.get_title(loc="left")
    assert {path.name for path in (tmp_path / "plots").iterdir()} == {"trace.png", "prior_fit_trace.png"}


def test_the_diagnostics_name_their_reference_lines_and_label_both_axes(tmp_path, saved_figures):
    rng = np.random.default_rng(1)
    plots.rhat_ess_summary(tmp_path / "diagnostics.png", 1.0 + rng.exponential(0.005, 100), rng.uniform(50, 400, 100),
                           num_draws=400, title="t")
    rhat, ess = saved_figures[0].axes
    [rhat_line] = rhat.lines
    assert rhat_line.get_xdata()[0] == 1.01
    assert legend_labels(rhat) == [rhat_line.get_label()]
    label = rhat_line.get_label()
    assert label.startswith("R-hat = 1.01 (converged below") and "warns above 1.1" in label
    [ess_line] = ess.lines
    assert ess_line.get_xdata()[0] == 400 and legend_labels(ess) == [ess_line.get_label()]
    assert ess_line.get_label().startswith("ESS = 400")
    for axes in (rhat, ess):
        assert axes.get_xlabel() and axes.get_ylabel()


@pytest.mark.parametrize("warm_critic, reading",
                         [(True, "starts untrained"), (False, "A fresh critic every iteration")])
def test_the_prior_fit_trace_says_how_to_read_it_beside_the_judged_w1(tmp_path, saved_figures, warm_critic, reading):
    trace = np.array([4.0, 18.0, 25.0, 20.0, 12.0, 7.0])
    plots.wasserstein_trace(tmp_path / "fit.png", trace, judged=JUDGED, warm_critic=warm_critic, title="t")
    axes = saved_figures[0].axes[0]
    assert reading in axes.get_title(loc="left")
    assert "judged W1" in axes.get_title(loc="left")
    # The estimate at x = k is of the prior after k steps: the initial prior at 0, the fitted one at 6.
    [estimate] = [line for line in axes.lines if line.get_label() == "fitting critic's estimate"]
    np.testing.assert_array_equal(estimate.get_xdata(), np.arange(6))
    judged = axes.containers[0]
    assert judged.get_label() == "judged W1: initial and fitted prior"
    np.testing.assert_array_equal(judged.lines[0].get_xydata(), [[0, 30.0], [6, 6.0]])
    assert legend_labels(axes) == ["fitting critic's estimate", "judged W1: initial and fitted prior"]
    assert axes.get_xlabel() and axes.get_ylabel()
