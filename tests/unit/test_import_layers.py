"""The layers stay layers: no import circle inside `dashboard/`, `pipeline/` or `training/`, and nothing imports upward.

Why: an import circle (`jobs.core` -> the import CLI -> the app factory -> the
pages -> the Jobs page -> `jobs.core`) worked only because most of its edges
were imports inside functions, and made a Celery worker build the whole Dash
app. Function-level imports count here too: they hide a circle, they do not
remove it. `pipeline` is the inference library (no Dash, Flask, dashboard or
training), the dashboard never imports `training`, and `training` never imports the dashboard.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.paths import REPO_ROOT

PACKAGES = ("dashboard", "pipeline", "training")
FORBIDDEN = {
    "pipeline": {"dash", "dash_bootstrap_components", "dash_table", "flask", "dashboard", "training"},
    "dashboard": {"training"},
    "training": {"dash", "dash_bootstrap_components", "dashboard"},
}
# Private Dash modules (`dash._x`, `dash.dash`'s underscored names) a module may import, each with the reason
# and the test that fails when a Dash upgrade moves it. Empty: the first-load render matches pages itself
# (dashboard/components/page_match.py).
PRIVATE_DASH_ALLOWED: dict[str, set[str]] = {}
# Circles allowed, each with the reason it is harmless. Empty: fix a new circle by moving the shared code
# down a layer (a service, `dashboard/cohort/`), not by adding it here.
ALLOWED_CYCLES: list[set[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO_ROOT / package).rglob("*.py"))}


def imports_of(path: Path, name: str) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import statement in the file, functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            out.extend((base, alias.name) for alias in node.names)
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between package modules: `from a.b import c` goes to a.b.c when that is a module, else to a.b;
    `import a.b.c` to the longest prefix that is a module."""

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph = {}
    for name, path in modules.items():
        edges = set()
        for module, imported in imports_of(path, name):
            full = f"{module}.{imported}" if imported else module
            edges.add(full if full in modules else resolve(module))
        graph[name] = edges - {None, name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    modules = package_modules()
    graph = import_graph(modules)
    # dashboard/jobs/runner.py imports its task functions inside main(): still an edge
    assert "dashboard.jobs.tasks" in graph["dashboard.jobs.runner"]
    # `from dashboard.auth import csrf` is an edge to the module csrf, not to the package's __init__
    assert "dashboard.auth.csrf" in graph["dashboard.factory"]


def test_no_import_circle_in_dashboard_pipeline_or_training():
    found = [c for c in cycles(import_graph(package_modules())) if c not in ALLOWED_CYCLES]
    assert not found, "import circles (move the shared code down a layer): " + "; ".join(
        " <-> ".join(sorted(c)) for c in found
    )


def test_nothing_imports_upward():
    wrong = []
    for name, path in package_modules().items():
        top = name.split(".")[0]
        for module, _imported in imports_of(path, name):
            if module.split(".")[0] in FORBIDDEN[top]:
                wrong.append(f"{name} imports {module}")
    assert not wrong, wrong


def private_dash_imports(name: str, path: Path) -> set[str]:
    """`dash._x` modules, underscored names from `dash`, the internal module `dash.dash` (its `_ID_*`
    constants), and `dash._x` attribute reads."""
    out = set()
    for module, imported in imports_of(path, name):
        if module.startswith("dash._") or module == "dash.dash":
            out.add(module)
        elif module == "dash" and imported and (imported.startswith("_") or imported == "dash"):
            out.add(f"dash.{imported}")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "dash":
            if node.attr.startswith("_"):
                out.add(f"dash.{node.attr}")
    return out


def test_dashboard_uses_public_dash_api():
    """A Dash upgrade may move anything private: `dash._get_app`, `dash._utils`, ... are not used."""
    found = {}
    for name, path in package_modules().items():
        private = private_dash_imports(name, path) - PRIVATE_DASH_ALLOWED.get(name, set())
        if private:
            found[name] = sorted(private)
    assert not found, found


def test_no_page_registers_redirects():
    """`dash.register_page(redirect_from=...)` adds the redirects to `dash.get_app()`, i.e. whichever app served
    the last request in this process, not necessarily the app being built (dashboard/factory.py)."""
    for name, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "register_page":
                assert not any(k.arg == "redirect_from" for k in node.keywords), name


def test_callback_keys_are_parsed_as_dash_does():
    from dash._utils import split_callback_id  # private on purpose: this test is the alarm if Dash changes it

    from dashboard.auth.roles import callback_output_ids

    for key in (
        "case-id.data",
        "..a.children...b.value..",
        '..{"index":1,"type":"row"}.children...x.y..',
        "nav.href@3f2a1c",
    ):
        parts = split_callback_id(key)
        assert callback_output_ids(key) == [p["id"] for p in (parts if isinstance(parts, list) else [parts])]


def test_the_app_is_warmed_through_public_flask_api(tmp_path):
    """create_app runs Dash's first-request setup (the pages router's callback exists before any request)."""
    from tests.fakes_predictor import fake_app

    app = fake_app(tmp_path)
    assert any("_pages_content.children" in key for key in app.callback_map)
