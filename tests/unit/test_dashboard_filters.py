"""Cohort filters round-trip through the URL so shared links reproduce the view."""

from __future__ import annotations

from dashboard.cohort.filters import CohortFilter
from dashboard.components.shell import carry_query


def test_round_trip():
    f = CohortFilter(age_min=40, age_max=70, sex=("F",), truth=("malignant",), predicted=("benign",),
                     device=("Aurora LX-10",), birads=("4a", "5"), history=("yes",), dataset=("busbra",),
                     review=("disagree",), date_from="2024-01-01", date_to="2024-12-31")
    query = f.to_query()
    assert query.startswith("?age=40-70&sex=F")
    assert CohortFilter.from_query(query) == f


def test_empty_filter_has_no_query():
    assert CohortFilter().to_query() == "" and CohortFilter.from_query("") == CohortFilter()
    assert CohortFilter().is_empty()


def test_malformed_parameters_are_ignored():
    f = CohortFilter.from_query("?age=abc-&sex=X,F&truth=maybe&from=not-a-date&unknown=1")
    assert f.age_min is None and f.sex == ("F",) and f.truth == () and f.date_from is None


def test_open_age_range_and_dict_input():
    f = CohortFilter.from_query({"age": "-50", "birads": "4A"})
    assert (f.age_min, f.age_max) == (None, 50) and f.birads == ("4a",)
    assert f.to_query() == "?age=-50&birads=4a"


def test_from_controls_treats_full_range_as_any():
    f = CohortFilter.from_controls(age=[0, 100], sex=["F"], birads=["4A"], date_from="2024-02-03T00:00:00")
    assert f.age_min is None and f.age_max is None and f.birads == ("4a",) and f.date_from == "2024-02-03"
    assert CohortFilter.from_controls(age=[30, 100]).age_min == 30


def test_describe_reads_like_chips():
    text = CohortFilter(age_min=40, birads=("4a",), history=("yes",)).describe()
    assert text == ["age 40–…", "BI-RADS: 4a", "family history: yes"]


def test_navbar_keeps_filter_between_cohort_and_metrics():
    assert carry_query("/cohort", "?sex=F") == ("/cohort?sex=F", "/metrics?sex=F")
    assert carry_query("/case/c1", "?x=1") == ("/cohort", "/metrics")
