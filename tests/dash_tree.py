"""Finding a component by id in a Dash layout: as component objects, or as Dash serialises it (JSON)."""

from __future__ import annotations


def find_component(component, component_id):
    """The component with `component_id` in a tree of Dash component objects, or None."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            found = find_component(child, component_id)
            if found is not None:
                return found
    return None


def find_json(node, component_id):
    """The component with `component_id` in a layout or callback response as Dash serialises it
    (dicts with `props`), or None."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return node
        for value in (props or node).values():
            hit = find_json(value, component_id)
            if hit is not None:
                return hit
    elif isinstance(node, list):
        for item in node:
            hit = find_json(item, component_id)
            if hit is not None:
                return hit
    return None
