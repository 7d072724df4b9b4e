"""The Cohort page's table: its columns, how a database row reads in it, and how it looks.

Kept together because they change together: a new column needs its definition, its cell text
and often a width or a colour. Cells are plain strings and rounded numbers made on the server
(thumbnails are URLs served by the files route, not base64), because the table pages and sorts
in the database (`page_action` and `sort_action` "custom") and only ever holds one page.
"""

from __future__ import annotations

from dash import dash_table

from dashboard import ids
from dashboard.components.cards import no_lesion
from dashboard.figures.style import FONT_FAMILY

COLUMNS = [
    {"id": "thumb", "name": "", "presentation": "markdown"},
    {"id": "case", "name": "Case", "presentation": "markdown"},
    {"id": "dataset", "name": "Dataset"},
    {"id": "date", "name": "Date"},
    {"id": "age", "name": "Age", "type": "numeric"},
    {"id": "sex", "name": "Sex"},
    {"id": "device", "name": "Device"},
    {"id": "birads", "name": "BI-RADS"},
    {"id": "truth", "name": "Truth"},
    {"id": "predicted", "name": "Model"},
    {"id": "probability", "name": "P(malig.)", "type": "numeric"},
    {"id": "uncertainty", "name": "±", "type": "numeric"},
    {"id": "ood", "name": "Data check"},
    {"id": "dice", "name": "Dice", "type": "numeric"},
    {"id": "review", "name": "Review"},
]
# Long free-text cells are cut with an ellipsis and headers may wrap: at full width the probability,
# uncertainty, Dice and review columns ran off a 1440 px screen (tests/browser/test_layout_browser.py).
_CLIP = {"overflow": "hidden", "textOverflow": "ellipsis", "whiteSpace": "nowrap"}
NARROW_COLUMNS = [
    {"if": {"column_id": "thumb"}, "width": "58px", "minWidth": "58px", "maxWidth": "58px"},
    {"if": {"column_id": "dataset"}, "maxWidth": "100px", **_CLIP},
    {"if": {"column_id": "device"}, "maxWidth": "110px", **_CLIP},
    {"if": {"column_id": "review"}, "maxWidth": "110px", **_CLIP},
    {"if": {"column_id": "predicted"}, "maxWidth": "120px", "whiteSpace": "normal"},
]
SORT_KEYS = {"case": "id"}  # table column -> queries.SORTABLE key (others map to themselves)
OOD_FLAG = "⚠ unusual"  # the image is unlike the training data: treat the result as unreliable


def ood_cell(r: dict) -> str:
    """The out-of-distribution guard's verdict in the cohort table (its probability is greyed)."""
    flag = r.get("out_of_distribution")
    return "—" if flag is None else OOD_FLAG if flag else "ok"


def table_rows(rows: list[dict]) -> list[dict]:
    """Database rows -> DataTable rows (strings and rounded numbers, thumbnail URLs)."""
    out = []
    for r in rows:
        review = r.get("review_status") or ""
        if r.get("reviewed_label"):
            review += f" → {r['reviewed_label']}"
        empty = no_lesion(r)  # an empty mask never carries a diagnosis: no label, no P(malignant)
        out.append(
            {
                "id": r["id"],
                "thumb": f"![thumbnail](/files/{r['id']}/thumb.png)",
                "case": f"[{r['id']}](/case/{r['id']})",
                "dataset": r.get("dataset"),
                "date": r.get("case_date"),
                "age": r.get("age"),
                "sex": r.get("sex") or "",
                "device": r.get("device") or "",
                "birads": r.get("birads") or "",
                "truth": r.get("true_label") or "",
                "predicted": "no lesion found" if empty else (r.get("predicted") or "—"),
                "probability": None if empty or r.get("probability") is None else round(r["probability"], 3),
                "uncertainty": None if empty or r.get("uncertainty") is None else round(r["uncertainty"], 3),
                "ood": ood_cell(r),
                "dice": None if r.get("dice") is None else round(r["dice"], 3),
                "review": review,
            }
        )
    return out


def db_sort(sort_by: list[dict] | None) -> list[dict]:
    return [{"column_id": SORT_KEYS.get(s["column_id"], s["column_id"]), "direction": s["direction"]}
            for s in (sort_by or [])]


def cohort_table(rows: list[dict], page_count: int, page_size: int) -> dash_table.DataTable:
    """The table showing its first page (`rows`): later pages and sorts come from the page's callback."""
    return dash_table.DataTable(
        id=ids.COHORT_TABLE,
        columns=COLUMNS,
        data=rows,
        page_action="custom",
        page_count=page_count,
        page_current=0,
        page_size=page_size,
        sort_action="custom",
        sort_mode="single",
        sort_by=[],
        markdown_options={"link_target": "_self", "html": False},
        style_table={"overflowX": "auto"},
        style_cell={"padding": "3px 6px", "textAlign": "left", "verticalAlign": "middle",
                    "fontFamily": FONT_FAMILY},
        style_cell_conditional=NARROW_COLUMNS,
        style_header={"fontWeight": "600", "backgroundColor": "#e9ecef", "whiteSpace": "normal",
                      "height": "auto"},
        style_data_conditional=[
            {"if": {"filter_query": '{truth} = "malignant"', "column_id": "truth"},
             "color": "#b34700", "fontWeight": "600"},
            {"if": {"filter_query": '{predicted} = "malignant"', "column_id": "predicted"},
             "color": "#b34700", "fontWeight": "600"},
            {"if": {"filter_query": f'{{ood}} = "{OOD_FLAG}"',
                    "column_id": ["probability", "uncertainty", "ood"]},
             "color": "#8a9099", "fontStyle": "italic"},
            {"if": {"state": "active"}, "backgroundColor": "#fff3d6", "border": "1px solid #E69F00"},
        ],
        cell_selectable=True,
    )
