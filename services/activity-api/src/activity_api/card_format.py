"""How the card writes things: numbers, units and dates in a locale, and text XML can carry.

Numbers and dates come from CLDR through Babel, the same data the browser's ``Intl`` uses, so
the card reads like ``<paceline-activity>`` with the same ``locale``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent

# Characters XML 1.0 cannot hold (controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@functools.lru_cache(maxsize=256)
def locale_of(tag: str) -> Locale:
    """The CLDR locale of a well-formed language tag (``de``, ``pt-BR``, ``en_GB``). Like the
    browser's ``Intl``, a tag without data falls back to its language, then to English."""
    parts = tag.replace("-", "_").split("_")
    for candidate in ("_".join(parts), parts[0]):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return Locale("en")


def clean(text: Any) -> str:
    """``text`` as a string XML can carry (ElementTree escapes markup but not this)."""
    return _NOT_XML.sub("", str(text))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def duration(seconds: float) -> str:
    total = round(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Units:
    """Quantities as the element shows them, with numbers and dates in ``locale`` (Babel, from
    CLDR: the same data the browser's ``Intl`` uses)."""

    def __init__(self, system: str, locale: str = "en") -> None:
        self.imperial = system == "imperial"
        self.locale = locale_of(locale)

    def number(self, value: float, pattern: str = "#,##0") -> str:
        return str(format_decimal(value, format=pattern, locale=self.locale))

    def percent(self, ratio: float) -> str:
        return str(format_percent(ratio, locale=self.locale))

    def distance(self, metres: float) -> str:
        value = metres / 1609.344 if self.imperial else metres / 1000
        return self.number(value, "#,##0.00") + (" mi" if self.imperial else " km")

    def total(self, metres: float) -> str:
        value = metres / 1609.344 if self.imperial else metres / 1000
        shown = self.number(round(value)) if value >= 100 else self.number(value, "#,##0.0")
        return shown + (" mi" if self.imperial else " km")

    def elevation(self, metres: float) -> str:
        if self.imperial:
            return self.number(round(metres * 3.28084)) + " ft"
        return self.number(round(metres)) + " m"

    def pace(self, s_per_km: float) -> str:
        seconds = s_per_km * 1.609344 if self.imperial else s_per_km
        return duration(seconds) + (" /mi" if self.imperial else " /km")

    def speed(self, m_per_s: float) -> str:
        if self.imperial:
            return self.number(m_per_s * 2.23694, "#,##0.0") + " mph"
        return self.number(m_per_s * 3.6, "#,##0.0") + " km/h"

    def goal(self, metric: str, value: float) -> str:
        if metric == "distance_m":
            return self.total(value)
        if metric == "elevation_gain_m":
            return self.elevation(value)
        if metric == "moving_time_s":
            return self.number(round(value / 3600)) + " h"
        return self.number(round(value))

    def period(self, start: Any, month: bool) -> str:
        """The first day of a chart's week (``Sep 15, 2025`` in ``en``) or its month
        (``Sep 2025``), as the element's ``toLocaleDateString`` writes it."""
        try:
            day = dt.date.fromisoformat(start)
        except (TypeError, ValueError):
            return ""
        return str(format_skeleton("yMMM" if month else "yMMMd", day, locale=self.locale))

    def date(self, start_time_local: Any) -> str:
        """The local day an activity started (``Tue, Dec 1, 2026`` in ``en``)."""
        if not isinstance(start_time_local, str):
            return ""
        try:
            day = dt.datetime.fromisoformat(start_time_local).date()
        except ValueError:
            return ""
        return str(format_skeleton("yMMMEd", day, locale=self.locale))
