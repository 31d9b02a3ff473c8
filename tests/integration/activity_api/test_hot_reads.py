"""The edge's hot path (:mod:`activity_api.hot_reads`): a page view of a summary or card this
worker served a moment ago is answered before Flask, and that answer is the route's, byte for
byte and header for header; every other case is left to the route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import request
from paceline.web.app import edge_of
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

from tests.integration.activity_api.conftest import ORIGIN, Harness, HarnessFactory, make_athlete

CARD_ROUTE = "/v1/strava/athletes/<athlete_id>/card.svg"


@dataclass
class Hot:
    h: Harness
    account: str
    routed: list[str]  # the requests Flask dispatched (its before_request hooks ran)

    def get(self, url: str, **headers: str) -> TestResponse:
        return self.h.client.get(url, headers=headers)

    def warm(self, url: str, **headers: str) -> TestResponse:
        """Ask twice through the route: the first read may build, the second is remembered."""
        self.get(url, **headers)
        return self.get(url, **headers)


@pytest.fixture
def hot(harness_factory: HarnessFactory) -> Iterator[Hot]:
    # The per-worker memo on (production's default is 1 s; long here so it cannot expire
    # mid-test), and the ingress prefix, which the hot path must see through like the app.
    h = harness_factory(summary_memo_seconds=60, path_prefix="/api")
    routed: list[str] = []
    h.app.before_request(lambda: routed.append(request.full_path))
    account = h.connect(make_athlete(h.sandbox))
    yield Hot(h, account, routed)


def same_answer(ours: TestResponse, routes: TestResponse) -> None:
    assert ours.status_code == routes.status_code
    assert list(ours.headers.items()) == list(routes.headers.items())
    assert ours.get_data() == routes.get_data()


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/strava/summary", {}),
        ("/v1/strava/athletes/{account}/summary", {"Origin": ORIGIN}),
        ("/api/v1/strava/athletes/{account}/summary", {"Origin": "https://elsewhere.example"}),
        ("/v1/strava/card.svg", {}),
        ("/api/v1/strava/card.svg?theme=dark&units=imperial&locale=de-DE&v=2", {}),
        ("/v1/strava/athletes/{account}/card.svg?layout=compact&chart=months", {"Origin": ORIGIN}),
    ],
)
def test_the_hot_answer_is_the_routes_answer(hot: Hot, url: str, headers: dict[str, str]) -> None:
    url = url.format(account=hot.account)
    warm = hot.warm(url, **headers)
    assert warm.status_code == 200
    before = len(hot.routed)

    ours = hot.get(url, **headers)
    assert len(hot.routed) == before, "a remembered fresh read went through Flask"
    tag = ours.headers["ETag"]
    ours_304 = hot.get(url, **headers, **{"If-None-Match": f'"other", {tag}'})
    assert ours_304.status_code == 304 and len(hot.routed) == before

    edge_of(hot.h.app).hot = None  # the same requests through the route
    routes = hot.get(url, **headers)
    routes_304 = hot.get(url, **headers, **{"If-None-Match": f'"other", {tag}'})
    assert len(hot.routed) == before + 2
    same_answer(ours, routes)
    same_answer(ours_304, routes_304)


def test_what_the_hot_path_leaves_to_the_route(hot: Hot) -> None:
    h, account = hot.h, hot.account
    card = f"/v1/strava/athletes/{account}/card.svg"
    assert hot.warm(card).status_code == 200
    routed = len(hot.routed)

    def through_the_route(answer: TestResponse, status: int) -> None:
        nonlocal routed
        assert answer.status_code == status
        assert len(hot.routed) == routed + 1, answer.request.url
        routed += 1

    through_the_route(h.client.head(card), 200)
    through_the_route(hot.get(card + "?theme=neon"), 400)
    assert "theme must be one of" in hot.get(card + "?theme=neon").json["message"]
    routed += 1
    through_the_route(hot.get("/v1/strava/athletes/999/card.svg"), 404)
    through_the_route(hot.get("/v1/strava/athletes/0x1/summary"), 404)
    through_the_route(hot.get(f"/v1/strava/athletes/{account}/card.svg/"), 404)
    through_the_route(h.client.post(card), 405)

    # Stale: served by the route, which marks it and schedules the refresh.
    h.advance(h.runtime.settings.summary_fresh_seconds + 1)
    stale = hot.get(f"/v1/strava/athletes/{account}/summary")
    through_the_route(stale, 200)
    assert stale.json["meta"]["stale"] is True
    assert h.builds_done()
    assert not hot.get(f"/v1/strava/athletes/{account}/summary").json["meta"]["stale"]


def test_without_the_memo_every_read_is_the_routes(harness_factory: HarnessFactory) -> None:
    h = harness_factory(summary_memo_seconds=0)
    routed: list[str] = []
    h.app.before_request(lambda: routed.append(request.path))
    account = h.connect(make_athlete(h.sandbox))
    for _ in range(3):
        assert h.client.get(f"/v1/strava/athletes/{account}/card.svg").status_code == 200
    assert len(routed) == 3


def test_hot_reads_are_timed_and_counted_like_the_routes(hot: Hot) -> None:
    h = hot.h
    card = f"/v1/strava/athletes/{hot.account}/card.svg"
    hot.warm(card)

    def scrape() -> tuple[float, float]:
        port = f"http://localhost:{h.runtime.settings.metrics_port}"
        text = h.client.get("/metrics", base_url=port).get_data(as_text=True)
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        timed = sum(
            s.value
            for s in samples
            if s.name == "paceline_http_request_duration_seconds_count"
            and s.labels.get("route") == CARD_ROUTE
            and s.labels.get("status") == "200"
        )
        hits = sum(
            s.value
            for s in samples
            if s.name == "paceline_cache_requests_total" and s.labels.get("result") == "hit"
        )
        return timed, hits

    timed, hits = scrape()
    routed = len(hot.routed)
    for _ in range(3):
        assert hot.get(card).status_code == 200
    assert len(hot.routed) == routed
    assert scrape() == (timed + 3, hits + 3)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/strava/athletes/{account}/card.svg?theme=dark&theme=neon", {}),
        ("/v1/strava/athletes/{account}/card.svg?locale=" + "x" * 5000, {}),
        ("/v1/strava/athletes/{account}/card.svg?sport=%ff%fe&units=metric", {}),
        ("/v1/strava/athletes/0{account}/summary", {}),
        ("/v1/strava/athletes/{account}%00/summary", {}),
        ("/v1/strava/athletes/{account}/../summary", {}),
        ("/v1/strava/athletes//summary", {}),
        ("/v1/strava/athletes/{account}/summary?callback=alert(1)", {"Origin": "null"}),
        ("/api/api/v1/strava/summary", {}),
        ("/v1/strava/card.svg", {"If-None-Match": "*"}),
        ("/v1/strava/card.svg", {"If-None-Match": 'W/"' + "a" * 6000 + '", garbage,,"'}),
        ("/v1/strava/summary", {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}),
    ],
)
def test_hostile_requests_get_the_routes_answer(
    hot: Hot, url: str, headers: dict[str, str]
) -> None:
    """Whatever the internet sends, the edge answers as the route would (or leaves it to it)."""
    url = url.format(account=hot.account)
    hot.warm(f"/v1/strava/athletes/{hot.account}/card.svg")
    hot.warm("/v1/strava/summary")
    hot.get(url, **headers)  # whatever the route renders or remembers for it, both see it
    ours = hot.get(url, **headers)
    edge_of(hot.h.app).hot = None
    same_answer(ours, hot.get(url, **headers))
