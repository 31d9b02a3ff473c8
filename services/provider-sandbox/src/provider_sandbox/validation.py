"""Checking JSON input of the control API and turning it into typed values.

The control API is how tests and the demo shape the world, so a wrong field name or type
must answer 400 naming the field rather than being ignored and making a test pass for the
wrong reason.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import request

Checker = Callable[[Any], Any]


class InputError(Exception):
    """Bad control input; rendered as 400 ``{"error": message, "field": field}``."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as ``{}``."""
    if not request.get_data():
        return {}
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise InputError(None, "request body must be a JSON object")
    return payload


def check_object(
    payload: Mapping[str, Any],
    schema: Mapping[str, Checker],
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate ``payload`` against ``schema``; unknown and missing fields are errors."""
    for name in required:
        if payload.get(name) is None:
            raise InputError(name, "is required")
    checked = {}
    for name, value in payload.items():
        checker = schema.get(name)
        if checker is None:
            raise InputError(name, "unknown field")
        try:
            checked[name] = checker(value)
        except ValueError as exc:
            raise InputError(name, str(exc)) from None
    return checked


def _nullable(checker: Checker, nullable: bool) -> Checker:
    if not nullable:
        return checker

    def check(value: Any) -> Any:
        return None if value is None else checker(value)

    return check


def string(nullable: bool = False, non_empty: bool = True) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or (non_empty and not value):
            raise ValueError("must be a non-empty string" if non_empty else "must be a string")
        return value

    return _nullable(check, nullable)


def integer(
    minimum: int | None = None, nullable: bool = False, maximum: int | None = None
) -> Checker:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum}")
        return value

    return _nullable(check, nullable)


def number(minimum: float | None = None, nullable: bool = False) -> Checker:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return float(value)

    return _nullable(check, nullable)


def boolean() -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("must be a boolean")
        return value

    return check


def choice(options: Iterable[str], nullable: bool = False) -> Checker:
    allowed = tuple(options)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return _nullable(check, nullable)


def latlng() -> Checker:
    """``[lat, lng]``; ``null`` or ``[]`` mean no GPS."""

    def check(value: Any) -> Any:
        if value is None or value == []:
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not (-90 <= value[0] <= 90 and -180 <= value[1] <= 180)
        ):
            raise ValueError("must be [lat, lng]")
        return [float(value[0]), float(value[1])]

    return check


def parse_timestamp(value: Any) -> int:
    """Epoch seconds from an int or an ISO-8601 UTC string like ``2024-05-01T07:30:00Z``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().removesuffix("Z")
        try:
            parsed = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO-8601 UTC time") from None
        return calendar.timegm(parsed)
    raise ValueError("must be epoch seconds or an ISO-8601 UTC time")


def timestamp() -> Checker:
    return parse_timestamp
