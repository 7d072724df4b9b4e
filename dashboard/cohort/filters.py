"""Cohort filters as a value object that round-trips through the URL query string.

The review meeting shares links ("look at BI-RADS 4 over 60 on device X"),
so the filter state lives in `?age=60-90&birads=4a,4b&device=...`, not in a
server session: the cohort page writes it, the metrics page reads the same
string, and a pasted link reproduces the view exactly. Unknown or malformed
parameters are ignored rather than failing the page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode

LABEL_CHOICES = ("benign", "malignant", "normal")
SEX_CHOICES = ("F", "M", "O")
REVIEW_CHOICES = ("agree", "disagree", "noted", "none")
AGE_LIMITS = (0, 100)


def _split(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(dict.fromkeys(out))  # unique, in order


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class _Choices:
    """One multi-choice filter: its CohortFilter field, URL key, chip label, the values a URL may
    carry (None: any) and whether values are lower-cased (BI-RADS "4A" is "4a")."""

    name: str
    key: str
    label: str
    allowed: tuple[str, ...] | None = None
    lower: bool = False

    def clean(self, values: tuple[str, ...], check: bool) -> tuple[str, ...]:
        """`values` lower-cased where this filter is; with `check`, only the allowed ones (a URL's)."""
        return tuple(v.lower() if self.lower else v for v in values
                     if not check or self.allowed is None or v in self.allowed)


# in the order URLs, chips and the filter panel list them
CHOICES = (
    _Choices("sex", "sex", "sex", SEX_CHOICES),
    _Choices("truth", "truth", "truth", LABEL_CHOICES + ("unknown",)),
    _Choices("predicted", "pred", "predicted", LABEL_CHOICES + ("none",)),
    _Choices("device", "device", "device"),
    _Choices("birads", "birads", "BI-RADS", lower=True),
    _Choices("history", "history", "family history", ("yes", "no", "unknown")),
    _Choices("dataset", "dataset", "dataset"),
    _Choices("review", "review", "review", REVIEW_CHOICES),
)


@dataclass(frozen=True)
class CohortFilter:
    age_min: int | None = None
    age_max: int | None = None
    sex: tuple[str, ...] = ()
    truth: tuple[str, ...] = ()
    predicted: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    birads: tuple[str, ...] = ()
    history: tuple[str, ...] = ()  # "yes", "no", "unknown"
    dataset: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # ------------------------------------------------------------ URL form
    @classmethod
    def from_query(cls, search: str | dict | None) -> "CohortFilter":
        if isinstance(search, dict):
            raw = {k: v if isinstance(v, list) else [str(v)] for k, v in search.items()}
        else:
            raw = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
        age_min = age_max = None
        if raw.get("age"):
            low, _, high = raw["age"][0].partition("-")
            age_min, age_max = _int(low), _int(high)
        return cls(
            age_min=age_min,
            age_max=age_max,
            **{c.name: c.clean(_split(raw.get(c.key, [])), check=True) for c in CHOICES},
            date_from=_iso((raw.get("from") or [None])[0]),
            date_to=_iso((raw.get("to") or [None])[0]),
        )

    def to_query(self) -> str:
        """`?a=b&...` (empty string when nothing is filtered), stable order."""
        params: list[tuple[str, str]] = []
        if self.age_min is not None or self.age_max is not None:
            params.append(("age", f"{'' if self.age_min is None else self.age_min}-"
                                  f"{'' if self.age_max is None else self.age_max}"))
        for choices in CHOICES:
            values = getattr(self, choices.name)
            if values:
                params.append((choices.key, ",".join(values)))
        if self.date_from:
            params.append(("from", self.date_from))
        if self.date_to:
            params.append(("to", self.date_to))
        return "?" + urlencode(params, safe=",") if params else ""

    @classmethod
    def from_controls(cls, **controls: Any) -> "CohortFilter":
        """From the cohort page's form values (None/[] mean 'any')."""
        age = controls.get("age") or [None, None]
        age_min, age_max = (age + [None, None])[:2] if isinstance(age, list) else (None, None)
        if age_min is not None and age_min <= AGE_LIMITS[0]:
            age_min = None
        if age_max is not None and age_max >= AGE_LIMITS[1]:
            age_max = None

        def many(name: str) -> tuple[str, ...]:
            return tuple(str(v) for v in (controls.get(name) or []) if v not in (None, ""))

        return cls(
            age_min=_int(age_min),
            age_max=_int(age_max),
            **{c.name: c.clean(many(c.name), check=False) for c in CHOICES},
            date_from=_iso(controls.get("date_from")),
            date_to=_iso(controls.get("date_to")),
        )

    # ---------------------------------------------------------------- text
    def is_empty(self) -> bool:
        return self.to_query() == ""

    def describe(self) -> list[str]:
        """Short phrases for filter chips ("age 40-70", "BI-RADS 4a, 5")."""
        out = []
        if self.age_min is not None or self.age_max is not None:
            out.append(f"age {self.age_min if self.age_min is not None else '…'}–"
                       f"{self.age_max if self.age_max is not None else '…'}")
        for choices in CHOICES:
            values = getattr(self, choices.name)
            if values:
                out.append(f"{choices.label}: {', '.join(values)}")
        if self.date_from or self.date_to:
            out.append(f"date {self.date_from or '…'} to {self.date_to or '…'}")
        return out

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra", None)
        return data


def _int(value: Any) -> int | None:
    """A whole number within +-10^9, else None ("age=inf" or "age=1e30" from a crafted URL is no filter)."""
    try:
        number = None if value in (None, "") else int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or abs(number) <= 10 ** 9 else None


FILTER_FIELDS = tuple(f.name for f in fields(CohortFilter) if f.name != "extra")
