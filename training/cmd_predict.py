"""`python -m training predict --model DIR FILE...`: one JSON line per image.

A file that cannot be read gives a JSON line with an `error` and the run goes
on, so a folder with one bad file still yields every other prediction.
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("files", nargs="+")


def run(args) -> int:
    from pipeline.errors import ImageLoadError
    from pipeline.io import load_image
    from pipeline.predictor import Predictor

    predictor = Predictor(args.model)
    failures = 0
    for path in args.files:
        try:
            record = load_image(path)
        except ImageLoadError as exc:
            failures += 1
            print(json.dumps({"file": path, "error": str(exc)}), flush=True)
            continue
        prediction = predictor.predict(record)
        print(json.dumps({"file": path, "sha256": record.sha256, **prediction.summary()}), flush=True)
    return 1 if failures == len(args.files) else 0
