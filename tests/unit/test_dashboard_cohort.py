"""Cohort metrics for the dashboard: the fast paths give the reference answers.

The metrics page no longer calls `subgroup_table`, `operating_points` on
strings, or `bootstrap_ci` per replicate; these tests pin the fast versions
to those references on synthetic cohorts with the awkward cases (missing
ages/sex/devices, out-of-range ages, NaN Dice, ties, single-class subgroups).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import dash
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from dashboard.cohort import queries
from dashboard.cohort.filters import CohortFilter
from dashboard.cohort.curves import (
    CURVE_POINTS,
    Subgroups,
    _reader_points,
    at_threshold,
    cohort_curves,
    scored_rows,
)
from dashboard.figures.metric_charts import pr_figure, roc_figure
from dashboard.pages import metrics as metrics_page
from pipeline.metrics import average_precision, bootstrap_ci, operating_points, roc_auc, subgroup_table
from pipeline.metrics.fast import roc_curve_fast
from tests.dash_tree import find_component
from tests.fakes_predictor import fake_app


def synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """What `queries.metrics_frame` returns, with missing values where the store allows them."""
    rng = np.random.default_rng(seed)
    malignant = rng.random(n) < 0.35
    truth = np.where(malignant, "malignant", "benign").astype(object)
    truth[rng.random(n) < 0.05] = None
    truth[rng.random(n) < 0.03] = "normal"
    probability = np.clip(np.where(malignant, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
    probability[rng.random(n) < 0.04] = np.nan
    age = rng.integers(20, 95, n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    age[:3] = [-1, 131, 39.5][:n]  # implausible ages are "unknown"; 39.5 is "<40"
    sex = rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.9, 0.05, 0.05])
    device = rng.choice(np.array(["A", "B", "C", None], dtype=object), n)
    device[(device == "C") & malignant] = "B"  # device C has no malignant case: AUC/sensitivity undefined
    birads = np.where(malignant, rng.choice(["4b", "4C", "5"], n), rng.choice(["2", "3", "4a", "0"], n)).astype(object)
    birads[rng.random(n) < 0.05] = None
    dice = rng.beta(8, 2, n)
    dice[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame({
        "id": [f"c{i}" for i in range(n)], "patient_key": [f"p{i // 2}" for i in rng.permutation(n)],
        "dataset": "synthetic", "true_label": truth, "age": age, "sex": sex, "device": device, "birads": birads,
        "history": None, "has_truth_mask": True,
        "predicted": np.where(probability >= 0.5, "malignant", "benign"), "probability": probability,
        "dice": dice, "iou": dice / (2 - dice),
    })


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(1500)


@pytest.fixture(scope="module")
def curves(frame):
    return cohort_curves(frame, auc_boot=200, ap_boot=200)


def test_subgroup_rows_equal_subgroup_table(frame):
    rows = scored_rows(frame)
    y, p = rows["y"].to_numpy(), rows["p"].to_numpy()
    groups = Subgroups.build(rows, y, p)
    for threshold in (0.0, 0.1, 0.37, 0.5, 0.93, 1.0):
        expected = subgroup_table(rows, ["age_band", "sex", "device"], y_col="y", prob_col="p", dice_col="dice",
                                  threshold=threshold, n_boot=0)
        assert groups.at(y, p, threshold) == expected
    names = {(r["column"], r["subgroup"]) for r in expected}
    assert {("age_band", "unknown"), ("sex", "unknown"), ("device", "C"), ("device", "unknown")} <= names
    device_c = next(r for r in expected if r["subgroup"] == "C")
    assert device_c["auc"] is None and device_c["sensitivity"] is None


def test_reader_points_equal_operating_points_on_the_text(frame):
    rows = scored_rows(frame)
    birads = rows["birads"].astype("string").str.lower()
    usable = birads.isin(["1", "2", "3", "4", "4a", "4b", "4c", "5", "6"])
    expected = operating_points(rows.loc[usable, "y"].to_numpy(), birads[usable].to_numpy(dtype=object))
    points, n_reader = _reader_points(rows)
    assert points == expected and n_reader == int(usable.sum())
    assert [p.label for p in points] == ["2", "3", "4a", "4b", "4c", "5"]


def test_curves_use_every_case_and_keep_a_few_hundred_vertices(frame, curves):
    rows = scored_rows(frame)
    y, p = rows["y"].to_numpy(), rows["p"].to_numpy()
    assert curves.n_scored == len(rows) and curves.roc.auc == pytest.approx(roc_auc(y, p), abs=1e-12)
    assert curves.pr.average_precision == pytest.approx(average_precision(y, p), abs=1e-12)
    full = roc_curve_fast(y, p)
    assert full.fpr.size > CURVE_POINTS + 2 >= curves.roc.fpr.size
    # every kept vertex is a vertex of the exact curve, ends included
    exact = set(zip(full.fpr.tolist(), full.tpr.tolist()))
    assert set(zip(curves.roc.fpr.tolist(), curves.roc.tpr.tolist())) <= exact
    assert (curves.roc.fpr[0], curves.roc.tpr[0], curves.roc.fpr[-1], curves.roc.tpr[-1]) == (0, 0, 1, 1)
    assert curves.pr.precision.size == curves.pr.recall.size <= CURVE_POINTS + 2
    assert curves.scored is None  # the cached object does not carry the DataFrame


def test_cohort_cis_equal_the_reference_patient_bootstrap(frame, curves):
    rows = scored_rows(frame)
    y, p, patients = rows["y"].to_numpy(), rows["p"].to_numpy(), rows["patient_key"].to_numpy()
    assert curves.auc_ci == pytest.approx(bootstrap_ci(roc_auc, y, p, groups=patients, n_boot=200), abs=1e-12)
    assert curves.ap_ci == pytest.approx(bootstrap_ci(average_precision, y, p, groups=patients, n_boot=200),
                                         abs=1e-12)
    assert curves.auc_ci[0] < curves.roc.auc < curves.auc_ci[1]
    different = cohort_curves(frame, auc_boot=150, ap_boot=60)  # separate replicate counts still match
    assert different.ap_ci == pytest.approx(bootstrap_ci(average_precision, y, p, groups=patients, n_boot=60),
                                            abs=1e-12)
    assert (different.auc_boot, different.ap_boot) == (150, 60)


def test_at_threshold_and_the_marker_patches(curves):
    at = at_threshold(curves, 0.42)
    assert at.rates.tp + at.rates.fn == int(curves.y.sum()) and at.subgroups[0]["subgroup"] == "all"
    confusion, roc_patch, pr_patch, _rates, table = metrics_page.threshold_patches(curves, 0.42)
    assert "0.42" in confusion.layout.title.text and table == metrics_page.subgroup_rows(at.subgroups)
    full_roc = roc_figure(curves.roc, curves.auc_ci, curves.reader_points, (0.1, 0.2))
    full_pr = pr_figure(curves.pr, curves.ap_ci, curves.prevalence, (0.3, 0.4))
    for patch, full in ((roc_patch, full_roc), (pr_patch, full_pr)):
        assert isinstance(patch, dash.Patch)
        ops = patch.to_plotly_json()["operations"]
        (index,) = {op["location"][1] for op in ops}
        assert full.data[index].name == "current threshold"  # the patch moves the marker, nothing else
        assert {op["location"][0] for op in ops} == {"data"}


def test_empty_and_single_class_cohorts():
    empty = cohort_curves(synthetic_frame(0))
    assert empty.n_scored == 0 and metrics_page.threshold_patches(empty, 0.5)[1] is dash.no_update
    frame = synthetic_frame(60)
    frame["true_label"] = "benign"
    benign = cohort_curves(frame, auc_boot=20)
    assert benign.auc_ci is None and benign.roc.fpr.size == 0
    _confusion, roc, pr, _rates, _table = metrics_page.threshold_patches(benign, 0.5)
    assert roc is dash.no_update and pr is dash.no_update
    assert math.isnan(benign.roc.auc)


def _insert_cases(services, n: int = 30):
    """Cases with gaps (no truth, age, sex, device, BI-RADS; some without a prediction), straight into the tables."""
    from dashboard.store.tables import CaseRow, PredictionRow

    model = services.models.active_identity()

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    cases, predictions = [], []
    for i in range(n):
        case_id = f"t{i:05d}"
        cases.append(dict(
            id=case_id, dataset="t", source_case_id=str(i), patient_key=f"p{i // 3}", sha256=f"{i:064d}", width=10,
            height=10, source_format="png", true_label=[None, "benign", "malignant"][i % 3], has_truth_mask=i % 2 == 0,
            age=None if i % 7 == 0 else 30 + i, sex=None if i % 5 == 0 else "F", device=None if i % 4 == 0 else "A",
            birads=None if i % 6 == 0 else "4a", history=[None, True, False][i % 3], case_date="2024-01-01",
            created=now, meta={}))
        if i % 8:
            predictions.append(dict(
                case_id=case_id, model_name=model[0], model_version=model[1], label="benign", probability=i / 30,
                uncertainty=0.1, lesion_found=True, area_px=1, dice=None if i % 5 == 0 else 0.5, iou=None,
                timings_ms={}, summary={}, created=now))
    with services.store.sessions() as session:
        session.execute(insert(CaseRow), cases)
        session.execute(insert(PredictionRow), predictions)
        session.commit()
    return model


def test_metrics_frame_is_the_row_by_row_frame(tmp_path):
    services = fake_app(tmp_path).server.extensions["lesionlens"]
    model = _insert_cases(services)
    got = queries.metrics_frame(services.store, CohortFilter(), model)
    query = queries.apply_filter(queries.joined(model, queries.METRIC_COLUMNS), CohortFilter())
    with services.store.sessions() as session:
        rows = session.execute(query).all()
    expected = pd.DataFrame(rows, columns=[c.key for c in queries.METRIC_COLUMNS])
    pd.testing.assert_frame_equal(got, expected)
    assert queries.metrics_frame(services.store, CohortFilter(sex=("X",)), model).empty


@pytest.mark.parametrize("query", [{}, {"age": "0-100", "sex": "F"}, {"age": "35-50", "device": "A"}])
def test_cohort_layout_holds_the_first_page_the_callback_would_send(tmp_path, query):
    from dashboard import ids
    from dashboard.pages import cohort as cohort_page
    from tests.auth_helpers import as_user

    app = fake_app(tmp_path)
    services = app.server.extensions["lesionlens"]
    _insert_cases(services, 40)
    with as_user(app, "viewer"):
        page = cohort_page.layout(**query)
        f = CohortFilter.from_query(query)
        values = {name: cohort_page.panel_value(f, name) for name, _ in cohort_page.FILTER_INPUTS}
        expected = cohort_page.table_state(services, cohort_page.filter_from_controls(values, (None, None)))
    table = find_component(page, ids.COHORT_TABLE)
    assert table.data == expected[0] and table.page_count == expected[1] and table.data
    assert find_component(page, ids.COHORT_COUNT).children == expected[3]
    if query.get("age") == "0-100":  # the full slider means any age, unknown ages included
        assert expected[3] == f"{sum(1 for i in range(40) if i % 5)} cases"
