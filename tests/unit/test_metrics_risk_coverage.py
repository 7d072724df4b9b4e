"""Risk-coverage curve: exact values on small cases, ties, random and oracle references."""

import numpy as np
import pytest

from pipeline.metrics.risk_coverage import classification_errors, risk_coverage


def test_hand_computed_curve():
    rc = risk_coverage([0.1, 0.2, 0.3, 0.4], [False, True, False, True])
    np.testing.assert_allclose(rc.risk, [0, 1 / 2, 1 / 3, 2 / 4])
    np.testing.assert_allclose(rc.coverage, [0.25, 0.5, 0.75, 1.0])
    assert rc.aurc == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    assert rc.random_aurc == 0.5 and rc.errors == 2 and rc.n == 4
    assert rc.oracle_aurc == pytest.approx((0 + 0 + 1 / 3 + 2 / 4) / 4)
    assert rc.error_auc == pytest.approx(0.75)  # pairs (err, ok): (0.2,0.1) yes, (0.2,0.3) no, (0.4,*) yes yes
    assert rc.risk_at(0.5) == 0.5 and rc.risk_at(1.0) == 0.5


def test_perfect_uncertainty_is_the_oracle_and_inverted_is_worse_than_random():
    errors = np.array([False] * 8 + [True] * 2)
    good = risk_coverage(np.arange(10), errors)
    assert good.aurc == pytest.approx(good.oracle_aurc) and good.gain == pytest.approx(1.0) and good.error_auc == 1.0
    bad = risk_coverage(-np.arange(10), errors)
    assert bad.aurc > bad.random_aurc and bad.gain < 0 and bad.error_auc == 0.0


def test_constant_uncertainty_gives_the_random_curve_whatever_the_order():
    errors = np.array([True, False, False, True, False, False, False, True])
    rc = risk_coverage(np.full(8, 0.1), errors)
    np.testing.assert_allclose(rc.risk, np.full(8, 3 / 8))
    assert rc.aurc == pytest.approx(rc.random_aurc) and rc.error_auc == 0.5
    assert risk_coverage(np.full(8, 0.1), errors[::-1]).aurc == pytest.approx(rc.aurc)


def test_informative_uncertainty_on_simulated_predictions():
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 0.3, 2000)
    errors = rng.random(2000) < 0.05 + 2 * u  # error probability grows with uncertainty
    rc = risk_coverage(u, errors)
    assert rc.aurc < rc.random_aurc and 0.1 < rc.gain < 1 and rc.error_auc > 0.7
    assert rc.risk_at(0.5) < rc.risk_at(1.0)
    d = rc.to_dict(points=11)
    assert len(d["coverage"]) == 11 and d["coverage"][-1] == 1.0 and d["risk"][-1] == pytest.approx(errors.mean(), abs=1e-4)
    assert set(d["risk_at"]) == {"50%", "80%", "90%"}


def test_errors_at_threshold_and_bad_inputs():
    np.testing.assert_array_equal(classification_errors([0.2, 0.7, 0.5], [1, 1, 0], 0.5), [True, False, True])
    with pytest.raises(ValueError):
        risk_coverage([0.1, 0.2], [True])
    with pytest.raises(ValueError):
        risk_coverage([], [])
    with pytest.raises(ValueError):
        risk_coverage([np.nan], [True])
    one_class = risk_coverage([0.1, 0.2], [False, False])
    assert np.isnan(one_class.error_auc) and one_class.aurc == 0 and np.isnan(one_class.gain)


def test_dashboard_risk_coverage_figure():
    pytest.importorskip("plotly")
    from dashboard.figures.metric_charts import risk_coverage_figure

    rng = np.random.default_rng(2)
    u = rng.uniform(0, 0.2, 500)
    errors = rng.random(500) < u * 2
    fig = risk_coverage_figure(u, errors, 0.42, flagged=3)
    title = fig.layout.title.text
    assert "at threshold 0.42" in title and "500 cases" in title and "3 flagged unlike training" in title
    names = [t.name for t in fig.data]
    assert names[0].startswith("random order") and names[-1].startswith("by uncertainty (AURC")
    curve = fig.data[-1]
    assert len(curve.x) <= 200 and curve.y[0] < curve.y[-1]  # certain cases first: fewer errors
    unknown = risk_coverage_figure(np.full(3, np.nan), np.zeros(3, bool))
    assert "needs labelled cases" in unknown.layout.annotations[0].text
