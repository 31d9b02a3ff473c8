"""The SVG card against the sandbox: same data as the summary, safe to put anywhere, cached like
the summary, and attacked with hostile names and parameters."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from defusedxml import ElementTree as SafeET

from tests.integration.activity_api.conftest import Harness, HarnessFactory, make_athlete

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<img src=x onerror=alert(1)>"


def parse(body: bytes) -> ET.Element:
    assert b"<!DOCTYPE" not in body and b"<!ENTITY" not in body
    return SafeET.fromstring(body)


def assert_inert(body: bytes) -> ET.Element:
    """No script, no event attribute, no link or reference to anything outside the card."""
    root = parse(body)
    for node in root.iter():
        tag = node.tag.removeprefix(SVG)
        assert tag not in {"script", "foreignObject", "a", "image", "use", "iframe", "object"}
        for name, value in node.attrib.items():
            bare = re.sub(r"^\{[^}]*\}", "", name)
            assert not bare.lower().startswith("on"), f"event attribute {name}"
            assert bare not in {"href", "src"}, f"reference attribute {name}"
            assert "url(" not in value and "javascript:" not in value.lower()
    style = "".join(n.text or "" for n in root.iter(f"{SVG}style"))
    assert "url(" not in style and "@import" not in style
    return root


def texts(root: ET.Element) -> list[str]:
    return [n.text or "" for n in root.iter(f"{SVG}text")]


def test_card_shows_what_the_summary_says(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    summary = harness.client.get(f"/v1/strava/athletes/{account}/summary").get_json()

    response = harness.client.get(f"/v1/strava/athletes/{account}/card.svg")

    assert response.status_code == 200
    assert response.content_type == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    control = response.headers["Cache-Control"]
    assert "public" in control and "private" not in control and "max-age=60" in control
    root = assert_inert(response.data)
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == title_id
    assert desc is not None and desc.get("id") == desc_id
    assert title.text == "Ada Runner on Strava"
    shown = texts(root)
    assert "Morning run" in shown
    assert "10.00 km" in shown and "50:00" in shown and "5:00 /km" in shown
    assert "Powered by Strava" in shown
    ytd_km = summary["totals"]["run"]["year_to_date"]["distance_m"] / 1000
    assert any(
        t.startswith(f"{ytd_km:.1f} km") or t.startswith(f"{round(ytd_km):,} km") for t in shown
    )
    # the description reads the card out, private activities are nowhere
    assert "Latest activity: Morning run" in (desc.text or "")
    assert "10.00 km" in (desc.text or "") and "Powered by Strava" in (desc.text or "")
    assert b"Secret run" not in response.data and b"Friends ride" not in response.data


def test_primary_card_and_variants(harness: Harness) -> None:
    harness.connect(make_athlete(harness.sandbox))
    ride = harness.client.get("/v1/strava/card.svg?sport=ride&units=imperial&layout=compact")
    assert ride.status_code == 200
    shown = " ".join(texts(assert_inert(ride.data)))
    assert "Long ride" in shown and "Morning run" not in shown
    assert " mi" in shown and " km" not in shown
    dark = harness.client.get("/v1/strava/card.svg?theme=dark")
    light = harness.client.get("/v1/strava/card.svg?theme=light")
    assert b"#1c1c1e" in dark.data and b"#1c1c1e" not in light.data
    auto = harness.client.get("/v1/strava/card.svg")
    assert b"prefers-color-scheme:dark" in auto.data
    assert len({dark.headers["ETag"], light.headers["ETag"], auto.headers["ETag"]}) == 3


def test_hostile_activity_name_is_text_in_the_card(harness: Harness) -> None:
    athlete_id = make_athlete(harness.sandbox)
    harness.sandbox.add_activity(
        athlete_id,
        name=HOSTILE + "\x01\x1b]0;x\x07 & <script>alert(2)</script>",
        sport_type="Run",
        start_date=int(harness.sandbox.now()) - 60,
    )
    account = harness.connect(athlete_id)
    response = harness.client.get(f"/v1/strava/athletes/{account}/card.svg")
    assert response.status_code == 200
    root = assert_inert(response.data)
    assert b"<img" not in response.data and b"<script" not in response.data
    heading = texts(root)[1]
    assert heading.startswith(HOSTILE)  # escaped in the bytes, the same text once parsed
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.get_data(as_text=True)
    desc = root.find(f"{SVG}desc")
    assert desc is not None and HOSTILE in (desc.text or "")


def test_card_revalidates_with_its_etag(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    first = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run")
    tag = first.headers["ETag"]
    again = harness.client.get(
        f"/v1/strava/athletes/{account}/card.svg?sport=run", headers={"If-None-Match": tag}
    )
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag
    other = harness.client.get(
        f"/v1/strava/athletes/{account}/card.svg?sport=ride", headers={"If-None-Match": tag}
    )
    assert other.status_code == 200 and other.headers["ETag"] != tag


def test_stale_card_is_marked_and_tagged_apart(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    fresh = harness.client.get(f"/v1/strava/athletes/{account}/card.svg")
    harness.sandbox.fault("/api/v3/*", status=502)
    harness.advance(harness.runtime.settings.summary_fresh_seconds + 1)
    stale = harness.client.get(
        f"/v1/strava/athletes/{account}/card.svg", headers={"If-None-Match": fresh.headers["ETag"]}
    )
    assert stale.status_code == 200
    assert stale.headers["ETag"] != fresh.headers["ETag"]
    shown = " ".join(texts(assert_inert(stale.data)))
    assert "Strava is not answering right now" in shown
    assert "Morning run" in shown


def test_nothing_cached_is_a_503_card_with_retry_after(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.fault("/api/v3/*", status=502)
    response = harness.client.get(f"/v1/strava/athletes/{account}/card.svg")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == "image/svg+xml"
    assert "unavailable right now" in " ".join(texts(assert_inert(response.data)))


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("sport=hike", "sport"),
        ("units=furlongs", "units"),
        ("theme=%3Cscript%3E", "theme"),
        ("layout=huge", "layout"),
        ("chart=years", "chart"),
        ("measure=calories", "measure"),
        ("locale=en;DROP", "locale"),
        ("locale=" + "a" * 200, "locale"),
    ],
)
def test_bad_parameters_are_a_clear_400(harness: Harness, query: str, names: str) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    for path in (f"/v1/strava/athletes/{account}/card.svg", "/v1/strava/card.svg"):
        response = harness.client.get(f"{path}?{query}")
        assert response.status_code == 400
        body = response.get_json()
        assert body["error"] == "bad_request" and body["message"].startswith(names)
        assert "<script>" not in response.get_data(as_text=True)


def test_unknown_athlete_card_is_404_and_builds_nothing(harness_factory: HarnessFactory) -> None:
    harness = harness_factory()
    assert harness.client.get("/v1/strava/card.svg").status_code == 404
    assert harness.client.get("/v1/strava/athletes/42/card.svg").status_code == 404
    assert harness.client.get("/v1/strava/athletes/..%2F1/card.svg").status_code == 404
    assert harness.total_api_calls() == 0


def test_cards_are_built_from_the_one_cached_summary(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    for query in ("", "sport=run", "sport=ride&theme=dark", "layout=compact&units=imperial"):
        assert (
            harness.client.get(f"/v1/strava/athletes/{account}/card.svg?{query}").status_code == 200
        )
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    # one build (athlete, activities, stats, the latest's detail for its photo) for all
    assert sum(harness.api_calls().values()) == 4


def test_summary_and_card_carry_weekly_history_streaks_and_goal_pacing(
    harness_factory: HarnessFactory,
) -> None:
    harness = harness_factory(summary_goals='{"run": {"distance_m": 500000}}')
    account = harness.connect(make_athlete(harness.sandbox))
    body = harness.client.get(f"/v1/strava/athletes/{account}/summary").get_json()

    weekly = body["history"]["weekly"]
    public = body["recent_activities"]
    # every public activity of the last 80 hours is in the twelve weeks; private ones are not
    assert sum(weekly["all"]["distance_m"]) == pytest.approx(sum(a["distance_m"] for a in public))
    runs = [a for a in public if a["sport_type"] == "Run"]
    assert sum(weekly["run"]["distance_m"]) == pytest.approx(sum(a["distance_m"] for a in runs))
    assert weekly["known_since"] is None  # fewer than a page: the whole history was fetched
    streaks = body["history"]["streaks"]
    assert 1 <= streaks["days"]["current"] <= streaks["days"]["longest"]
    goal = body["goals"][0]
    assert goal["ahead_by"] == pytest.approx(goal["current"] - goal["expected_by_today"], abs=0.2)
    assert goal["projected_year_end"] >= goal["current"]

    card = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run")
    root = assert_inert(card.data)
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    said = desc.text or ""
    first = dt.date.fromisoformat(weekly["week_starts"][0])
    since = f"from {first:%b} {first.day}, {first.year}"
    assert f"Distance per week, last 12 weeks {since}, oldest first, in km:" in said
    assert "even pace; on pace for" in said and "Streak:" in said
    km = [f"{v / 1000:g}" for v in weekly["run"]["distance_m"] if v]
    assert all(value in said for value in km)
    shown = " ".join(texts(root))
    assert "LAST 12 WEEKS (km)" in shown and "even pace" in shown

    monthly = body["history"]["monthly"]
    assert sum(monthly["run"]["distance_m"]) == pytest.approx(sum(weekly["run"]["distance_m"]))
    card = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run&chart=months")
    root = assert_inert(card.data)
    said = (root.findtext(f"{SVG}desc") or "").split("Distance per month")[1]
    first = dt.date.fromisoformat(monthly["month_starts"][0])
    assert said.startswith(f", last 12 months from {first:%b %Y}, oldest first, in km:")
    km = [f"{v / 1000:g}" for v in monthly["run"]["distance_m"] if v]
    assert km and all(value in said for value in km)
    assert "LAST 12 MONTHS (km)" in " ".join(texts(root))


def test_locale_formats_numbers_and_dates(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    summary = harness.client.get(f"/v1/strava/athletes/{account}/summary").get_json()
    german = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run&locale=de")
    english = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run")
    assert german.headers["ETag"] != english.headers["ETag"]
    shown_de = texts(assert_inert(german.data))
    shown_en = texts(assert_inert(english.data))
    assert "10,00 km" in shown_de and "10.00 km" in shown_en
    ytd = summary["totals"]["run"]["year_to_date"]["distance_m"] / 1000
    if ytd < 100:
        assert any(t.startswith(f"{ytd:.1f}".replace(".", ",") + " km") for t in shown_de)
    day = summary["latest_activity"]["start_time_local"][:10]
    year, _, date = day.split("-")
    # German dates put the day first: "Di., 1. Dez. 2026"
    assert any(f"{int(date)}. " in t and year in t for t in shown_de), shown_de
    # a well-formed tag without data falls back as the browser's Intl does: language, English
    swiss = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run&locale=de-XY")
    assert swiss.headers["ETag"] == german.headers["ETag"]
    unknown = harness.client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run&locale=qqq")
    assert unknown.status_code == 200 and "10.00 km" in texts(assert_inert(unknown.data))
