"""The JSON body of one Dash callback request, for benches that drive the app over HTTP.

Both bench_dashboard (Flask test client) and bench_load (real HTTP against gunicorn) send the request
the browser would send: outputs, inputs and state from the app's callback map, each filled from
`values[(component id, property)]`, the first input marked as the one that changed.
"""

from __future__ import annotations


def callback_body(app, key: str, values: dict) -> dict:
    spec = app.callback_map[key]
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in key.strip(".").split("...")]

    def fill(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get((i["id"], i["property"]))}
                for i in items]  # fmt: skip

    inputs = fill(spec["inputs"])
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": fill(spec.get("state", [])), "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}  # fmt: skip
