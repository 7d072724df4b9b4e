"""The type of every callback input: checked by the request guard before Dash runs the callback.

Why: a callback request is JSON the client writes. The browser only ever
sends what the components produce (a slider a finite number, a checklist a
list of strings, a store what the server put in it), but a crafted request
can put `inf`, `"abc"`, `1e30`, a dict or a 20 kB string in any slot, and
each callback parsing its own inputs answered some of those with a 500 and a
traceback. Checking the shape of the request and the type of each value in
one place, from one table (like the roles in roles.py), turns all of them
into a 400 with a sentence, and a callback can trust its arguments' types.

`TYPES` maps (component id, property) to a check; `BY_PROPERTY` covers the
properties whose type does not depend on the component (n_clicks, pathname,
page_current, ...). A slot in neither is refused (fail closed), and
tests/unit/test_fuzz_callbacks.py fails while any registered callback has
such a slot. Values must also be within what the page can produce (finite
numbers within the slider's range, strings within the input's length).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

Check = Callable[[Any], bool]
CASE_ID = re.compile(r"^[a-z0-9_-]{4,32}$")
MAX_TEXT = 5000


def none_or(check: Check) -> Check:
    return lambda v: v is None or check(v)


def integer(low: int, high: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def number(low: float, high: float) -> Check:
    return lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and low <= v <= high)


def text(max_len: int = MAX_TEXT, pattern: str | None = None) -> Check:
    compiled = re.compile(pattern) if pattern else None
    return lambda v: isinstance(v, str) and len(v) <= max_len and (compiled is None or bool(compiled.fullmatch(v)))


def choice(*values) -> Check:
    return lambda v: isinstance(v, str) and v in values


def list_of(check: Check, max_items: int = 100) -> Check:
    return lambda v: isinstance(v, list) and len(v) <= max_items and all(check(x) for x in v)


def record(required: dict[str, Check] | None = None, optional: dict[str, Check] | None = None) -> Check:
    """A dict with exactly these keys (optional ones may be missing)."""
    required, optional = required or {}, optional or {}

    def check(v) -> bool:
        if not isinstance(v, dict) or not set(required) <= set(v) or not set(v) <= set(required) | set(optional):
            return False
        return all(({**required, **optional}[k])(x) for k, x in v.items())

    return check


def anything(v) -> bool:  # component trees the server rendered (read as a trigger only); size bounded by the body
    return True


CLICKS = none_or(integer(0, 2 ** 31))
DATE = none_or(text(32, r"\d{4}-\d{2}-\d{2}([T ][0-9:.]{0,15})?"))
QUERY = none_or(text(4000, r"(\?.*)?"))
CASE = text(32, CASE_ID.pattern)
LABELS = ("benign", "malignant", "normal")
SHORT = none_or(list_of(text(200), 200))  # checklist / multi-dropdown values
BATCH_ITEM = record({"name": text(1000)}, {"case_id": none_or(CASE), "error": none_or(text(2000)),
                                            "existing": none_or(lambda v: isinstance(v, bool))})

BY_PROPERTY: dict[str, Check] = {
    "n_clicks": CLICKS,
    "n_intervals": CLICKS,
    "pathname": text(2000, r"/.*"),
    "search": QUERY,
    "page_current": none_or(integer(0, 10 ** 6)),
    "page_size": none_or(integer(1, 1000)),
    "start_date": DATE,
    "end_date": DATE,
    "children": anything,
    "label": none_or(text(200)),
}

TYPES: dict[tuple[str, str], Check] = {
    # new case
    ("new-upload", "contents"): none_or(lambda v: text(400 * 1024 * 1024)(v) or list_of(text(400 * 1024 * 1024), 1000)(v)),
    ("new-upload", "filename"): none_or(lambda v: text(1000)(v) or list_of(text(1000), 1000)(v)),
    ("new-age", "value"): none_or(lambda v: number(-1e6, 1e6)(v) or text(20)(v)),
    ("new-sex", "value"): none_or(text(20)),
    ("new-history", "value"): none_or(lambda v: list_of(text(40), 10)(v) or isinstance(v, bool) or text(20)(v)),
    ("new-symptoms", "value"): none_or(text(MAX_TEXT)),
    ("new-batch", "data"): none_or(record({"items": list_of(BATCH_ITEM, 1000)}, {"started": number(0, 1e12)})),
    # case page
    ("case-id", "data"): CASE,
    ("case-overlay-style", "value"): none_or(choice("fill", "contour", "both", "none")),
    ("case-opacity", "value"): none_or(number(0, 1)),
    ("case-level", "value"): none_or(number(-1e9, 1e9)),
    ("case-width", "value"): none_or(number(0, 2e9)),
    ("review-agree", "value"): none_or(choice("agree", "disagree")),
    ("review-label", "value"): none_or(choice(*LABELS)),
    ("review-note", "value"): none_or(text(MAX_TEXT)),
    ("review-user", "value"): none_or(text(200)),
    ("case-delete-typed", "value"): none_or(text(64)),  # the typed confirmation (pages/case_delete.py)
    ("ll-reviewer-name", "data"): none_or(text(200)),
    # cohort
    ("cohort-age", "value"): none_or(list_of(number(0, 150), 2)),
    ("cohort-age-min", "value"): none_or(number(-1e6, 1e6)),  # dbc.Input(type="number"): a number or None
    ("cohort-age-max", "value"): none_or(number(-1e6, 1e6)),
    ("cohort-sex", "value"): SHORT,
    ("cohort-truth", "value"): SHORT,
    ("cohort-predicted", "value"): SHORT,
    ("cohort-device", "value"): SHORT,
    ("cohort-birads", "value"): SHORT,
    ("cohort-history", "value"): SHORT,
    ("cohort-dataset", "value"): SHORT,
    ("cohort-review", "value"): SHORT,
    ("cohort-table", "sort_by"): none_or(list_of(record({"column_id": text(100), "direction": choice("asc", "desc")}),
                                                 10)),
    ("cohort-table", "active_cell"): none_or(record({"row": integer(0, 10 ** 6), "column": integer(0, 1000),
                                                     "column_id": text(100)}, {"row_id": anything})),
    ("cohort-table", "data"): none_or(list_of(lambda row: isinstance(row, dict) and len(row) <= 100, 10 ** 4)),
    ("cohort-location", "data"): QUERY,
    # metrics
    ("metrics-threshold", "value"): none_or(number(0, 1)),
    ("metrics-filter", "data"): QUERY,
    # models, jobs, admin
    ("models-select", "value"): none_or(text(200)),
    ("jobs-current", "data"): none_or(text(40, r"j[0-9a-f]{1,32}")),
    ("jobs-kind", "value"): none_or(text(40)),
    ("jobs-model", "value"): none_or(text(200)),
    ("jobs-filter", "value"): none_or(text(4000)),
    ("jobs-source", "value"): none_or(text(4000)),
    ("jobs-limit", "value"): none_or(number(0, 1e9)),
    ("admin-username", "value"): none_or(text(256)),
    ("admin-role", "value"): none_or(text(40)),
    ("admin-audit-actor", "value"): none_or(text(256)),
    ("admin-audit-action", "value"): none_or(text(100)),
    ("admin-users-table", "data"): none_or(list_of(lambda row: isinstance(row, dict) and len(row) <= 50, 10 ** 5)),
    # Dash's pages router
    ("_pages_store", "data"): none_or(lambda v: isinstance(v, dict) and len(v) <= 20),
}


def check_for(component_id: str, prop: str) -> Check | None:
    return TYPES.get((component_id, prop)) or BY_PROPERTY.get(prop)


def _slot_error(spec: dict, given) -> str | None:
    if not isinstance(given, dict) or given.get("id") != spec["id"] or given.get("property") != spec["property"]:
        return f"expected {spec['id']}.{spec['property']}"
    check = check_for(spec["id"], spec["property"])
    if check is None:
        return f"{spec['id']}.{spec['property']} has no declared type"
    try:
        ok = check(given.get("value"))
    except (TypeError, ValueError, OverflowError, RecursionError):
        ok = False
    return None if ok else f"invalid value for {spec['id']}.{spec['property']}"


def problem(body: dict, entry: dict) -> str | None:
    """Why this callback request is malformed, or None. `entry` is the callback's app.callback_map entry."""
    for part, specs in (("inputs", entry.get("inputs", [])), ("state", entry.get("state", []))):
        given = body.get(part, [])
        if not isinstance(given, list) or len(given) != len(specs):
            return f"'{part}' must list {len(specs)} values"
        for spec, item in zip(specs, given):
            if not isinstance(spec.get("id"), str):
                continue  # pattern-matching ids: the callback checks its own (none in this app today)
            error = _slot_error(spec, item)
            if error:
                return error
    changed = body.get("changedPropIds", [])
    names = {f"{s['id']}.{s['property']}" for s in entry.get("inputs", []) if isinstance(s.get("id"), str)}
    if not isinstance(changed, list) or not all(isinstance(c, str) and c in names for c in changed):
        return "'changedPropIds' must name inputs of this callback"
    outputs = body.get("outputs")
    if outputs is not None and not isinstance(outputs, (dict, list)):
        return "'outputs' is malformed"
    return None
