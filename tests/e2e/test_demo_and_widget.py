"""The demo a new user runs, end to end: `make demo`, the summary, the widget in a real browser.

One demo stack is started for the module (it takes a few seconds); the browser tests drive the
widget page against it, with faults injected into the sandbox for the stale and unavailable
states. Screenshots land under the test's output directory.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from defusedxml import ElementTree as SafeET

from tests.e2e.demo_stack import DemoStack, alive, group_members, start_demo

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    stack = start_demo(tmp_path_factory.mktemp("demo"))
    yield stack
    if stack.process.poll() is None:
        stack.interrupt()


@pytest.fixture(scope="module")
def output_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-output" / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sandbox_control(demo: DemoStack, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{demo.sandbox_url}/_sandbox/{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def demo_athlete_truth(demo: DemoStack) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sandbox's own record of the demo athlete's newest public activity and stats."""
    athlete = sandbox_control(demo, "GET", "athletes")[0]
    activities = sandbox_control(demo, "GET", f"athletes/{athlete['id']}/activities")
    public = [
        a
        for a in activities
        if a.get("visibility", "everyone") == "everyone" and not a.get("private")
    ]
    latest = max(public, key=lambda a: a["start_date"])
    return athlete, latest


def test_make_demo_serves_the_summary_and_the_widget(demo: DemoStack) -> None:
    assert demo.password, "the demo prints the gateway's demo password"
    for name in ("widget demo", "summary JSON", "auth-gateway", "metrics"):
        assert name in demo.urls, f"make demo printed no {name} URL: {demo.urls}"
    summary = requests.get(demo.urls["summary JSON"], timeout=10)
    assert summary.status_code == 200
    body = summary.json()
    _, latest = demo_athlete_truth(demo)
    assert body["latest_activity"]["name"] == latest["name"]
    widget = requests.get(
        demo.urls["widget demo"].replace("/widget/demo", "/widget.js"), timeout=10
    )
    assert widget.status_code == 200
    assert 'customElements.define("paceline-activity"' in widget.text
    page = requests.get(demo.urls["widget demo"], timeout=10)
    assert "<paceline-activity" in page.text
    gateway = requests.get(demo.urls["auth-gateway"], auth=("admin", demo.password), timeout=10)
    assert gateway.status_code == 200


def test_widget_weighs_under_6_kb_gzipped(demo: DemoStack) -> None:
    script = requests.get(
        demo.urls["widget demo"].replace("/widget/demo", "/widget.js"), timeout=10
    )
    assert len(gzip.compress(script.content, 9)) < 6 * 1024


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make test` (it installs it with apt-get)")
    from playwright import sync_api as playwright_api

    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()


def open_widget(browser: Any, demo: DemoStack, selector: str = "#widget-default") -> Any:
    page = browser.new_page(viewport={"width": 1100, "height": 900}, bypass_csp=True)
    page.goto(demo.urls["widget demo"])
    page.wait_for_function(
        f"document.querySelector('{selector}').getAttribute('data-state') !== 'loading'",
        timeout=20_000,
    )
    return page


def shadow_text(page: Any, selector: str, inner: str) -> str:
    return str(
        page.evaluate(
            f"document.querySelector('{selector}').shadowRoot.querySelector('{inner}')?.textContent"
        )
    )


def test_widget_shows_the_latest_activity_and_year_to_date(
    browser: Any, demo: DemoStack, output_dir: Path
) -> None:
    _, latest = demo_athlete_truth(demo)
    summary = requests.get(demo.urls["summary JSON"], timeout=10).json()
    page = open_widget(browser, demo)
    assert page.get_attribute("#widget-default", "data-state") == "ready"
    assert shadow_text(page, "#widget-default", ".name") == latest["name"]
    text = page.evaluate("document.querySelector('#widget-default').shadowRoot.textContent")
    assert f"{latest['distance'] / 1000:.2f} km" in text
    ytd = summary["totals"]["run"]["year_to_date"]
    assert ytd["count"] > 0
    ytd_km = ytd["distance_m"] / 1000
    ytd_text = f"{round(ytd_km):,} km" if ytd_km >= 100 else f"{ytd_km:.1f} km"
    assert ytd_text in text
    assert "Powered by Strava" in text
    # Strava's brand guidelines: links back to Strava read "View on Strava".
    view = page.evaluate(
        "(() => { const a = document.querySelector('#widget-default').shadowRoot"
        ".querySelector('a.view'); return a && [a.textContent, a.href]; })()"
    )
    assert view == ["View on Strava", summary["latest_activity"]["url"]]
    page.screenshot(path=str(output_dir / "widget-ready.png"), full_page=True)
    page.close()


def add_widget(page: Any, demo: DemoStack, ident: str, **attributes: str) -> None:
    """A ``<paceline-activity id=ident>`` with ``attributes`` added to the demo page, once ready."""
    page.evaluate(
        """([ident, api, attributes]) => {
            const el = document.createElement('paceline-activity');
            el.id = ident;
            el.setAttribute('api', api);
            for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
            document.querySelector('main').appendChild(el);
        }""",
        [ident, demo.urls["widget demo"].removesuffix("/widget/demo"), attributes],
    )
    page.wait_for_function(
        f"document.querySelector('#{ident}').getAttribute('data-state') === 'ready'",
        timeout=20_000,
    )


@pytest.mark.parametrize(
    ("chart", "measure", "field", "per_unit", "unit"),
    [
        ("weeks", "distance", "distance_m", 1000, "km"),
        ("months", "distance", "distance_m", 1000, "km"),
        ("months", "time", "moving_time_s", 3600, "h"),
    ],
)
def test_widget_chart_draws_the_summarys_series_with_its_text_alternative(
    browser: Any,
    demo: DemoStack,
    output_dir: Path,
    chart: str,
    measure: str,
    field: str,
    per_unit: int,
    unit: str,
) -> None:
    summary = requests.get(demo.urls["summary JSON"], timeout=10).json()
    found = summary["history"][f"{chart[:-1]}ly"]
    series = found["run"][field]
    first = dt.date.fromisoformat(found[f"{chart[:-1]}_starts"][0])
    # the browser's en-US dates: "Sep 15, 2025" for a week, "Sep 2025" for a month
    since = f"{first:%b %Y}" if chart == "months" else f"{first:%b} {first.day}, {first.year}"
    page = open_widget(browser, demo)
    add_widget(page, demo, "widget-chart", sport="run", chart=chart, measure=measure)
    drawn = page.evaluate(
        "(() => { const svg = document.querySelector('#widget-chart').shadowRoot"
        ".querySelector('.chart svg'); return [svg.getAttribute('role'),"
        " svg.getAttribute('aria-label'), [...svg.querySelectorAll('rect')]"
        ".map(r => [r.getAttribute('class'), +r.getAttribute('height')])]; })()"
    )
    role, label, bars = drawn
    assert role == "img"
    period = chart[:-1]
    values = ", ".join("unknown" if v is None else f"{v / per_unit:,.1f}" for v in series)
    measured = "Moving time" if measure == "time" else "Distance"
    assert label == (
        f"{measured} per {period}, last 12 {period}s from {since}, oldest first, in {unit}: "
        f"{values}"
    )
    assert len(bars) == len(series) == 12
    # unknown periods are outlined, not drawn as zero; the tallest bar is the largest value
    assert [c == "u" for c, _ in bars] == [v is None for v in series]
    assert [c == "z" for c, _ in bars] == [v == 0 for v in series]
    known = [(h, v) for (c, h), v in zip(bars, series, strict=True) if v]
    assert max(known)[1] == max(v for _, v in known)
    text = page.evaluate("document.querySelector('#widget-chart').shadowRoot.textContent")
    streaks = summary["history"]["streaks"]["days"]
    assert f"Streak: {streaks['current']} day" in text
    assert f"(longest {streaks['longest']} day" in text
    assert "even pace; on pace for" in text  # the demo sets a running goal
    page.locator("#widget-chart").screenshot(
        path=str(output_dir / f"widget-chart-{chart}-{measure}.png")
    )
    page.close()


def test_strava_embed_layout_hands_the_latest_public_activity_to_stravas_embed(
    browser: Any, demo: DemoStack
) -> None:
    summary = requests.get(demo.urls["summary JSON"], timeout=10).json()
    page = open_widget(browser, demo, "#widget-embed")
    placed = page.evaluate(
        "(() => { const w = document.querySelector('#widget-embed');"
        " const p = w.querySelector('.strava-embed-placeholder');"
        " const s = w.querySelector('script');"
        " return p && [p.dataset.embedType, p.dataset.embedId, s && s.src,"
        " w.shadowRoot.textContent.includes('Powered by Strava')]; })()"
    )
    assert placed == [
        "activity",
        str(summary["latest_activity"]["id"]),
        "https://strava-embeds.com/embed.js",
        True,
    ]
    page.close()


def test_widget_marks_stale_data_when_strava_fails(
    browser: Any, demo: DemoStack, output_dir: Path
) -> None:
    requests.get(demo.urls["summary JSON"], timeout=10)  # make sure something is cached
    athlete, latest = demo_athlete_truth(demo)
    sandbox_control(demo, "POST", "faults", json={"match": "/api/v3/*", "status": 500})
    # Strava tells us the activity changed; the rebuild fails, so the old summary is served
    # marked stale while the provider is down.
    sandbox_control(
        demo,
        "POST",
        "webhooks/emit",
        json={
            "object_type": "activity",
            "aspect_type": "update",
            "object_id": latest["id"],
            "owner_id": athlete["id"],
            "updates": {"title": "renamed"},
        },
    )
    try:
        # Every worker must have seen the change: each may answer from its one-second memo
        # (PACELINE_SUMMARY_MEMO_SECONDS), so wait for stale answers over more than that.
        deadline = time.monotonic() + 20
        stale_since = None
        while time.monotonic() < deadline:
            meta = requests.get(demo.urls["summary JSON"], timeout=10).json()["meta"]
            if not meta["stale"]:
                stale_since = None
            elif stale_since is None:
                stale_since = time.monotonic()
            elif time.monotonic() - stale_since > 1.5:
                break
            time.sleep(0.2)
        assert meta["stale"], "the API marks the summary stale when the provider fails"
        page = open_widget(browser, demo)
        assert page.get_attribute("#widget-default", "data-state") == "stale"
        assert "not answering" in shadow_text(page, "#widget-default", ".stale")
        page.screenshot(path=str(output_dir / "widget-stale.png"), full_page=True)
        page.close()
    finally:
        sandbox_control(demo, "DELETE", "faults")


def test_widget_shows_unavailable_when_nothing_can_be_served(
    browser: Any, demo: DemoStack, output_dir: Path
) -> None:
    athlete, _ = demo_athlete_truth(demo)
    sandbox_control(demo, "POST", "faults", json={"match": "/api/v3/*", "status": 500})
    # Nothing cached any more (as after a fresh install) while the provider is down.
    store = redis.Redis.from_url(demo.redis_url)
    store.delete(*store.keys(f"paceline:summary*:strava:{athlete['id']}"))
    time.sleep(1.5)  # a worker answers from its memory of a read for up to 1 s (memo_seconds)
    page = browser.new_page(bypass_csp=True)
    try:
        response = requests.get(demo.urls["summary JSON"], timeout=10)
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        page.goto(demo.urls["widget demo"])
        page.wait_for_function(
            "document.querySelector('#widget-default').getAttribute('data-state') === "
            "'unavailable'",
            timeout=20_000,
        )
        assert "unavailable" in shadow_text(page, "#widget-default", ".unavailable")
        page.screenshot(path=str(output_dir / "widget-unavailable.png"), full_page=True)
    finally:
        sandbox_control(demo, "DELETE", "faults")
        page.close()
    # and it recovers by itself once the provider answers again
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if requests.get(demo.urls["summary JSON"], timeout=10).status_code == 200:
            break
        time.sleep(1)
    assert requests.get(demo.urls["summary JSON"], timeout=10).status_code == 200


def test_activity_names_render_as_text_never_markup(browser: Any, demo: DemoStack) -> None:
    athlete, _ = demo_athlete_truth(demo)
    hostile = "<img src=x onerror=alert(1)>"
    sandbox_control(
        demo,
        "POST",
        f"athletes/{athlete['id']}/activities",
        json={
            "name": hostile,
            "sport_type": "Run",
            "distance": 5000.0,
            "moving_time": 1500,
            "emit_webhook": True,
        },
    )
    # held for longer than the per-worker one-second memo, so every worker serves it; events
    # are coalesced per account (one rebuild per PACELINE_WEBHOOK_COOLDOWN_SECONDS, 60 s), and
    # the tests before this one had the account rebuilt moments ago
    deadline = time.monotonic() + 90
    seen_since = None
    while time.monotonic() < deadline:
        body = requests.get(demo.urls["summary JSON"], timeout=10).json()
        if body["latest_activity"]["name"] != hostile:
            seen_since = None
        elif seen_since is None:
            seen_since = time.monotonic()
        elif time.monotonic() - seen_since > 1.5:
            break
        time.sleep(0.2)
    assert body["latest_activity"]["name"] == hostile, "the webhook refreshed the summary"
    dialogs: list[str] = []
    # the SVG card: the name is escaped text, and nothing in it runs or loads
    card = requests.get(demo.urls["summary JSON"].replace("/summary", "/card.svg"), timeout=10)
    assert card.status_code == 200 and card.headers["Content-Type"] == "image/svg+xml"
    svg = SafeET.fromstring(card.content)
    names = [n.text for n in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert hostile in names
    assert b"<img" not in card.content and b"<script" not in card.content
    assert not [a for n in svg.iter() for a in n.attrib if a.lower().startswith("on")]
    card_page = browser.new_page()
    card_page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    card_page.goto(card.url)  # the SVG opened as a document, its CSP and all
    assert card_page.evaluate("document.querySelectorAll('img, script').length") == 0
    card_page.close()
    page = browser.new_page(bypass_csp=True)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(demo.urls["widget demo"])
    page.wait_for_function(
        "document.querySelector('#widget-default').getAttribute('data-state') === 'ready'",
        timeout=20_000,
    )
    assert shadow_text(page, "#widget-default", ".name") == hostile
    injected = page.evaluate(
        "document.querySelector('#widget-default').shadowRoot.querySelectorAll('img[src=x]').length"
    )
    assert injected == 0
    assert dialogs == []
    page.close()


def test_honest_totals_count_private_activities_and_no_output_shows_one(
    browser: Any, demo: DemoStack, output_dir: Path
) -> None:
    """The demo's athlete opts in to honest totals: a private run recorded now moves the year's
    total in the JSON, the element and the card (equal to the sandbox's own sums of every
    activity), and none of them names, dates or links a private or followers-only activity."""
    athlete, _ = demo_athlete_truth(demo)
    sandbox_control(
        demo, "POST", f"athletes/{athlete['id']}/activities",
        json={"name": "Secret recovery jog", "sport_type": "Run", "private": True,
              "distance": 4321.0, "moving_time": 1800, "emit_webhook": True},
    )  # fmt: skip
    sums = sandbox_control(demo, "GET", f"athletes/{athlete['id']}/year-totals")["run"]
    honest = {
        "count": sums["count"],
        "distance_m": sums["distance"],
        "moving_time_s": sums["moving_time"],
        "elevation_gain_m": sums["elevation_gain"],
    }
    summary_url = demo.urls["summary JSON"]
    # The create event reaches the consumer, which patches the summary; an earlier test's event
    # may have spent the account's rebuild slot (PACELINE_WEBHOOK_COOLDOWN_SECONDS, 60 s).
    deadline = time.monotonic() + 90
    ytd: dict[str, Any] = {}
    while time.monotonic() < deadline:
        ytd = requests.get(summary_url, timeout=10).json()["totals"]["run"]["year_to_date"]
        if ytd == honest:
            break
        time.sleep(0.3)
    assert ytd == honest, "the summary's year-to-date run total is not the sandbox's own sum"

    page = open_widget(browser, demo)
    element = page.evaluate("document.querySelector('#widget-default').shadowRoot.innerHTML")
    text = page.evaluate("document.querySelector('#widget-default').shadowRoot.textContent")
    ytd_km = honest["distance_m"] / 1000
    assert (f"{round(ytd_km):,} km" if ytd_km >= 100 else f"{ytd_km:.1f} km") in text
    page.screenshot(path=str(output_dir / "widget-honest-totals.png"), full_page=True)
    page.close()
    outputs = {
        "summary JSON": requests.get(summary_url, timeout=10).text,
        "activities JSON": requests.get(
            summary_url.replace("/summary", "/activities"), timeout=10
        ).text,
        "card": requests.get(summary_url.replace("/summary", "/card.svg"), timeout=10).text,
        "element": element,
    }
    every = sandbox_control(demo, "GET", f"athletes/{athlete['id']}/activities")
    hidden = [a for a in every if a["visibility"] != "everyone"]
    public_names = {a["name"] for a in every if a["visibility"] == "everyone"}
    assert any(a["name"] == "Secret recovery jog" for a in hidden)
    for activity in hidden:
        needles = {
            # a generic name ("Morning Run") shared with a public activity identifies nothing
            **({activity["name"]: "name"} if activity["name"] not in public_names else {}),
            str(activity["id"]): "id",
            activity["start_date"][:16]: "start time (UTC)",
            activity["start_date_local"][:16]: "start time (local)",
        }
        for where, output in outputs.items():
            for needle, what in needles.items():
                assert needle not in output, f"the {where} shows a private activity's {what}"


def test_ctrl_c_stops_every_process_the_demo_started(demo: DemoStack) -> None:
    pids = demo.child_pids()
    assert len(pids) >= 4, "redis, sandbox, activity-api and auth-gateway were started"
    assert all(alive(pid) for pid in pids)
    demo.interrupt()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []
    # gunicorn workers and anything else in the children's process groups are gone too
    assert [pid for pid in pids if group_members(pid)] == []
    assert "stopped every process it started" in "".join(demo.output)
