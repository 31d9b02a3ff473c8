"""The widget's commonest request, answered at the edge from memory.

Almost every request activity-api gets is a page view asking for a summary or card this worker
served a moment ago: it remembers the account's lookup (for ``summary_memo_seconds``), the
summary is fresh and its rendering is kept, so the answer is a few bytes picked from memory.
Flask's machinery around that (request and app contexts, URL matching, before/after hooks,
signals, teardown) then cost about as much as the answer itself; measured in process, a cached
card read took 116 us of CPU against 86 us for a bare Flask route serving the same bytes.

So :class:`HotReads`, the ``hot`` hook of the WSGI edge (:class:`paceline.web.edge.Edge`),
answers exactly that case before Flask: a ``GET`` of ``/v1/strava/summary``,
``/v1/strava/card.svg`` or their ``/v1/strava/athletes/<id>/...`` forms, with card options that
are valid, for an account whose lookup this worker remembers and whose summary is fresh
(:meth:`~activity_api.reader.SummaryReader.answer_at_hand`). It reads nothing from Redis,
builds and schedules nothing, and returns the same response object the route would (the same
render cache, headers and 304 handling). Everything else (a stale or missing summary, an
account not remembered or unknown, a bad option, ``HEAD``, any error) returns None and the
Flask route does it all, so each case keeps exactly one implementation: the route.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from activity_api import card, summary_routes
from activity_api.reader import SummaryReader

ATHLETES = "/v1/strava/athletes/"


class HotReads:
    def __init__(self, reader: SummaryReader) -> None:
        self.reader = reader

    def __call__(self, environ: dict[str, Any]) -> tuple[str, Response] | None:
        """The route template and the answer, or None for Flask to answer."""
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        path: str = environ.get("PATH_INFO", "")
        if path == summary_routes.PRIMARY:
            return self._summary(environ, self.reader.accounts.remembered_primary(), path)
        if path == card.PRIMARY:
            return self._card(environ, self.reader.accounts.remembered_primary(), path)
        if not path.startswith(ATHLETES):
            return None
        athlete, _, rest = path[len(ATHLETES) :].partition("/")
        if rest == "summary":
            return self._summary(environ, athlete, summary_routes.ATHLETE)
        if rest == "card.svg":
            return self._card(environ, athlete, card.ATHLETE)
        return None

    def _summary(
        self, environ: dict[str, Any], account: str | None, rule: str
    ) -> tuple[str, Response] | None:
        if account is None:
            return None
        view = summary_routes.summary_view(self.reader, account)
        return _found(rule, self.reader.answer_at_hand(environ, account, *view))

    def _card(
        self, environ: dict[str, Any], account: str | None, rule: str
    ) -> tuple[str, Response] | None:
        if account is None:
            return None
        options = card.options_of(environ.get("QUERY_STRING", ""))
        if isinstance(options, str):  # the route's 400
            return None
        view = card.card_view(self.reader, account, options)
        return _found(rule, self.reader.answer_at_hand(environ, account, *view))


def _found(rule: str, response: Response | None) -> tuple[str, Response] | None:
    return None if response is None else (rule, response)
