"""PDF renderer of the document model (reportlab platypus).

Why DejaVu Sans from matplotlib's own data folder: the built-in PDF fonts lack
"≥" and other glyphs the report uses, and matplotlib (already a dependency)
ships DejaVu, so no system font or download is needed. A report is A4
portrait with flowing sections; slides are 16:9 landscape pages (960 × 540 pt),
one section per page, shrunk to fit rather than overflowing.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (Image, KeepInFrame, ListFlowable, ListItem, PageBreak,
                                Paragraph as RLParagraph, SimpleDocTemplate, Spacer, Table as RLTable, TableStyle)

from training.report.doc import Bullets, Document, Figure, Note, Paragraph, Section, Table

SLIDE_SIZE = (960.0, 540.0)  # 16:9 in points (13.33 × 7.5 in)
ACCENT = colors.HexColor("#0b5394")
FOOTER = "Lesion Lens — research use only, not a medical device"


def _fonts() -> tuple[str, str]:
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(ttf / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(ttf / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold",
                                      italic="DejaVuSans", boldItalic="DejaVuSans-Bold")
    return "DejaVuSans", "DejaVuSans-Bold"


class Styles:
    """Paragraph styles scaled by one base size (9 pt report, 13 pt slides)."""

    def __init__(self, base: float):
        regular, bold = _fonts()
        self.body = ParagraphStyle("body", fontName=regular, fontSize=base, leading=base * 1.3, spaceAfter=base * 0.5)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=base * 0.8, leading=base * 1.0, spaceAfter=0)
        self.caption = ParagraphStyle("caption", parent=self.small, textColor=colors.HexColor("#555555"), spaceAfter=base)
        self.cell_head = ParagraphStyle("cellhead", parent=self.small, fontName=bold, textColor=colors.white)
        self.h1 = ParagraphStyle("h1", fontName=bold, fontSize=base * 2, leading=base * 2.4, spaceAfter=base * 0.6)
        self.h2 = ParagraphStyle("h2", fontName=bold, fontSize=base * 1.45, leading=base * 1.8, textColor=ACCENT,
                                 spaceBefore=base, spaceAfter=base * 0.5, keepWithNext=1)
        self.note = ParagraphStyle("note", parent=self.body, backColor=colors.HexColor("#fff4e5"),
                                   borderColor=colors.HexColor("#e69f00"), borderWidth=0.8, borderPadding=4,
                                   spaceBefore=4, spaceAfter=base)


def _p(text: str, style: ParagraphStyle, strong: bool = False) -> RLParagraph:
    text = escape(text)
    return RLParagraph(f"<b>{text}</b>" if strong else text, style)


def column_widths(block: Table, width: float, st: Styles) -> list[float]:
    """Natural text widths where they fit; otherwise each column keeps at least its
    longest word (no breaks inside a word where avoidable) or a fair share, and the
    columns holding long text split what is left by how much more they need."""
    def text_width(text: str, font: str) -> float:
        return pdfmetrics.stringWidth(text, font, st.small.fontSize) + 13.0  # + 2 × 6 pt cell padding

    words, natural = [], []
    for i, head in enumerate(block.header):
        cells = [r[i] for r in block.rows if i < len(r)]
        longest = [text_width(w, st.small.fontName) for c in cells for w in c.split()]
        longest += [text_width(w, st.cell_head.fontName) for w in head.split()]
        words.append(max(longest + [24.0]))
        natural.append(max([words[-1]] + [text_width(c, st.small.fontName) for c in cells]))
    if sum(natural) <= width:
        return [n * width / sum(natural) for n in natural]
    share = width / len(natural)
    base = [min(n, max(share, w)) for n, w in zip(natural, words)]
    excess = [n - b for n, b in zip(natural, base)]
    spare = width - sum(base)
    if spare <= 0 or sum(excess) <= 0:
        return [b * width / sum(base) for b in base]
    return [b + spare * e / sum(excess) for b, e in zip(base, excess)]


def _table(block: Table, width: float, st: Styles) -> list:
    widths = column_widths(block, width, st)
    data = [[_p(h, st.cell_head) for h in block.header]]
    data += [[_p(c, st.small) for c in row] + [""] * (len(block.header) - len(row)) for row in block.rows]
    t = RLTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), ACCENT), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                           ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    out = [t]
    if block.caption:
        out.append(_p(block.caption, st.caption))
    else:
        out.append(Spacer(1, 6))
    return out


def _figure(block: Figure, width: float, max_height: float, st: Styles, together: bool = True) -> list:
    if not Path(block.path).is_file():
        return [_p(f"Figure missing: {block.path}", st.note)]
    w_px, h_px = ImageReader(str(block.path)).getSize()
    w = width * block.width
    h = w * h_px / w_px
    if h > max_height:
        w, h = max_height * w_px / h_px, max_height
    image = Image(str(block.path), width=w, height=h)
    # keepWithNext, not KeepTogether: reportlab's heading keepWithNext cannot chain into a KeepTogether,
    # and table cells (paired figures, slides) cannot hold one
    image.keepWithNext = together
    return [image, _p(block.caption, st.caption)]


def _pair_figures(blocks) -> list:
    """Consecutive half-width figures become (left, right) pairs, shown side by side."""
    out: list = []
    for block in blocks:
        if (isinstance(block, Figure) and block.width <= 0.5 and out and isinstance(out[-1], Figure)
                and out[-1].width <= 0.5):
            out[-1] = (out[-1], block)
        else:
            out.append(block)
    return out


def flowables(blocks, width: float, max_fig_height: float, st: Styles, together: bool = True) -> list:
    out: list = []
    for block in _pair_figures(blocks) if together else blocks:
        if isinstance(block, tuple):
            cells = [_figure(Figure(b.path, b.caption, 1.0), width / 2 - 8, max_fig_height, st, False) for b in block]
            grid = RLTable([cells], colWidths=[width / 2] * 2)
            grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
            out.append(grid)
            continue
        if isinstance(block, Paragraph):
            out.append(_p(block.text, st.body, block.strong))
        elif isinstance(block, Note):
            out.append(_p(block.text, st.note))
        elif isinstance(block, Bullets):
            items = [ListItem(_p(i, st.body), leftIndent=12) for i in block.items]
            out.append(ListFlowable(items, bulletType="bullet", start="•", leftIndent=12, bulletFontName=st.body.fontName))
        elif isinstance(block, Table):
            out += _table(block, width, st)
        elif isinstance(block, Figure):
            out += _figure(block, width, max_fig_height, st, together)
        else:
            raise TypeError(f"unknown block {type(block).__name__}")
    return out


def _title(doc: Document, width: float, st: Styles) -> list:
    meta = [[_p(k, st.small, True), _p(v, st.small)] for k, v in doc.meta]
    t = RLTable(meta, colWidths=[width * 0.2, width * 0.8], hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [_p(doc.title, st.h1), _p(doc.subtitle, st.body), Spacer(1, 6), t, Spacer(1, 10)]


def _footer(page_size):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont("DejaVuSans", 7)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(doc.leftMargin, 0.5 * doc.bottomMargin, FOOTER)
        canvas.drawRightString(page_size[0] - doc.rightMargin, 0.5 * doc.bottomMargin, str(canvas.getPageNumber()))
        canvas.restoreState()
    return draw


def render_report_pdf(doc: Document, path: Path) -> Path:
    st = Styles(9)
    margin = 18 * mm
    pdf = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=margin,
                            bottomMargin=margin, title=doc.title, author="Lesion Lens")
    width, height = A4[0] - 2 * margin, A4[1] - 2 * margin
    story = _title(doc, width, st)
    for section in doc.sections:
        story.append(_p(section.title, st.h2))
        story += flowables(section.blocks, width, height * 0.55, st)
    pdf.build(story, onFirstPage=_footer(A4), onLaterPages=_footer(A4))
    return path


def _slide_body(section: Section, width: float, height: float, st: Styles) -> list:
    figures = [b for b in section.blocks if isinstance(b, Figure)]
    text = [b for b in section.blocks if not isinstance(b, Figure)]
    if len(figures) >= 2:  # text on top, figures in one row below
        top = flowables(text, width, height, st, together=False)
        cell_w = width / len(figures)
        cells = [flowables([Figure(f.path, f.caption, 1.0)], cell_w - 10, height * 0.62, st, together=False)
                 for f in figures]
        row = RLTable([cells], colWidths=[cell_w] * len(figures))
        row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        content = [*top, row]
    elif figures and text:
        left_w, right_w = width * 0.52, width * 0.46
        left = flowables(text, left_w, height, st, together=False)
        full = [Figure(f.path, f.caption, 1.0) for f in figures]
        right = flowables(full, right_w, height / len(figures) - 24, st, together=False)
        grid = RLTable([[left, right]], colWidths=[left_w + width * 0.02, right_w])
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        content = [grid]
    else:
        content = flowables(section.blocks, width, height - 20, st)
    return [KeepInFrame(width, height, content, mode="shrink")]


def render_slides_pdf(doc: Document, path: Path) -> Path:
    st = Styles(13)
    margin = 34.0
    pdf = SimpleDocTemplate(str(path), pagesize=SLIDE_SIZE, leftMargin=margin, rightMargin=margin, topMargin=margin,
                            bottomMargin=margin, title=doc.title, author="Lesion Lens")
    width, height = SLIDE_SIZE[0] - 2 * margin, SLIDE_SIZE[1] - 2 * margin - 12
    title = ParagraphStyle("slidetitle", parent=st.h1, fontSize=30, leading=36)
    story = [Spacer(1, height * 0.2), _p(doc.title, title), *_title(doc, width, st)[1:]]
    for section in doc.sections:
        story += [PageBreak(), _p(section.title, st.h1)]
        story += _slide_body(section, width, height - 40, st)
    pdf.build(story, onFirstPage=_footer(SLIDE_SIZE), onLaterPages=_footer(SLIDE_SIZE))
    return path
