"""Which registered page a path names, with its path variables and query: for the first-load render.

`shell.first_page()` renders the requested page into the first `/_dash-layout` answer, so it must pick
the page exactly as Dash's pages router would. The router's rules, applied here to the public
`dash.page_registry` (registration order, first match wins):

* a page with a `path_template` matches when the path fits the template with each `<name>` standing for
  any text, which becomes the variable `name`;
* otherwise its `path` must equal the path, slashes stripped at both ends;
* the query string becomes keyword arguments, a key given once as a string, given twice as a list.

Written out rather than calling Dash's private helpers, which may change in any release;
tests/unit/test_page_match.py checks these rules on every page the app registers.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from typing import Any
from urllib.parse import parse_qs

import dash

VARIABLE = re.compile(r"<(.*?)>")


def template_variables(path: str, template: str) -> dict[str, str] | None:
    """The `<name>` values of `path` under `template` (both without the outer slashes), or None."""
    if not fnmatch(path, VARIABLE.sub("*", template)):
        return None
    found = re.findall(VARIABLE.sub("(.*)", template), path)
    if not found:
        return None
    values = found[0] if isinstance(found[0], tuple) else tuple(found)
    return dict(zip(VARIABLE.findall(template), values))


def match_page(path: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(registry entry, path variables) of the page `path` (relative to the app, no outer slashes) names."""
    for page in dash.page_registry.values():
        if page.get("path_template"):
            variables = template_variables(path, page["path_template"].strip("/"))
            if variables:
                return page, variables
        if path == page["path"].strip("/"):
            return page, {}
    return None, {}


def query_arguments(search: str) -> dict[str, str | list[str]]:
    """`?a=1&b=2&b=3` -> {"a": "1", "b": ["2", "3"]}: what a page layout receives as keyword arguments."""
    if not search.startswith("?"):
        return {}
    parsed = parse_qs(search[1:], keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}
