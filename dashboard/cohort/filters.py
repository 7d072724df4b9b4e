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
            sex=tuple(v for v in _split(raw.get("sex", [])) if v in SEX_CHOICES),
            truth=tuple(v for v in _split(raw.get("truth", [])) if v in LABEL_CHOICES + ("unknown",)),
            predicted=tuple(v for v in _split(raw.get("pred", [])) if v in LABEL_CHOICES + ("none",)),
            device=_split(raw.get("device", [])),
            birads=tuple(v.lower() for v in _split(raw.get("birads", []))),
            history=tuple(v for v in _split(raw.get("history", [])) if v in ("yes", "no", "unknown")),
            dataset=_split(raw.get("dataset", [])),
            review=tuple(v for v in _split(raw.get("review", [])) if v in REVIEW_CHOICES),
            date_from=_iso((raw.get("from") or [None])[0]),
            date_to=_iso((raw.get("to") or [None])[0]),
        )

    def to_query(self) -> str:
        """`?a=b&...` (empty string when nothing is filtered), stable order."""
        params: list[tuple[str, str]] = []
        if self.age_min is not None or self.age_max is not None:
            params.append(("age", f"{'' if self.age_min is None else self.age_min}-"
                                  f"{'' if self.age_max is None else self.age_max}"))
        for key, values in (
            ("sex", self.sex),
            ("truth", self.truth),
            ("pred", self.predicted),
            ("device", self.device),
            ("birads", self.birads),
            ("history", self.history),
            ("dataset", self.dataset),
            ("review", self.review),
        ):
            if values:
                params.append((key, ",".join(values)))
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
            sex=many("sex"),
            truth=many("truth"),
            predicted=many("predicted"),
            device=many("device"),
            birads=tuple(b.lower() for b in many("birads")),
            history=many("history"),
            dataset=many("dataset"),
            review=many("review"),
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
        names = {
            "sex": "sex", "truth": "truth", "predicted": "predicted", "device": "device",
            "birads": "BI-RADS", "history": "family history", "dataset": "dataset", "review": "review",
        }
        for attr, name in names.items():
            values = getattr(self, attr)
            if values:
                out.append(f"{name}: {', '.join(values)}")
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
