"""The SVG card drawn from a summary view: always well-formed, escaped, and read out."""

from __future__ import annotations

from typing import Any

from activity_api.card_svg import CardOptions, render_card, unavailable_card
from defusedxml import ElementTree as SafeET

SVG = "{http://www.w3.org/2000/svg}"


def view(name: str, **latest: Any) -> dict[str, Any]:
    activity = {
        "name": name,
        "sport_type": "Run",
        "start_time_local": "2026-03-01T07:30:00+01:00",
        "distance_m": 10000.0,
        "moving_time_s": 3000,
        "elevation_gain_m": 42.0,
        "average_speed_m_per_s": 3.333,
        "pace_s_per_km": 300.0,
        **latest,
    }
    return {
        "athlete": {"display_name": "Ada <Runner>"},
        "latest_activity": activity,
        "recent_activities": [activity],
        "totals": {"run": {"year_to_date": {"count": 1, "distance_m": 10000.0}}},
        "goals": [],
        "history": None,
    }


def draw(name: str, options: CardOptions | None = None, stale: bool = False) -> Any:
    return SafeET.fromstring(render_card(view(name), options or CardOptions(), stale, "c1"))


def test_characters_xml_cannot_carry_are_dropped_and_the_card_still_parses() -> None:
    root = draw("Run\x00\x01\x1b[31m\ud800 \ufffe&<b>")
    heading = [n.text for n in root.iter(f"{SVG}text")][1]
    assert heading == "Run[31m &<b>"


def test_long_names_are_shortened_on_the_card_but_read_out_whole() -> None:
    name = "A very long activity name that goes on and on past the edge of the card"
    root = draw(name)
    heading = [n.text or "" for n in root.iter(f"{SVG}text")][1]
    assert heading.endswith("\u2026") and len(heading) <= 40
    desc = root.find(f"{SVG}desc")
    assert desc is not None and name in (desc.text or "")


def test_title_and_desc_name_the_image() -> None:
    root = draw("Morning run")
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Ada <Runner> on Strava"
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert (desc.text or "").startswith("Latest activity: Morning run, Sun, Mar 1, 2026 · Run.")
    assert "distance 10.00 km, time 50:00, pace 5:00 /km, elevation 42 m" in (desc.text or "")


def test_styles_are_scoped_to_the_card() -> None:
    root = draw("x", CardOptions(theme="dark"))
    style = root.find(f"{SVG}style")
    assert style is not None
    rules = [r for r in (style.text or "").split("}") if r]
    assert all(rule.startswith("#c1 ") for rule in rules)


def test_stale_card_says_so() -> None:
    fresh = " ".join(n.text or "" for n in draw("x").iter(f"{SVG}text"))
    stale = " ".join(n.text or "" for n in draw("x", stale=True).iter(f"{SVG}text"))
    assert "not answering" not in fresh and "not answering" in stale


def test_unavailable_card_parses_and_says_why() -> None:
    root = SafeET.fromstring(unavailable_card(CardOptions(), "Please check back later."))
    assert "unavailable" in " ".join(n.text or "" for n in root.iter(f"{SVG}text"))


HISTORY = {
    "weekly": {"run": {"distance_m": [None] * 10 + [0.0, 12345.0], "moving_time_s": [0] * 12}},
    "monthly": {
        "month_starts": [f"2025-{m:02d}-01" for m in range(4, 13)] + ["2026-01-01"],
        "run": {"distance_m": [None] * 11 + [12345.0], "moving_time_s": [None] * 11 + [5400]},
    },
    "streaks": {"days": {"current": 1, "longest": 4}, "weeks": {"current": 2, "longest": 2}},
}


def draw_history(**options: str) -> tuple[str, list[Any]]:
    """The card's ``desc`` and its chart's rectangles (bars, ticks, unknown outlines)."""
    shown = {**view("x"), "history": HISTORY}
    root = SafeET.fromstring(render_card(shown, CardOptions(sport="run", **options), False, "c1"))
    desc = root.find(f"{SVG}desc")
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("class") in {"ac", "ln", "un"}]
    return (desc.text or "") if desc is not None else "", rects


def test_weekly_chart_reads_out_unknown_weeks_as_unknown_and_draws_them_dashed() -> None:
    said, rects = draw_history()
    assert (
        "Distance per week, last 12 weeks, oldest first, in km: "
        + ", ".join(["unknown"] * 10 + ["0", "12.3"])
        in said
    )
    assert [r.get("class") for r in rects].count("un") == 10
    assert "Streak: 1 day (longest 4 days), 2 weeks (longest 2 weeks)" in said


def test_monthly_chart_and_moving_time_follow_the_options() -> None:
    said, rects = draw_history(chart="months")
    assert "Distance per month, last 12 months from Apr 2025, oldest first, in km: " in said
    assert [r.get("class") for r in rects].count("un") == 11
    said, _ = draw_history(chart="months", measure="time", units="imperial", locale="de")
    assert "Moving time per month, last 12 months from Apr. 2025, oldest first, in h: " in said
    assert "in h: " + ", ".join(["unknown"] * 11 + ["1,5"]) + ". Streak:" in said


def test_chart_none_draws_and_reads_no_chart() -> None:
    said, rects = draw_history(chart="none")
    assert " per week" not in said and " per month" not in said and "Streak:" in said
    assert [r.get("class") for r in rects].count("un") == 0
