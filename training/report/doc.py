"""A tiny document model shared by the HTML and PDF renderers.

Why our own model instead of writing HTML and then converting it: reportlab
cannot read HTML, and a browser cannot read reportlab flowables. Sections
made of a handful of block types (paragraph, bullets, table, figure, note)
are enough for a report and a slide deck, and each renderer maps them
one-to-one, so the HTML and the PDF cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union


@dataclass(frozen=True)
class Paragraph:
    """Plain text (renderers escape it); `strong` renders it bold."""

    text: str
    strong: bool = False


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Cells are already-formatted strings, so both renderers show identical numbers."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG on disk; `width` is the fraction of the text width it may take."""

    path: Path
    caption: str
    width: float = 0.8


@dataclass(frozen=True)
class Note:
    """Something the reader must notice: a missing artifact, a caveat."""

    text: str


Block = Union[Paragraph, Bullets, Table, Figure, Note]


@dataclass
class Section:
    """One report section or one slide.

    `claim` maps CLAIM checklist item numbers to how this section covers them
    ("yes" or "partly: why"); the checklist table is compiled from these, so
    it states what the built document really contains.
    """

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 1
    claim: dict[int, str] = field(default_factory=dict)

    def add(self, *blocks: Block | None) -> "Section":
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass
class Document:
    title: str
    subtitle: str
    meta: list[tuple[str, str]]
    sections: list[Section]
    kind: str = "report"  # "report" (A4 portrait) | "slides" (16:9 landscape, one section per page)


def table(header, rows, caption: str = "") -> Table:
    """Build a Table from any iterables, turning every cell into a string."""
    return Table(tuple(str(h) for h in header), tuple(tuple(str(c) for c in r) for r in rows), caption)


def not_available(what: str, command: str) -> Note:
    """The one wording for a missing artifact, so readers and tests can find it."""
    return Note(f"{what}: not available — produced by `{command}`.")
