"""Tables that page in the database (`page_action="custom"`): the cohort table and the audit log.

One callback per table sets a page of it (`page_outputs`: the rows, the page count and the page
shown) from the page's filters, a date range (`date_range`) and the page the user asked for; a
changed filter starts again at the first page (`requested_page`), and `page_window` keeps the
page inside the new page count.
"""

from __future__ import annotations

import dash
from dash import Input, Output

TABLE_PAGE = ("data", "page_count", "page_current")  # what a page callback sets on its table
DATE_RANGE = ("start_date", "end_date")  # the two ends of a DatePickerRange


def page_outputs(table: str) -> list[Output]:
    """The table's rows, page count and current page, set together by the table's callback."""
    return [Output(table, prop) for prop in TABLE_PAGE]


def date_range(picker: str, dependency: type[Input] | type[Output] = Input) -> list:
    """The picker's start and end dates: Inputs (a filter), or Outputs (a reset sets both)."""
    return [dependency(picker, prop) for prop in DATE_RANGE]


def requested_page(table: str, page: int | None) -> int:
    """The page asked for when the table's own pager fired the callback; the first page when a
    filter changed (the old page number may not exist in the new result)."""
    return max(0, int(page or 0)) if dash.ctx.triggered_id == table else 0


def page_window(total: int, page: int, page_size: int) -> tuple[int, int]:
    """(page count, `page` kept inside it) for `total` rows: one empty page when nothing matches."""
    pages = max(1, -(-total // page_size))
    return pages, min(page, pages - 1)
