"""Answers rendered once per stored summary: the same bytes and tags as rendering each time."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from activity_api.rendering import RenderCache, etag_for, render
from flask import Flask, Response, jsonify
from paceline.cache import CachedSummary
from paceline.summary import summary_response

BODY: dict[str, Any] = {
    "athlete": {"id": 1, "display_name": "Zoë Ünïcode"},
    "activities": [{"id": 7, "name": "Café run ☕", "distance_m": 5000.0}],
    "totals": {"run": {"year_to_date": {"count": 3}}},
    "goals": [],
}
META = {"fetched_at": "2026-03-01T07:00:00Z", "age_seconds": 12, "stale": False}


def entry(body: dict[str, Any]) -> CachedSummary:
    return CachedSummary(json.dumps(body).encode(), 0.0, dirty=False)


def test_rendered_bytes_are_what_jsonify_gives() -> None:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    view = partial(summary_response, recent_count=5)
    rendered = RenderCache().view(("summary", "1"), entry(BODY), view)
    with app.app_context():
        expected = jsonify({**view(BODY), "meta": META}).get_data()
    assert rendered.body(META) == expected
    assert rendered.etag(False) == etag_for(view(BODY), False)
    assert rendered.etag(True) == etag_for(view(BODY), True)


def test_a_changed_summary_is_rendered_again_and_the_same_one_is_not() -> None:
    views = RenderCache()
    calls: list[int] = []

    def view(body: Any) -> dict[str, Any]:
        calls.append(1)
        return dict(body)

    first = views.view("k", entry(BODY), view)
    assert views.view("k", entry(BODY), view) is first
    changed = views.view("k", entry({**BODY, "goals": [1]}), view)
    assert changed is not first and b'"goals":[1]' in changed.body(META)
    assert len(calls) == 2


def test_the_render_cache_is_bounded() -> None:
    views = RenderCache(size=2)
    for key in ("a", "b", "c"):
        views.view(key, entry(BODY), dict)
    assert len(views._views) == 2


def test_an_answer_carries_the_meta_of_its_moment_and_is_reused_within_the_second() -> None:
    rendered = RenderCache().view("k", entry(BODY), dict)
    fetched_at = 1_772_348_400.0  # 2026-03-01T07:00:00Z
    first = rendered.answer(fetched_at, fetched_at + 12.2, stale=False)
    assert first == rendered.body(META)
    assert rendered.answer(fetched_at, fetched_at + 12.9, stale=False) is first  # same second
    later = rendered.answer(fetched_at, fetched_at + 13.0, stale=False)
    assert json.loads(later)["meta"]["age_seconds"] == 13
    stale = rendered.answer(fetched_at, fetched_at + 13.0, stale=True)
    assert json.loads(stale)["meta"]["stale"] is True
    refetched = rendered.answer(fetched_at + 60, fetched_at + 73.0, stale=False)
    assert json.loads(refetched)["meta"] == {
        "fetched_at": "2026-03-01T07:01:00Z",
        "age_seconds": 13,
        "stale": False,
    }


def test_a_response_from_prepared_headers_is_what_adding_them_one_by_one_gives() -> None:
    from activity_api.rendering import SVG, SVG_HEADERS, HttpForm

    form = HttpForm(SVG, "public, max-age=60", SVG_HEADERS)
    views = RenderCache(form=form)
    fetched_at = entry(BODY).fetched_at
    # No Flask context is needed (the edge's hot path has none): the environ is given.
    response = views.respond("k", entry(BODY), dict, render, fetched_at + 12.2, False, {})
    rendered = views.view("k", entry(BODY), dict)
    tag = rendered.etag(False)
    expected = Response(rendered.answer(fetched_at, fetched_at + 12.2, False), content_type=SVG)
    for name, value in (("ETag", f'W/"{tag}"'), ("Cache-Control", "public, max-age=60")):
        expected.headers.add(name, value)
    for name, value in SVG_HEADERS:
        expected.headers.add(name, value)
    assert response.status_code == 200
    assert response.get_data() == expected.get_data()
    assert sorted(response.headers.items()) == sorted(expected.headers.items())
    asked = {"HTTP_IF_NONE_MATCH": f'W/"{tag}"'}
    again = views.respond("k", entry(BODY), dict, render, fetched_at + 13.0, False, asked)
    assert again.status_code == 304
    assert again.headers["ETag"] == f'W/"{tag}"'
    assert again.headers["Cache-Control"] == "public, max-age=60"
    stale = views.respond("k", entry(BODY), dict, render, fetched_at + 13.0, True, asked)
    assert stale.status_code == 200  # turning stale changes the tag
