"""The one-page case report (PDF, reportlab): what the model found, on what, by which model, who reviewed it.

One page on purpose: it is printed into a meeting folder or attached to a
message, and a second page gets lost. The content is wrapped in a
`KeepInFrame(mode="shrink")`, so a long reviewer note shrinks the page's
type instead of spilling onto page two. Text is set in DejaVu Sans, read from
matplotlib's own font folder (always installed with it; nothing is
downloaded), so ±, ×, ² and accented names print; Helvetica is the fallback.
Wording and number formats are the case page's (`components.cards`), so the
report and the screen never disagree. The image is the overlay export,
downscaled to at most `IMAGE_MAX_SIDE` pixels so the file stays small.
"""

from __future__ import annotations

import io
import math
import os
from functools import lru_cache
from xml.sax.saxutils import escape

from PIL import Image as PILImage

from dashboard.components.cards import (
    LABEL_TEXT,
    METADATA_NAMES,
    NO_DIAGNOSIS_TEXT,
    NO_LESION_TEXT,
    format_area,
    format_probability,
    no_lesion,
    ood_score_text,
    ood_warning_text,
    lexicon_text,
    out_of_distribution,
    uncertainty_text,
)
from dashboard.components.reasons import reasons_text
from dashboard.exports.case_data import INTENDED_USE, CaseExport
from dashboard.exports.overlay import overlay_image

IMAGE_MAX_SIDE = 1400
IMAGE_BOX_PT = (523.0, 330.0)  # A4 width minus margins; height leaves room for the tables
NOTE_MAX_CHARS = 1500
LABEL_COLOURS = {"malignant": "#D55E00", "benign": "#009E73", "normal": "#555555"}


@lru_cache(maxsize=1)
def fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans from matplotlib's data folder, else Helvetica."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        import matplotlib

        folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
        pdfmetrics.registerFont(TTFont("LLSans", os.path.join(folder, "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("LLSans-Bold", os.path.join(folder, "DejaVuSans-Bold.ttf")))
        for bold, italic in ((0, 0), (0, 1), (1, 0), (1, 1)):  # <b> in a Paragraph picks the bold face
            addMapping("LLSans", bold, italic, "LLSans-Bold" if bold else "LLSans")
        return "LLSans", "LLSans-Bold"
    except Exception:  # noqa: BLE001 - any font problem: the built-in font still prints the report
        return "Helvetica", "Helvetica-Bold"


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    regular, bold = fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=11.5)
    return {
        "title": ParagraphStyle("title", base, fontName=bold, fontSize=16, leading=19),
        "sub": ParagraphStyle("sub", base, fontSize=9.5, textColor="#444444"),
        "head": ParagraphStyle("head", base, fontName=bold, fontSize=10.5, leading=13, spaceBefore=4, spaceAfter=2),
        "body": base,
        "key": ParagraphStyle("key", base, textColor="#444444"),
        "value": ParagraphStyle("value", base, fontName=bold),
        "small": ParagraphStyle("small", base, fontSize=7.5, leading=9, textColor="#555555"),
        "banner": ParagraphStyle("banner", base, fontName=bold, fontSize=9.5, textColor="#7a4a00"),
    }


def _image_flowable(export: CaseExport):
    from reportlab.platypus import Image

    if export.display is None:
        return None
    picture = PILImage.fromarray(overlay_image(export.display, export.mask))
    picture.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE), PILImage.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    buffer.seek(0)
    scale = min(IMAGE_BOX_PT[0] / picture.width, IMAGE_BOX_PT[1] / picture.height)
    return Image(buffer, width=picture.width * scale, height=picture.height * scale)


def extent_text(box, spacing_mm) -> str | None:
    """Bounding-box width x height of the lesion, in mm when the spacing is known, else in pixels."""
    if not box or len(box) != 4:
        return None
    rows, cols = box[2] - box[0], box[3] - box[1]
    if spacing_mm:
        return f"{cols * spacing_mm[1]:.1f} × {rows * spacing_mm[0]:.1f} mm (width × height)"
    return f"{cols} × {rows} px (width × height)"


def _dice_and_model_rows(p: dict, model: dict) -> list[tuple[str, str]]:
    """The closing rows of the model's result: Dice against the ground truth (when known) and the model."""
    rows = []
    if p.get("dice") is not None and math.isfinite(p["dice"]):
        rows.append(("Dice vs ground truth", f"{p['dice']:.2f}"))
    rows.append(("Model", f"{model.get('name', '?')} v{model.get('version', '?')}"))
    if model.get("created"):
        rows.append(("Model built", str(model["created"])[:10]))
    return rows


def result_rows(export: CaseExport) -> list[tuple[str, str]]:
    """(label, text) rows of the model's result, worded as on the case page."""
    p = export.prediction
    if p is None:
        return [("Model result", "not analysed yet: no prediction is stored for this case")]
    model = export.model or {}
    label = p.get("label")
    if no_lesion(p):  # an empty mask never carries a diagnosis: no label, no P(malignant), as on the case page
        rows = [("Model says", NO_LESION_TEXT), ("P(malignant), calibrated", NO_DIAGNOSIS_TEXT),
                ("Lesion found", "no"), ("Lesion area", format_area(p.get("area_px"), p.get("area_mm2"), False))]
        return rows + _dice_and_model_rows(p, model)
    rows = [
        ("Model says", LABEL_TEXT.get(label or "", label or "—")),
        ("P(malignant), calibrated", format_probability(p.get("probability"))
         + (" (unreliable: image unlike the training data)" if out_of_distribution(p) else "")),
        ("Uncertainty", uncertainty_text(p.get("uncertainty"), out_of_distribution(p))),
        ("BI-RADS descriptors of the outline", lexicon_text(p) or "— (not assessable)"),
    ]
    if reasons_text(p):
        rows.append(("What pushed the decision", reasons_text(p) or ""))
        if p.get("cnn_probability") is not None:
            rows.append(("Image model (CNN) alone", format_probability(p["cnn_probability"])))
    if "out_of_distribution" in p or p.get("ood_score") is not None:
        rows.append(("Image vs training data", ood_score_text(p)))
    if p.get("fused") and p.get("image_probability") is not None:
        rows.append(("Image model alone", format_probability(p["image_probability"])
                     + " (the probability above also used the patient data)"))
    if model.get("threshold_malignant") is not None:
        rows.append(("Decision threshold", f"{model['threshold_malignant']:.2f}"))
    rows.append(("Lesion found", "yes"))
    rows.append(("Lesion area", format_area(p.get("area_px"), p.get("area_mm2"), True)))
    extent = extent_text(p.get("box"), export.spacing_mm)
    if extent:
        rows.append(("Lesion extent", extent))
    return rows + _dice_and_model_rows(p, model)


def case_rows(export: CaseExport) -> list[tuple[str, str]]:
    rows = [("Case", export.case_id), ("Dataset", export.dataset)]
    for key, value in export.metadata.items():
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        rows.append((METADATA_NAMES.get(key, key.replace("_", " ").capitalize()), text))
    image = f"{export.width} × {export.height} px, {export.source_format.upper()}"
    rows.append(("Image", image + (f", {export.modality}" if export.modality else "")))
    if export.spacing_mm:
        rows.append(("Pixel spacing", f"{export.spacing_mm[0]:.3g} × {export.spacing_mm[1]:.3g} mm"))
    if export.true_label:
        rows.append(("Reference label", LABEL_TEXT.get(export.true_label, export.true_label)))
    return rows


def review_paragraphs(export: CaseExport, styles) -> list:
    from reportlab.platypus import Paragraph

    review = export.review
    if review is None:
        return [Paragraph("Not reviewed yet.", styles["body"])]
    verdict = {"agree": "agrees with the model", "disagree": "disagrees with the model",
               "note": "added a note"}.get(review["verdict"], review["verdict"])
    line = f"<b>{escape(review['user'])}</b> {verdict}"
    if review.get("corrected_label"):
        corrected = review["corrected_label"]
        line += f"; corrected label: <b>{escape(LABEL_TEXT.get(corrected, corrected))}</b>"
    if review.get("created_utc"):
        line += f" ({escape(review['created_utc'][:16].replace('T', ' '))} UTC)"
    out = [Paragraph(line, styles["body"])]
    note = (review.get("note") or "").strip()
    if note:
        if len(note) > NOTE_MAX_CHARS:
            note = note[:NOTE_MAX_CHARS].rstrip() + " … (shortened; the full note is on the case page)"
        out.append(Paragraph("“" + escape(note).replace("\n", "<br/>") + "”", styles["body"]))
    return out


def _kv_table(title: str, rows: list[tuple[str, str]], styles, width: float, value_colours=None):
    from reportlab.platypus import Paragraph, Table, TableStyle

    value_colours = value_colours or {}
    data = [[Paragraph(title, styles["head"]), ""]]
    for key, value in rows:
        colour = value_colours.get(key)
        text = escape(value) if colour is None else f'<font color="{colour}">{escape(value)}</font>'
        data.append([Paragraph(escape(key), styles["key"]), Paragraph(text, styles["value"])])
    table = Table(data, colWidths=[width * 0.42, width * 0.58])
    table.setStyle(TableStyle([("SPAN", (0, 0), (1, 0)), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (1, 0), 0.6, "#999999"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                               ("LEFTPADDING", (0, 0), (-1, -1), 2)]))
    return table


def _footer(export: CaseExport):
    regular, _bold = fonts()
    stamp = export.generated.strftime("%Y-%m-%d %H:%M UTC")

    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor("#555555")
        canvas.drawString(doc.leftMargin, 24, f"Generated {stamp} by Lesion Lens · case {export.case_id}")
        canvas.drawRightString(doc.leftMargin + doc.width, 24, "Research use, not a medical device")
        canvas.restoreState()

    return draw


def case_report_pdf(export: CaseExport) -> bytes:
    """The report as PDF bytes (A4, one page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import KeepInFrame, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=36, rightMargin=36, topMargin=32, bottomMargin=40,
                            title=f"Lesion Lens case {export.case_id}", author="Lesion Lens",
                            subject="Case report (research use, not a medical device)", creator="Lesion Lens")
    image_line = f"{export.width} × {export.height} px {export.source_format.upper()}"
    content = [
        Paragraph("Lesion Lens: case report", styles["title"]),
        Paragraph(escape(f"Case {export.case_id} · dataset {export.dataset} · {image_line}"), styles["sub"]),
        Spacer(1, 5),
    ]
    banner = Table([[Paragraph(escape(INTENDED_USE), styles["banner"])]], colWidths=[doc.width])
    banner.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), "#FFF3D6"),
                                ("BOX", (0, 0), (-1, -1), 0.8, "#E69F00")]))
    content += [banner, Spacer(1, 6)]
    picture = _image_flowable(export)
    if picture is not None:
        content.append(picture)
        if export.mask is None:
            caption = "Image only: there is no prediction for this case."
        elif not export.mask.any():
            caption = "The model segmented no lesion in this image (full image shown)."
        else:
            caption = "Predicted lesion in orange (translucent fill, solid outline), full image shown."
        content += [Paragraph(caption, styles["small"]), Spacer(1, 6)]
    half = doc.width / 2 - 6
    label = (export.prediction or {}).get("label")
    if no_lesion(export.prediction):
        label = "normal"
    colours = {"Model says": LABEL_COLOURS.get(label or "")} if label in LABEL_COLOURS else None
    if out_of_distribution(export.prediction):  # as on the case page: warning in words, probability greyed
        colours = {**(colours or {}), "P(malignant), calibrated": "#8a9099"}
        warning = Table([[Paragraph(escape(ood_warning_text(export.prediction)), styles["banner"])]],
                        colWidths=[doc.width])
        warning.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), "#FDE2E1"),
                                     ("BOX", (0, 0), (-1, -1), 0.8, "#C0392B")]))
        content += [warning, Spacer(1, 6)]
    tables = Table([[_kv_table("Model result", result_rows(export), styles, half, colours),
                     _kv_table("Case (de-identified fields only)", case_rows(export), styles, half)]],
                   colWidths=[half + 6, half + 6])
    tables.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    content += [tables, Spacer(1, 4), Paragraph("Review", styles["head"]), *review_paragraphs(export, styles)]
    doc.build([KeepInFrame(doc.width, doc.height, content, mode="shrink")],
              onFirstPage=_footer(export), onLaterPages=_footer(export))
    return buffer.getvalue()

