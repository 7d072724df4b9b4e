"""`python -m training slides`: short 16:9 slide deck (PDF + HTML) from saved artifacts.

Same options and the same artifact loader as `report`, so the deck quotes
exactly the report's numbers. Writes OUT/slides.pdf and OUT/slides.html.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.cmd_report import add_common_arguments, found_summary, load


def add_arguments(p) -> None:
    add_common_arguments(p)


def run(args) -> int:
    from training.report.build import build_slides
    from training.report.render_html import render_html
    from training.report.render_pdf import render_slides_pdf

    art = load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = build_slides(art, out / "figures")
    written = [render_slides_pdf(doc, out / "slides.pdf"), render_html(doc, out / "slides.html")]
    print(json.dumps({"written": [str(p) for p in written], "slides": len(doc.sections) + 1,
                      "artifacts": found_summary(art)}, indent=2))
    return 0
