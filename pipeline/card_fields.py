"""Reading bundle.json values with errors that name the field (`CardError`): the helpers behind `pipeline.card`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeline.errors import BundleError


class CardError(BundleError):
    """bundle.json is not a valid card: `field` is the dotted path of the bad field."""

    def __init__(self, field_path: str, problem: str, source: str | None = None) -> None:
        self.field = field_path
        self.problem = problem
        self.source = source
        where = f"bundle.json of {source}" if source else "bundle.json"
        super().__init__(f"{where}: field '{field_path}' {problem}")

    def in_bundle(self, source: str) -> "CardError":
        """The same error, naming the bundle folder it came from."""
        return CardError(self.field, self.problem, source)


# -- validation helpers: every one names the field it reads ---------------------------------------

MISSING = object()


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def raw_value(data: Mapping[str, Any], key: str, prefix: str, required: bool) -> Any:
    value = data.get(key, MISSING)
    if value is MISSING or (value is None and required):
        if required:
            raise CardError(where(prefix, key), "is missing" if value is MISSING else "is null")
        return None
    return value


def wrong(path: str, expected: str, value: Any) -> CardError:
    shown = repr(value)
    return CardError(path, f"must be {expected}, not {json_kind(value)} ({shown[:40]}{'…' if len(shown) > 40 else ''})")


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise wrong(path, "a string", value)
    return value


def as_int(value: Any, path: str, minimum: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise wrong(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise CardError(path, f"must be at least {minimum}, not {value}")
    return int(value)


def as_float(value: Any, path: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise wrong(path, "a finite number", value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise CardError(
            path,
            f"must lie in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}], not {value}",
        )
    return float(value)


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise wrong(path, "true or false", value)
    return value


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong(path, "an object", value)
    return dict(value)


def req_str(data: Mapping[str, Any], key: str, prefix: str = "") -> str:
    return as_str(raw_value(data, key, prefix, True), where(prefix, key))


def opt_str(data: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    value = raw_value(data, key, prefix, False)
    return None if value is None else as_str(value, where(prefix, key))


def opt_int(data: Mapping[str, Any], key: str, prefix: str = "", minimum: int | None = None) -> int | None:
    value = raw_value(data, key, prefix, False)
    return None if value is None else as_int(value, where(prefix, key), minimum)


def obj(data: Mapping[str, Any], key: str, prefix: str = "", required: bool = False) -> dict[str, Any] | None:
    value = raw_value(data, key, prefix, required)
    return None if value is None else as_object(value, where(prefix, key))


def extra_keys(data: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


def as_token(value: Any, path: str, choices: Mapping[str, str], legacy: Mapping[str, str]) -> str:
    text = as_str(value, path)
    if text in choices:
        return text
    for prose, token in legacy.items():
        if text.strip().lower().startswith(prose):
            return token
    raise CardError(path, f"is {text!r}, which this program cannot execute (it knows: {', '.join(choices)})")


def as_list(data: Mapping[str, Any], key: str, prefix: str, default: list[Any] | None) -> list[Any]:
    value = raw_value(data, key, prefix, default is None)
    if value is None:
        return list(default or [])
    if not isinstance(value, list):
        raise wrong(where(prefix, key), "a list", value)
    return value
