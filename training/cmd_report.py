"""`python -m training report`: clinical-evidence report (HTML + PDF) from saved artifacts.

Reads the bundle card, evaluate's metrics.json/predictions.csv/figures, and,
when present, cv_summary.json, fusion_metrics.json, radiologists.json,
external.json and subgroups.json; trains and predicts nothing. Writes
OUT/report.html (self-contained) and OUT/report.pdf, plus any figure it had
to draw from saved predictions under OUT/figures/.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_common_arguments(p) -> None:
    p.add_argument("--model", required=True, help="bundle folder (bundle.json), e.g. models/NAME or reports/cv/fold_1")
    p.add_argument("--out", required=True, help="report folder (evaluate's --out); optional artifacts are searched here")
    p.add_argument("--cv", help="cross-validation folder or its cv_summary.json")
    p.add_argument("--fusion", help="folder (or file) holding fusion_metrics.json from `fuse`")
    p.add_argument("--radiologists", help="folder (or file) holding radiologists.json")
    p.add_argument("--external", help="folder (or file) holding external.json (and subgroups.json)")
    p.add_argument("--log", action="append", default=[], help="training log with per-epoch lines (repeatable); "
                   "default: *.log beside the bundle and in $LESIONLENS_HOME/logs")


def load(args):
    from training.report.artifacts import load_artifacts

    return load_artifacts(args.model, args.out, cv=args.cv, fusion=args.fusion, radiologists=args.radiologists,
                          external=args.external, logs=args.log)


def found_summary(art) -> dict[str, str | None]:
    return {name: str(getattr(art, name).path) if getattr(art, name).found else None
            for name in ("evaluation", "cv", "fusion", "radiologists", "external", "subgroups")}


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--no-pdf", action="store_true", help="HTML only")


def run(args) -> int:
    from training.report.build import build_report
    from training.report.render_html import render_html
    from training.report.render_pdf import render_report_pdf

    art = load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = build_report(art, out / "figures")
    written = [render_html(doc, out / "report.html")]
    if not args.no_pdf:
        written.append(render_report_pdf(doc, out / "report.pdf"))
    print(json.dumps({"written": [str(p) for p in written], "artifacts": found_summary(art)}, indent=2))
    return 0
