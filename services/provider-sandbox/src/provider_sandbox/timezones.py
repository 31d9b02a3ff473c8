"""UTC offsets and Strava's ``"(GMT+01:00) Europe/Berlin"`` time-zone labels.

Uses the system time-zone database when present; slim container images may not ship one,
so a small table of standard offsets with the EU summer-time rule gives the same answers
for the zones the seed uses (EU rules since 1996 match the database exactly).
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# zone -> (standard offset seconds, follows EU summer time)
_FALLBACK: dict[str, tuple[int, bool]] = {
    "UTC": (0, False),
    "Europe/London": (0, True),
    "Europe/Dublin": (0, True),
    "Europe/Lisbon": (0, True),
    "Europe/Berlin": (3600, True),
    "Europe/Paris": (3600, True),
    "Europe/Amsterdam": (3600, True),
    "Europe/Madrid": (3600, True),
    "Europe/Rome": (3600, True),
    "Europe/Vienna": (3600, True),
    "Europe/Zurich": (3600, True),
    "Europe/Prague": (3600, True),
    "Europe/Helsinki": (7200, True),
    "Asia/Tokyo": (32400, False),
}


def _last_sunday(year: int, month: int) -> int:
    """Epoch seconds of 01:00 UTC on the last Sunday of ``month`` (EU switch instant)."""
    last_day = calendar.monthrange(year, month)[1]
    weekday = calendar.weekday(year, month, last_day)  # Monday = 0
    day = last_day - (weekday + 1) % 7
    return calendar.timegm((year, month, day, 1, 0, 0, 0, 0, 0))


def _fallback_offset(zone: str, epoch: float) -> int:
    standard, eu_summer = _FALLBACK.get(zone, (0, False))
    if not eu_summer:
        return standard
    year = time.gmtime(epoch).tm_year
    in_summer = _last_sunday(year, 3) <= epoch < _last_sunday(year, 10)
    return standard + (3600 if in_summer else 0)


def utc_offset(zone: str, epoch: float) -> int:
    """Offset of ``zone`` from UTC at ``epoch``, in seconds (0 for an unknown zone)."""
    try:
        info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return _fallback_offset(zone, epoch)
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC).astimezone(info)
    delta = moment.utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def is_known(zone: str) -> bool:
    """True if ``zone`` is an IANA name this sandbox can resolve."""
    if zone in _FALLBACK:
        return True
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def label(zone: str, offset: int) -> str:
    """Strava's display form, e.g. ``(GMT+01:00) Europe/Berlin``."""
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"(GMT{sign}{hours:02d}:{minutes:02d}) {zone}"
