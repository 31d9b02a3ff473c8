"""An account's year ledger: the figures of every activity of the year, for honest totals.

Only for accounts in ``PACELINE_PRIVATE_TOTALS_ACCOUNTS`` that granted ``activity:read_all``
(without it Strava lists no ``only_me`` activity, so the sums would not be honest either). The
ledger is the Redis hash ``paceline:year-ledger:strava:<account>``: one field per activity
(id -> family, local day, distance, moving time, elevation; nothing else of it) and ``_meta``
(the year it covers, whether the page cap was reached). Only this module knows that format.

How it is kept (every write happens inside a summary build, under the account's build lock):

* **paged once** when missing or of another year: ``GET /athlete/activities?after=<a day
  before January 1st>&per_page=200``, page after page through the rate governor at background
  priority (paging never spends the reserve kept for visitors' cache misses), at most
  :data:`MAX_PAGES` pages. Past the cap the ledger is marked ``capped`` and Strava's totals
  are served instead (they would otherwise be short by the activities not listed). A cache
  miss pages within its deadline; when it cannot (deadline, budget), it serves Strava's totals
  and the summary is left due (:meth:`YearLedger.behind`), so the background refresh the next
  read starts pages without a deadline;
* **merged** with the page of activities every full build fetches anyway (new and changed
  activities; removed ones within the page's span), at no extra request;
* **patched** by a webhook event's activity detail (create/update: its figures; delete, 403
  or 404: removed), at no extra request either;
* **expires** after :data:`KEEP_SECONDS`, so a missed event is corrected by the next paging;
* **erased** with the account: :func:`paceline.erasure.erase_account` deletes every
  ``paceline:<kind>:<provider>:<account>`` key, this one included, and a build in flight
  cannot write it back (each write checks the credential in the same Lua step).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paceline import keys, year_totals
from paceline.governor import Priority
from paceline.privacy import PRIVACY_SCOPE
from paceline.runtime import Runtime
from paceline.upstream import TransientError, UpstreamError
from paceline.year_totals import Figures

if TYPE_CHECKING:
    from paceline.strava_api import Deadline, StravaAPI

log = logging.getLogger(__name__)

PROVIDER = "strava"
KIND = "year-ledger"
PAGE_SIZE = 200  # Strava's largest per_page
MAX_PAGES = 10  # at most 2,000 activities of the year, ten requests
KEEP_SECONDS = 86400  # re-paged at most once a day: a safety net for missed events
_META = "_meta"

# KEYS: ledger hash, credential hash. ARGV: "replace" or "update", ttl seconds, meta JSON (or ""
# to keep it), then field/value pairs (an empty value deletes the field). Returns 1 when written,
# 0 when the credential is gone (erased meanwhile) or, for "update", no ledger exists.
_WRITE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[1] == 'replace' then
  redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], '_meta', ARGV[3]) end
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[1] == 'replace' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class Ledger:
    year: int
    entries: Mapping[int, Figures]
    capped: bool = False  # more activities than MAX_PAGES pages hold: not all are counted


def ledger_key(account_id: str) -> str:
    return keys.account_key(KIND, PROVIDER, account_id)


def _encode(entry: Figures) -> str:
    return "|".join(
        (
            entry.family,
            entry.day.isoformat(),
            repr(entry.distance_m),
            str(entry.moving_time_s),
            repr(entry.elevation_gain_m),
        )
    )


def _decode(raw: str) -> Figures | None:
    try:
        family, day, distance, moving, elevation = raw.split("|")
        return Figures(
            family, dt.date.fromisoformat(day), float(distance), int(moving), float(elevation)
        )
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class YearLedger:
    """The ledgers in Redis, and how a summary build brings one up to date and applies it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.redis = runtime.redis
        self._write = self.redis.register_script(_WRITE)

    # --- who ----------------------------------------------------------------------------------
    def counts_everything(self, account_id: str) -> bool:
        """The owner opted in (``PACELINE_PRIVATE_TOTALS_ACCOUNTS``)."""
        return account_id in self.runtime.settings.private_totals_accounts

    def behind(self, account_id: str) -> bool:
        """Honest totals are due but no ledger exists yet (a cache miss could not page): the
        summary just stored holds Strava's totals and should be refreshed soon."""
        return self._usable(account_id) and not self.redis.exists(ledger_key(account_id))

    def _usable(self, account_id: str) -> bool:
        """Opted in and granted activity:read_all (the list then holds only_me activities)."""
        if not self.counts_everything(account_id):
            return False
        credential = self.runtime.store.get(PROVIDER, account_id)
        return credential is not None and PRIVACY_SCOPE in credential.scopes

    # --- storage ------------------------------------------------------------------------------
    def load(self, account_id: str) -> Ledger | None:
        raw = self.redis.hgetall(ledger_key(account_id))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        meta_raw = fields.pop(_META, None)
        if meta_raw is None:
            return None
        try:
            meta = json.loads(meta_raw)
            year, capped = int(meta["year"]), bool(meta.get("capped", False))
        except (ValueError, KeyError, TypeError):
            return None
        entries = {}
        for name, value in fields.items():
            entry = _decode(value)
            if name.isdigit() and entry is not None:
                entries[int(name)] = entry
        return Ledger(year, entries, capped)

    def store(self, account_id: str, ledger: Ledger) -> bool:
        """Replace the account's ledger; False when the account is no longer connected."""
        meta = json.dumps({"year": ledger.year, "capped": ledger.capped})
        pairs = [part for n, e in ledger.entries.items() for part in (str(n), _encode(e))]
        return self._run("replace", meta, pairs, account_id)

    def update(
        self, account_id: str, before: Mapping[int, Figures], after: Mapping[int, Figures]
    ) -> bool:
        """Write only what changed between ``before`` and ``after`` (the ledger keeps its TTL)."""
        pairs: list[str] = []
        for number in before.keys() - after.keys():
            pairs += [str(number), ""]
        for number, entry in after.items():
            if before.get(number) != entry:
                pairs += [str(number), _encode(entry)]
        return not pairs or self._run("update", "", pairs, account_id)

    def _run(self, mode: str, meta: str, pairs: Sequence[str], account_id: str) -> bool:
        written = self._write(
            keys=[ledger_key(account_id), keys.credential_key(PROVIDER, account_id)],
            args=[mode, KEEP_SECONDS, meta, *pairs],
        )
        return int(written) == 1

    # --- paging -------------------------------------------------------------------------------
    def page_year(
        self, api: StravaAPI, account_id: str, year: int, deadline: Deadline | None
    ) -> Ledger:
        """List the year's activities (at most MAX_PAGES requests) into a new ledger."""
        listed: list[Mapping[str, Any]] = []
        capped = True
        for page in range(1, MAX_PAGES + 1):
            body = api.activities(
                account_id,
                Priority.BACKGROUND,
                per_page=PAGE_SIZE,
                page=page,
                after=year_totals.page_after(year),
                deadline=deadline,
            )
            if not isinstance(body, list):
                raise TransientError("unexpected response shape")
            listed += [a for a in body if isinstance(a, Mapping)]
            if len(body) < PAGE_SIZE:
                capped = False
                break
        # A capped ledger keeps no entries: it only says "not again today", Strava's totals serve.
        ledger = Ledger(year, {} if capped else year_totals.of_year(listed, year), capped)
        self.store(account_id, ledger)
        log.info(
            "year ledger paged",
            extra={
                "provider": PROVIDER,
                "account": account_id,
                "pages": page,
                "capped": capped,
            },
        )
        return ledger

    def _current(
        self,
        api: StravaAPI,
        account_id: str,
        today: dt.date,
        deadline: Deadline | None,
    ) -> tuple[Ledger, bool]:
        """The account's ledger for ``today``'s year, and whether it was paged just now."""
        ledger = self.load(account_id)
        if ledger is not None and ledger.year == today.year:
            return ledger, False
        return self.page_year(api, account_id, today.year, deadline), True

    # --- what a build calls -------------------------------------------------------------------
    def after_build(
        self,
        api: StravaAPI,
        account_id: str,
        body: dict[str, Any],
        page: Sequence[Mapping[str, Any]],
        page_size: int,
        deadline: Deadline | None,
        fetched_at: float,
    ) -> dict[str, Any]:
        """A full build's body with honest year-to-date totals (unchanged without opt-in).

        ``page`` is the newest-first page the build fetched (asked with ``per_page=page_size``).
        A background build's paging errors propagate: it fails like any other upstream failure
        (the last good summary keeps being served) rather than replace honest totals by Strava's
        public ones. A cache miss (``deadline`` set) that cannot page serves Strava's totals
        for now; :meth:`behind` then says so.
        """
        if not self._usable(account_id):
            return body
        today = dt.datetime.fromtimestamp(fetched_at, dt.UTC).date()
        try:
            ledger, paged = self._current(api, account_id, today, deadline)
        except UpstreamError as error:
            if deadline is None:
                raise
            log.info(
                "year ledger not paged within a cache miss; a background refresh will",
                extra={"provider": PROVIDER, "account": account_id, "error": str(error)},
            )
            self.redis.delete(ledger_key(account_id))  # last year's, if any: behind() says so
            return body
        if not paged and not ledger.capped:
            entries = year_totals.merged(
                ledger.entries, page, today.year, complete=len(page) < page_size
            )
            self.update(account_id, ledger.entries, entries)
            ledger = Ledger(ledger.year, entries, ledger.capped)
        return self._applied(body, ledger, today)

    def after_patch(
        self,
        api: StravaAPI,
        account_id: str,
        body: dict[str, Any],
        activity: int,
        detail: Mapping[str, Any] | None,
        deadline: Deadline | None,
        fetched_at: float,
    ) -> dict[str, Any]:
        """A patched body (one activity created, changed or gone: ``detail`` None) with honest
        year-to-date totals; the activity's detail moves the ledger, no listing is needed."""
        if not self._usable(account_id):
            return body
        today = dt.datetime.fromtimestamp(fetched_at, dt.UTC).date()
        ledger, paged = self._current(api, account_id, today, deadline)
        if not paged and not ledger.capped:
            entries = year_totals.changed(ledger.entries, activity, detail, today.year)
            self.update(account_id, ledger.entries, entries)
            ledger = Ledger(ledger.year, entries, ledger.capped)
        return self._applied(body, ledger, today)

    def _applied(self, body: dict[str, Any], ledger: Ledger, today: dt.date) -> dict[str, Any]:
        if ledger.capped:
            return body  # not every activity was listed: Strava's totals, not a short count
        totals = year_totals.sums(ledger.entries.values(), today.year)
        return year_totals.with_year_totals(
            body, totals, self.runtime.settings.summary_goals, today
        )
