"""The first-load render picks the page the pages router would: same rules, on every page the app registers."""

from __future__ import annotations

import dash
import pytest

from dashboard.components.page_match import match_page, query_arguments, template_variables

PATHS = [
    "",
    "cohort",
    "metrics",
    "models",
    "jobs",
    "admin",
    "404",
    "case/bus_0001-l",
    "case/a%20b",
    "case/",
    "cohort/extra",
    "nothing-here",
    "case",
]
QUERIES = ["", "?", "?a=1", "?a=1&b=2&b=3", "?empty=&x=%2F", "no-question-mark=1"]


def test_every_registered_page_is_found_by_its_own_path(app):
    assert dash.page_registry
    for page in dash.page_registry.values():
        if page.get("path_template"):
            continue
        found, variables = match_page(page["path"].strip("/"))
        assert found is page and variables == {}
    case, variables = match_page("case/bus_0001-l")
    assert case is not None and case["path_template"] == "/case/<case_id>" and variables == {"case_id": "bus_0001-l"}
    assert match_page("nothing-here") == (None, {})


def test_same_answers_as_dashs_own_router_while_it_ships_one(app):
    from dash import _pages  # tests may read Dash's internals: the app may not

    router = getattr(_pages, "_path_to_page", None)
    parse = getattr(_pages, "_parse_query_string", None)
    if router is None or parse is None:
        pytest.skip("this Dash release no longer has the private router functions: the rules above still hold")
    for path in PATHS:
        theirs, their_variables = router(path)
        ours, our_variables = match_page(path)
        assert ours is theirs or (ours is None and theirs == {}), path
        assert our_variables == (their_variables or {}), path
    for search in QUERIES:
        assert query_arguments(search) == parse(search), search


def test_template_variables_bind_names_and_refuse_other_shapes():
    assert template_variables("case/42", "case/<case_id>") == {"case_id": "42"}
    assert template_variables("a/1/b/2", "a/<x>/b/<y>") == {"x": "1", "y": "2"}
    assert template_variables("cohort", "case/<case_id>") is None
    assert query_arguments("?k=v&k=w&one=1") == {"k": ["v", "w"], "one": "1"}
