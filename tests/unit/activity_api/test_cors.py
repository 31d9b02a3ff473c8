"""CORS at the edge: headers for the public read paths only, ``Vary`` merged, not doubled."""

from __future__ import annotations

from typing import Any

import pytest
from activity_api.cors import Cors
from paceline.web.edge import Edge
from werkzeug.test import Client
from werkzeug.wrappers import Response

ORIGIN = "https://me.example"


def app_with(headers: dict[str, str]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return Response(b"{}", headers=headers, mimetype="application/json")(
            environ, start_response
        )

    return app


def get(origins: list[str], path: str, method: str = "GET", **headers: str) -> Any:
    edge = Edge(
        app_with(headers.pop("upstream", {})),
        metrics_port=9100,
        collectors=[],
        amend=Cors(origins).amend,
    )
    client = Client(edge)  # type: ignore[arg-type]
    return client.open(path, method=method, headers=headers)


def test_an_allowed_origin_is_told_it_may_read_and_the_answer_varies_by_origin() -> None:
    response = get([ORIGIN], "/v1/strava/summary", Origin=ORIGIN)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == "ETag, Retry-After"
    assert response.headers.getlist("Vary") == ["Origin"]
    assert "Access-Control-Allow-Methods" not in response.headers  # only for preflights


def test_a_preflight_learns_methods_headers_and_how_long_to_remember() -> None:
    response = get([ORIGIN], "/v1/strava/summary", method="OPTIONS", Origin=ORIGIN)
    assert response.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == "86400"


@pytest.mark.parametrize("origin", ["https://evil.example", ""])
def test_other_origins_get_no_grant_but_still_vary(origin: str) -> None:
    response = get([ORIGIN], "/v1/strava/summary", Origin=origin)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Vary"] == "Origin"


def test_a_wildcard_allows_any_origin_without_echoing_it() -> None:
    response = get(["*"], "/openapi.json", Origin="https://anyone.example")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/webhooks/strava", "/metrics", "/widget.js", "/healthz"])
def test_routes_not_for_cross_origin_reads_are_left_alone(path: str) -> None:
    response = get(["*"], path, Origin=ORIGIN)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Vary" not in response.headers


@pytest.mark.parametrize(
    ("vary", "expected"),
    [("Accept-Encoding", "Accept-Encoding, Origin"), ("Origin, Cookie", "Origin, Cookie")],
)
def test_an_existing_vary_is_extended_once(vary: str, expected: str) -> None:
    response = get([ORIGIN], "/v1/strava/summary", Origin=ORIGIN, upstream={"Vary": vary})
    assert response.headers.getlist("Vary") == [expected]
