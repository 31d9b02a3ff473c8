"""What the card says, as plain text: the card's options and :class:`CardContent`, built from a
summary the same way ``<paceline-activity>`` builds what it shows, and read out as sentences
by :func:`description` (the SVG's ``<desc>``)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paceline.history import SPORT_TYPES

from activity_api.card_format import Units, clean, duration

SPORTS = ("all", "run", "ride", "swim")
UNITS = ("metric", "imperial")
THEMES = ("auto", "light", "dark")
LAYOUTS = ("card", "compact")
CHARTS = ("weeks", "months", "none")  # the element's ``chart`` attribute
MEASURES = ("distance", "time")  # the element's ``measure`` attribute
FAMILIES = SPORT_TYPES
STALE_NOTE = "Strava is not answering right now; this may be out of date."
ATTRIBUTION = "Powered by Strava"


@dataclass(frozen=True)
class CardOptions:
    """The card's query parameters, already validated (see :mod:`activity_api.card`)."""

    sport: str = "all"
    units: str = "metric"
    theme: str = "auto"
    layout: str = "card"
    locale: str = "en"  # a tag Babel knows (see :func:`activity_api.card_format.locale_of`)
    chart: str = "weeks"
    measure: str = "distance"


@dataclass(frozen=True)
class Stat:
    value: str
    label: str


@dataclass(frozen=True)
class Chart:
    """The bars of the chart in the card's unit, oldest first; ``None``: unknown."""

    bars: tuple[float | None, ...]
    labels: tuple[str, ...]  # the same, formatted in the card's locale ("unknown" for None)
    unit: str  # "km", "mi" or "h"
    period: str  # "week" or "month"
    measure: str  # "Distance" or "Moving time"
    since: str = ""  # the first period's start, formatted ("Sep 15, 2025"); "" if unknown


@dataclass(frozen=True)
class CardContent:
    """The card's content as plain text, drawn by :func:`activity_api.card_svg.draw` and read
    out by :func:`description`."""

    athlete: str
    heading: str  # the latest activity's name, or "No recent runs yet."
    subheading: str  # its date and sport
    stats: tuple[Stat, ...]
    totals: tuple[tuple[str, str], ...]  # ("Run this year", "123 km · 20 activities · 15 h")
    goals: tuple[tuple[str, float], ...]  # ("2026 run goal: 123 of 1,000 km (12%)", ratio)
    stale: bool
    pacing: tuple[str, ...] = ()  # one line per goal: "12 km ahead of even pace; ..."
    chart: Chart | None = None
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
    history = view.get("history")
    return CardContent(
        athlete=clean(athlete.get("display_name") or "Athlete"),
        heading=heading,
        subheading=subheading,
        stats=tuple(stats),
        totals=tuple(totals),
        goals=tuple(goals),
        stale=stale,
        pacing=tuple(pacing),
        chart=chart_of(history, options, units),
        streaks=streaks_of(history, units),
    )


def chart_of(history: Any, options: CardOptions, units: Units) -> Chart | None:
    """The bars the options ask for (``chart`` and ``measure``), in the card's unit."""
    if not isinstance(history, Mapping) or options.chart == "none":
        return None
    period = "month" if options.chart == "months" else "week"
    found = history.get(f"{period}ly") or {}
    series = found.get(options.sport) or {}
    time = options.measure == "time"
    values = series.get("moving_time_s" if time else "distance_m") or []
    if not values:  # a summary cached before it had this series
        return None
    per_unit = 3600.0 if time else 1609.344 if units.imperial else 1000.0
    bars = tuple(None if v is None else round(float(v) / per_unit, 1) for v in values)
    return Chart(
        bars=bars,
        labels=tuple("unknown" if v is None else units.number(v, "#,##0.#") for v in bars),
        unit="h" if time else "mi" if units.imperial else "km",
        period=period,
        measure="Moving time" if time else "Distance",
        since=units.period((found.get(f"{period}_starts") or [None])[0], month=period == "month"),
    )


def streaks_of(history: Any, units: Units) -> str:
    """The streaks sentence ("" when the summary has none)."""
    found = history.get("streaks") if isinstance(history, Mapping) else None
    if not isinstance(found, Mapping):
        return ""
    count = functools.partial(_count, units)
    days, weeks = found.get("days") or {}, found.get("weeks") or {}
    if not (days or weeks):
        return ""
    return (
        f"Streak: {count(days.get('current'), 'day')} "
        f"(longest {count(days.get('longest'), 'day')}), "
        f"{count(weeks.get('current'), 'week')} "
        f"(longest {count(weeks.get('longest'), 'week')})"
    )


def _count(units: Units, value: Any, noun: str) -> str:
    number = int(value or 0)
    return f"{units.number(number)} {noun}{'' if number == 1 else 's'}"


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
    chart = card.chart
    if chart is not None:
        parts.append(
            f"{chart.measure} per {chart.period}, last {len(chart.bars)} {chart.period}s"
            f"{f' from {chart.since}' if chart.since else ''}, oldest first, in {chart.unit}: "
            f"{', '.join(chart.labels)}."
        )
    if card.streaks:
        parts.append(card.streaks + ".")
    if card.stale:
        parts.append(STALE_NOTE)
    parts.append(ATTRIBUTION + ".")
    return " ".join(parts)
