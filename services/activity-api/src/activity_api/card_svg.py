"""The card as a self-contained SVG: what ``<paceline-activity>`` shows, without JavaScript.

For places where no script runs (a GitHub README through its image proxy, e-mail, feeds), the
card draws the same content as the element from the same summary: the latest activity (of a
sport), year-to-date totals and goal progress, with "Powered by Strava".

What makes it safe to put anywhere: the SVG is built with :mod:`xml.etree.ElementTree`, which
escapes every text and attribute value, and characters XML cannot carry are dropped first, so
an activity named ``<img src=x onerror=alert(1)>`` is text and the document always parses. It
holds no script, no event attribute, no link and no external reference (no photo, no font, no
``url()``): an ``<img>`` would not load them anyway, and inline they would be a way in.

Accessibility: ``role="img"`` with ``aria-labelledby`` naming its ``<title>`` and ``<desc>``,
which read the whole card out as sentences; the drawn text is hidden from assistive
technology so it is not read twice. Colours meet WCAG AA contrast in both themes; ``auto``
follows ``prefers-color-scheme``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from paceline.history import SPORT_TYPES

SVG_NS = "http://www.w3.org/2000/svg"
SPORTS = ("all", "run", "ride", "swim")
UNITS = ("metric", "imperial")
THEMES = ("auto", "light", "dark")
LAYOUTS = ("card", "compact")
FAMILIES = SPORT_TYPES
WIDTH = {"card": 420, "compact": 320}
NAME_CHARS = {"card": 40, "compact": 30}
PAD = 16

# Text colours reach 4.5:1 on their background (WCAG AA) in each theme.
_LIGHT = {"bg": "#ffffff", "fg": "#1d1d1f", "mu": "#5f5f66", "ln": "#e4e4e7", "ac": "#c43d00"}
_DARK = {"bg": "#1c1c1e", "fg": "#f2f2f7", "mu": "#a1a1aa", "ln": "#3a3a3c", "ac": "#fc4c02"}

# Characters XML 1.0 cannot hold (controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class CardOptions:
    """The card's query parameters, already validated (see :mod:`activity_api.card`)."""

    sport: str = "all"
    units: str = "metric"
    theme: str = "auto"
    layout: str = "card"
    locale: str = "en"  # a tag Babel knows (see :func:`locale_of`)


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


# --- numbers and units, as the element formats them ------------------------------------------
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

    def date(self, start_time_local: Any) -> str:
        """The local day an activity started (``Tue, Dec 1, 2026`` in ``en``)."""
        if not isinstance(start_time_local, str):
            return ""
        try:
            day = dt.datetime.fromisoformat(start_time_local).date()
        except ValueError:
            return ""
        return str(format_skeleton("yMMMEd", day, locale=self.locale))


# --- what the card says -----------------------------------------------------------------------
@dataclass(frozen=True)
class Stat:
    value: str
    label: str


@dataclass(frozen=True)
class CardContent:
    """The card's content as plain text, drawn by :func:`draw` and read out by ``desc``."""

    athlete: str
    heading: str  # the latest activity's name, or "No recent runs yet."
    subheading: str  # its date and sport
    stats: tuple[Stat, ...]
    totals: tuple[tuple[str, str], ...]  # ("Run this year", "123 km · 20 activities · 15 h")
    goals: tuple[tuple[str, float], ...]  # ("2026 run goal: 123 of 1,000 km (12%)", ratio)
    stale: bool
    pacing: tuple[str, ...] = ()  # one line per goal: "12 km ahead of even pace; ..."
    weeks: tuple[float | None, ...] = ()  # distance per week, oldest first; None: unknown
    week_labels: tuple[str, ...] = ()  # the same, formatted in the card's locale
    week_unit: str = "km"
    streaks: str = ""


def latest_of(view: Mapping[str, Any], sport: str) -> Mapping[str, Any] | None:
    family = FAMILIES.get(sport)
    if family is None:
        latest = view.get("latest_activity")
        return latest if isinstance(latest, Mapping) else None
    pool: Sequence[Any] = view.get("recent_activities") or []
    return next((a for a in pool if isinstance(a, Mapping) and a.get("sport_type") in family), None)


def content(view: Mapping[str, Any], options: CardOptions, stale: bool) -> CardContent:
    units = Units(options.units, options.locale)
    athlete = view.get("athlete") or {}
    latest = latest_of(view, options.sport)
    stats: list[Stat] = []
    if latest is not None:
        sport_type = clean(latest.get("sport_type") or "Workout")
        heading = clean(latest.get("name") or sport_type)
        subheading = " \u00b7 ".join(
            part for part in (units.date(latest.get("start_time_local")), sport_type) if part
        )
        stats.append(Stat(units.distance(latest.get("distance_m") or 0), "Distance"))
        stats.append(Stat(duration(latest.get("moving_time_s") or 0), "Time"))
        if latest.get("pace_s_per_km"):
            stats.append(Stat(units.pace(latest["pace_s_per_km"]), "Pace"))
        else:
            stats.append(Stat(units.speed(latest.get("average_speed_m_per_s") or 0), "Speed"))
        stats.append(Stat(units.elevation(latest.get("elevation_gain_m") or 0), "Elevation"))
    else:
        plural = f"{options.sport}s" if options.sport in FAMILIES else "activities"
        heading, subheading = f"No recent {plural} yet.", ""
    sports = [options.sport] if options.sport in FAMILIES else list(FAMILIES)
    totals_by_sport = view.get("totals") or {}
    totals: list[tuple[str, str]] = []
    for sport in sports:
        ytd = (totals_by_sport.get(sport) or {}).get("year_to_date") or {}
        if not ytd.get("count"):
            continue
        hours = round((ytd.get("moving_time_s") or 0) / 3600)
        count = ytd["count"]
        totals.append(
            (
                f"{sport.capitalize()} this year",
                f"{units.total(ytd.get('distance_m') or 0)} \u00b7 {units.number(count)} "
                f"{'activity' if count == 1 else 'activities'} \u00b7 {units.number(hours)} h",
            )
        )
    goals: list[tuple[str, float]] = []
    pacing: list[str] = []
    for goal in view.get("goals") or []:
        if goal.get("sport") not in sports:
            continue
        ratio = max(0.0, min(1.0, float(goal.get("progress_ratio") or 0)))
        metric = str(goal.get("metric"))
        goals.append(
            (
                f"{goal.get('year')} {goal.get('sport')} goal: "
                f"{units.goal(metric, goal.get('current') or 0)} of "
                f"{units.goal(metric, goal.get('target') or 0)} ({units.percent(ratio)})",
                ratio,
            )
        )
        if "ahead_by" in goal:
            ahead = float(goal["ahead_by"])
            side = "ahead of" if ahead >= 0 else "behind"
            pacing.append(
                f"{units.goal(metric, abs(ahead))} {side} even pace; on pace for "
                f"{units.goal(metric, goal.get('projected_year_end') or 0)} by year end"
            )
    weeks, streak_text = _history(view.get("history"), options, units)
    return CardContent(
        athlete=clean(athlete.get("display_name") or "Athlete"),
        heading=heading,
        subheading=subheading,
        stats=tuple(stats),
        totals=tuple(totals),
        goals=tuple(goals),
        stale=stale,
        pacing=tuple(pacing),
        weeks=weeks,
        week_labels=tuple("unknown" if v is None else units.number(v, "#,##0.#") for v in weeks),
        week_unit="mi" if units.imperial else "km",
        streaks=streak_text,
    )


def _history(
    history: Any, options: CardOptions, units: Units
) -> tuple[tuple[float | None, ...], str]:
    """The weekly distances (in the card's unit) and the streaks sentence."""
    if not isinstance(history, Mapping):
        return (), ""
    series = ((history.get("weekly") or {}).get(options.sport) or {}).get("distance_m") or []
    per_unit = 1609.344 if units.imperial else 1000.0
    weeks = tuple(None if v is None else round(float(v) / per_unit, 1) for v in series)
    count = functools.partial(_count, units)
    found = history.get("streaks") or {}
    days, weeks_streak = found.get("days") or {}, found.get("weeks") or {}
    text = ""
    if days or weeks_streak:
        text = (
            f"Streak: {count(days.get('current'), 'day')} "
            f"(longest {count(days.get('longest'), 'day')}), "
            f"{count(weeks_streak.get('current'), 'week')} "
            f"(longest {count(weeks_streak.get('longest'), 'week')})"
        )
    return weeks, text


def _count(units: Units, value: Any, noun: str) -> str:
    number = int(value or 0)
    return f"{units.number(number)} {noun}{'' if number == 1 else 's'}"


STALE_NOTE = "Strava is not answering right now; this may be out of date."
ATTRIBUTION = "Powered by Strava"


def description(card: CardContent) -> str:
    """The card read out as sentences (its ``<desc>``)."""
    parts: list[str] = []
    if card.stats:
        stats = ", ".join(f"{s.label.lower()} {s.value}" for s in card.stats)
        parts.append(f"Latest activity: {card.heading}, {card.subheading}. {stats}.")
    else:
        parts.append(card.heading)
    parts.extend(f"{label}: {value}." for label, value in card.totals)
    for index, (text, _) in enumerate(card.goals):
        pacing = f" ({card.pacing[index]})" if index < len(card.pacing) else ""
        parts.append(f"{text}{pacing}.")
    if card.weeks:
        values = ", ".join(card.week_labels)
        parts.append(
            f"Distance per week, last {len(card.weeks)} weeks, oldest first, in "
            f"{card.week_unit}: {values}."
        )
    if card.streaks:
        parts.append(card.streaks + ".")
    if card.stale:
        parts.append(STALE_NOTE)
    parts.append(ATTRIBUTION + ".")
    return " ".join(parts)


# --- drawing ----------------------------------------------------------------------------------
def _style(theme: str, scope: str) -> str:
    """The card's CSS. Every rule starts with the card's id: a ``<style>`` in an SVG inlined
    into a page applies to the whole page, and two cards (or the page) must not restyle each
    other."""

    def rules(colours: Mapping[str, str]) -> str:
        return (
            "".join(
                f"{scope} .{name}{{fill:{colour}}}"
                for name, colour in colours.items()
                if name != "bg"
            )
            + f"{scope} .bg{{fill:{colours['bg']};stroke:{colours['ln']}}}"
        )

    base = (
        f"{scope} text{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}}"
        f"{scope} .h{{font-size:16px;font-weight:600}}{scope} .s{{font-size:12px}}"
        f"{scope} .v{{font-size:15px;font-weight:600}}"
        f"{scope} .l{{font-size:10px;letter-spacing:.04em}}{scope} .b{{font-weight:600}}"
        f"{scope} .end{{text-anchor:end}}"
    )
    if theme == "light":
        return base + rules(_LIGHT)
    if theme == "dark":
        return base + rules(_DARK)
    return base + rules(_LIGHT) + "@media (prefers-color-scheme:dark){" + rules(_DARK) + "}"


class _Canvas:
    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self.group = ET.SubElement(root, "g", {"aria-hidden": "true"})

    def text(self, x: float, y: float, value: str, cls: str) -> None:
        node = ET.SubElement(self.group, "text", {"x": _n(x), "y": _n(y), "class": cls})
        node.text = value

    def rect(self, x: float, y: float, w: float, h: float, cls: str, r: float = 3) -> None:
        attributes = {"x": _n(x), "y": _n(y), "width": _n(w), "height": _n(h), "rx": _n(r)}
        ET.SubElement(self.group, "rect", {**attributes, "class": cls})


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def draw(card: CardContent, options: CardOptions, ident: str) -> bytes:
    """The SVG document of ``card``. ``ident`` makes its element ids unique on a page that
    inlines more than one card."""
    width = WIDTH[options.layout]
    compact = options.layout == "compact"
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "id": ident,
            "role": "img",
            "aria-labelledby": f"{ident}-title {ident}-desc",
            "width": str(width),
            "viewBox": "",  # set once the height is known
        },
    )
    title = ET.SubElement(root, "title", {"id": f"{ident}-title"})
    title.text = f"{card.athlete} on Strava"
    desc = ET.SubElement(root, "desc", {"id": f"{ident}-desc"})
    desc.text = description(card)
    style = ET.SubElement(root, "style")
    style.text = _style(options.theme, f"#{ident}")
    background = ET.SubElement(root, "rect", {"class": "bg", "x": "0.5", "y": "0.5", "rx": "12"})
    canvas = _Canvas(root)

    y = 26.0
    canvas.text(PAD, y, shorten(card.athlete, NAME_CHARS[options.layout] + 10), "s mu")
    y += 24
    canvas.text(PAD, y, shorten(card.heading, NAME_CHARS[options.layout]), "h fg")
    if card.subheading:
        y += 19
        canvas.text(PAD, y, card.subheading, "s mu")
    if card.stats:
        if compact:
            y += 22
            canvas.text(PAD, y, " \u00b7 ".join(s.value for s in card.stats), "s fg b")
        else:
            y += 30
            column = (width - 2 * PAD) / len(card.stats)
            for index, item in enumerate(card.stats):
                canvas.text(PAD + index * column, y, item.value, "v fg")
                canvas.text(PAD + index * column, y + 16, item.label.upper(), "l mu")
            y += 16
    for label, value in card.totals:
        y += 24 if compact else 26
        if compact:
            canvas.text(PAD, y, f"{label}: {value}", "s fg")
        else:
            canvas.text(PAD, y, label.upper(), "l mu")
            canvas.text(PAD, y + 16, value, "s fg b")
            y += 16
    if card.weeks and not compact:
        y = _chart(canvas, card, y, width)
    for index, (text, ratio) in enumerate(card.goals):
        y += 22
        canvas.text(PAD, y, text, "s mu")
        y += 7
        bar = width - 2 * PAD
        canvas.rect(PAD, y, bar, 6, "ln")
        if ratio > 0:
            canvas.rect(PAD, y, max(6.0, bar * ratio), 6, "ac")
        y += 6
        if index < len(card.pacing):
            y += 18
            canvas.text(PAD, y, card.pacing[index], "s mu")
    if card.streaks:
        y += 22
        canvas.text(PAD, y, card.streaks, "s mu")
    if card.stale:
        y += 22
        canvas.text(PAD, y, STALE_NOTE, "s mu")
    y += 26
    canvas.text(PAD, y, ATTRIBUTION, "s ac b")
    height = y + 16
    root.set("height", _n(height))
    root.set("viewBox", f"0 0 {width} {_n(height)}")
    background.set("width", _n(width - 1))
    background.set("height", _n(height - 1))
    drawn: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return drawn + b"\n"


def _chart(canvas: _Canvas, card: CardContent, y: float, width: int) -> float:
    """Twelve bars of weekly distance (its text alternative is in ``desc``); returns the new
    baseline. Unknown weeks get no bar."""
    y += 24
    canvas.text(PAD, y, f"LAST {len(card.weeks)} WEEKS ({card.week_unit})", "l mu")
    height, gap = 36.0, 4.0
    top = y + 6
    known = [v for v in card.weeks if v is not None]
    largest = max(known, default=0.0) or 1.0
    slot = (width - 2 * PAD) / len(card.weeks)
    for index, value in enumerate(card.weeks):
        x = PAD + index * slot
        canvas.rect(x, top + height - 1, slot - gap, 1, "ln", r=0)
        if value:
            bar = max(2.0, height * value / largest)
            canvas.rect(x, top + height - bar, slot - gap, bar, "ac", r=1.5)
    peak = max(range(len(card.weeks)), key=lambda i: card.weeks[i] or 0.0)
    canvas.text(width - PAD, y, f"max {card.week_labels[peak] if known else 0}", "l mu end")
    return top + height


@functools.lru_cache(maxsize=1024)
def card_id(key: str) -> str:
    return "paceline-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def render_card(view: Mapping[str, Any], options: CardOptions, stale: bool, ident: str) -> bytes:
    return draw(content(view, options, stale), options, ident)


def unavailable_card(options: CardOptions, message: str) -> bytes:
    """A small card that says nothing can be shown (served with a 503)."""
    card = CardContent(
        athlete="paceline",
        heading="Activity data is unavailable right now.",
        subheading=clean(message),
        stats=(),
        totals=(),
        goals=(),
        stale=False,
    )
    return draw(card, options, card_id("unavailable"))
