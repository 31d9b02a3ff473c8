"""``GET /v1/strava/card.svg`` and ``GET /v1/strava/athletes/<id>/card.svg``: the card as SVG.

The same read path as the summary (:class:`~activity_api.reader.SummaryReader`: the cache,
single-flight builds, stale serving, the per-worker last good copy), rendered once per change
of the stored summary and per set of options (:mod:`activity_api.rendering`); both the fresh
and the stale drawing are kept, so a cached read only picks bytes. Its ETag covers the bytes,
and ``Cache-Control`` is public with a small ``max-age``, which image proxies such as GitHub's
camo honour.

Query parameters are the element's attributes: ``sport``, ``units``, ``theme``, ``layout``,
``locale``, ``chart``, ``measure``. An unknown value is a 400 that names the parameter and what
it accepts; other parameters are ignored (a cache-busting ``?v=2`` is common in READMEs).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Hashable, Mapping
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request
from paceline.cache import CachedSummary
from paceline.summary import summary_response
from paceline.web.app import json_error

from activity_api.card_svg import (
    CHARTS,
    LAYOUTS,
    MEASURES,
    SPORTS,
    THEMES,
    UNITS,
    CardOptions,
    card_id,
    locale_of,
    render_card,
    unavailable_card,
)
from activity_api.reader import SummaryReader, reader_of
from activity_api.rendering import SVG, SVG_HEADERS, RenderCache, Renderer, View

bp = Blueprint("card", __name__)
PRIMARY = "/v1/strava/card.svg"
ATHLETE = "/v1/strava/athletes/<athlete_id>/card.svg"

LOCALE = re.compile(r"[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8}){0,3}")  # used with fullmatch


class CardParameterError(ValueError):
    pass


def card_options(args: Mapping[str, str]) -> CardOptions:
    """The validated options, or :class:`CardParameterError` naming what is wrong."""
    chosen: dict[str, str] = {}
    choices = (
        ("sport", SPORTS),
        ("units", UNITS),
        ("theme", THEMES),
        ("layout", LAYOUTS),
        ("chart", CHARTS),
        ("measure", MEASURES),
    )
    for name, allowed in choices:
        raw = args.get(name)
        if raw is None:
            continue
        if raw not in allowed:
            raise CardParameterError(f"{name} must be one of {', '.join(allowed)}")
        chosen[name] = raw
    locale = args.get("locale")
    if locale is not None:
        if not LOCALE.fullmatch(locale):
            raise CardParameterError("locale must be a language tag such as en, de or pt-BR")
        chosen["locale"] = str(locale_of(locale))  # one rendering per locale actually used
    return CardOptions(**chosen)


class RenderedCard:
    """The card of one stored summary with one set of options, fresh and stale."""

    __slots__ = ("_bodies", "_etags", "raw")

    def __init__(self, raw: bytes, fresh: bytes, stale: bytes) -> None:
        self.raw = raw
        self._bodies = (fresh, stale)
        self._etags = tuple(hashlib.sha256(b).hexdigest()[:32] for b in self._bodies)

    def etag(self, stale: bool) -> str:
        return self._etags[int(stale)]

    def answer(self, fetched_at: float, now: float, stale: bool) -> bytes:
        return self._bodies[int(stale)]


@functools.lru_cache(maxsize=256)
def options_of(query_string: str) -> CardOptions | str:
    """The options a query string (as WSGI gives it) asks for, or the error message;
    remembered, as the same few query strings come again and again."""
    try:
        raw = query_string.encode("latin-1").decode("utf-8", "replace")
        pairs = parse_qsl(raw, keep_blank_values=True)
        first: dict[str, str] = {}
        for name, value in pairs:
            first.setdefault(name, value)
        return card_options(first)
    except CardParameterError as error:
        return str(error)


def render_card_answer(
    options: CardOptions, account: str, entry: CachedSummary, view: View
) -> RenderedCard:
    """The card of ``entry`` (a render cache miss: once per stored summary and options)."""
    shown = view(entry.body)
    ident = card_id(f"{account}|{options}")
    return RenderedCard(
        entry.raw,
        render_card(shown, options, stale=False, ident=ident),
        render_card(shown, options, stale=True, ident=ident),
    )


def card_view(
    reader: SummaryReader, account: str, options: CardOptions
) -> tuple[Hashable, View, Renderer, RenderCache]:
    """What :meth:`SummaryReader.answer` needs to answer with the account's card."""
    # Built per request, used only when the render cache misses: cheaper than remembering them.
    view = partial(summary_response, recent_count=reader.runtime.settings.summary_activities_max)
    renderer = partial(render_card_answer, options, account)
    return ("card", account, options), view, renderer, reader.cards


def _answer(reader: SummaryReader, account: str, found: Any, options: CardOptions) -> Response:
    response = reader.answer(account, found, *card_view(reader, account, options))
    if response.status_code == 503 and response.mimetype == "application/json":
        return _unavailable(response, options)
    return response


def _unavailable(response: Response, options: CardOptions) -> Response:
    """The 503 as a small SVG saying so (an ``<img>`` shows it), same ``Retry-After``."""
    svg = Response(unavailable_card(options, "Please check back a little later."), 503)
    svg.content_type = SVG
    svg.headers["Retry-After"] = response.headers.get("Retry-After", "5")
    svg.headers["Cache-Control"] = "no-store"
    for name, value in SVG_HEADERS:
        svg.headers[name] = value
    return svg


def _options_or_400() -> CardOptions | Response:
    options = options_of(request.environ.get("QUERY_STRING", ""))
    if isinstance(options, str):
        error: Response = json_error(400, "bad_request", options)
        return error
    return options


@bp.get(PRIMARY)
def primary_card() -> Any:
    """The primary account's card."""
    options = _options_or_400()
    if isinstance(options, Response):
        return options
    reader = reader_of()
    primary = reader.primary_lookup()
    if primary is None:
        return json_error(404, "no_account", "no Strava account is connected yet")
    account, found = primary
    return _answer(reader, account, found, options)


@bp.get(ATHLETE)
def athlete_card(athlete_id: str) -> Any:
    options = _options_or_400()
    if isinstance(options, Response):
        return options
    reader = reader_of()
    found = reader.connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    return _answer(reader, athlete_id, found, options)
