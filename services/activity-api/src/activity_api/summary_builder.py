"""Building one account's summary: fetch from Strava (or patch one activity in), store, count.

A build makes the fewest calls that produce a summary: athlete, one page of activities, stats,
and the latest public activity's detail only when it has photos (for the primary photo). A
webhook's patch makes two (the activity's detail and the totals), one for a removed activity.
Every failure ends as a :class:`~activity_api.single_flight.SummaryUnavailable` with its
:class:`~activity_api.single_flight.BuildOutcome`, counted in ``paceline_summary_builds_total``
and, when the provider failed, a cooldown so that a provider that is down is not hammered.
The caller holds the build lock (:mod:`activity_api.single_flight`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paceline import metrics
from paceline.cache import CachedSummary, SummaryCache
from paceline.governor import Priority
from paceline.privacy import privacy_events
from paceline.providers import UnknownProvider
from paceline.runtime import Runtime
from paceline.strava_api import (
    PROVIDER,
    AccountUnavailable,
    BudgetExhausted,
    Deadline,
    RefreshInProgress,
    StravaAPI,
)
from paceline.summary import SummaryOptions, build_summary, latest_needing_detail, with_activity
from paceline.upstream import PermanentError, TransientError, UpstreamError
from paceline.year_ledger import YearLedger

from activity_api.single_flight import BuildOutcome, SummaryUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivityPatch:
    """One created, changed or removed activity to bring into the cached summary."""

    activity_id: int
    gone: bool  # deleted or hidden: nothing to fetch


class SummaryBuilder:
    def __init__(self, runtime: Runtime, cache: SummaryCache, api: StravaAPI | None = None):
        self.runtime = runtime
        self.settings = runtime.settings
        self.cache = cache
        self._api = api
        self.year_ledger = YearLedger(runtime)  # honest totals (issue 17)

    @property
    def api(self) -> StravaAPI:
        if self._api is None:
            self._api = StravaAPI(self.runtime)
        return self._api

    def options(self, account_id: str) -> SummaryOptions:
        settings = self.settings
        return SummaryOptions(
            web_url=str(settings.strava_base_url).rstrip("/"),
            show_maps=account_id in settings.show_maps_accounts,
            activities_max=settings.summary_activities_max,
            goals=settings.summary_goals,
        )

    def build(
        self,
        account_id: str,
        priority: Priority,
        trigger: str,
        deadline: Deadline | None,
        patch: ActivityPatch | None = None,
    ) -> CachedSummary:
        """Fetch (or patch) and store the summary; the stored entry, or SummaryUnavailable."""
        started = self.runtime.clock.now()
        timer = time.perf_counter()
        generation = self.cache.generation(PROVIDER, account_id)
        base = self.cache.get(PROVIDER, account_id) if patch is not None else None
        try:
            if base is not None and patch is not None:
                body = self._fetch_patch(account_id, base, patch, priority, deadline, started)
                started = base.fetched_at  # the profile is still as fetched then
            else:
                body = self._fetch(account_id, priority, deadline, started)
        except (UnknownProvider, UpstreamError) as error:
            raise self._failed(account_id, trigger, error) from None
        credential = self.runtime.store.get(PROVIDER, account_id)
        self.cache.put(
            PROVIDER,
            account_id,
            body,
            fetched_at=started,
            generation=generation,
            privacy_events=credential is not None and privacy_events(PROVIDER, credential.scopes),
        )
        if self.year_ledger.behind(account_id):  # honest totals not paged yet (issue 17)
            self.cache.invalidate(PROVIDER, account_id)
        entry = self.cache.get(PROVIDER, account_id)
        if entry is None:  # the account was disconnected while we built
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "unavailable").inc()
            raise SummaryUnavailable(
                BuildOutcome.ACCOUNT_UNAVAILABLE,
                "the account is not connected",
                self.settings.summary_retry_seconds,
            )
        self.cache.clear_cooldown(PROVIDER, account_id)
        metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, BuildOutcome.BUILT.value).inc()
        metrics.SUMMARY_BUILD_DURATION.labels(PROVIDER).observe(time.perf_counter() - timer)
        log.info(
            "summary built",
            extra={"provider": PROVIDER, "account": account_id, "trigger": trigger},
        )
        return entry

    def _failed(self, account_id: str, trigger: str, error: Exception) -> SummaryUnavailable:
        """The outcome of a failed fetch, counted, with a cooldown where the provider failed."""
        retry: float = self.settings.summary_retry_seconds
        account = {"provider": PROVIDER, "account": account_id}
        result, outcome, message, wait = "failed", BuildOutcome.UPSTREAM_UNAVAILABLE, "", retry
        if isinstance(error, UnknownProvider):
            result, outcome = "unavailable", BuildOutcome.NOT_CONFIGURED
            message = "Strava is not configured (PACELINE_STRAVA_CLIENT_ID)"
        elif isinstance(error, BudgetExhausted):
            result, outcome = "denied", BuildOutcome.RATE_LIMITED
            message, wait = (
                "the provider's rate budget is spent for now",
                error.retry_after or retry,
            )
            self.cache.set_cooldown(PROVIDER, account_id, wait)
        elif isinstance(error, RefreshInProgress):
            result, outcome = "busy", BuildOutcome.TOKEN_REFRESH_IN_PROGRESS
            message = "the account's token is being refreshed; try again in a moment"
            wait = error.retry_after or 2
        elif isinstance(error, AccountUnavailable):
            result, outcome = "unavailable", BuildOutcome.ACCOUNT_UNAVAILABLE
            message = "the account needs to be connected again"
            self.cache.set_cooldown(PROVIDER, account_id, wait)
            log.warning("summary build impossible", extra={**account, "reason": error.reason})
        else:
            message = "the provider could not be reached"
            wait = max(retry, getattr(error, "retry_after", None) or 0)
            self.cache.set_cooldown(PROVIDER, account_id, wait)
            log.warning("summary build failed", extra={**account, "error": str(error)})
        metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, result).inc()
        return SummaryUnavailable(outcome, message, wait)

    def _fetch(
        self, account_id: str, priority: Priority, deadline: Deadline | None, started: float
    ) -> dict[str, Any]:
        api = self.api
        options = self.options(account_id)
        athlete = api.athlete(account_id, priority, deadline)
        activities = api.activities(
            account_id, priority, per_page=options.activities_max, deadline=deadline
        )
        stats = api.stats(account_id, priority, deadline)
        if not isinstance(athlete, Mapping) or not isinstance(stats, Mapping):
            raise TransientError("unexpected response shape")
        if not isinstance(activities, list):
            raise TransientError("unexpected response shape")
        detail = None
        with_photos = latest_needing_detail(activities)
        if with_photos is not None:
            try:
                detail = api.activity(account_id, with_photos, priority, deadline)
            except UpstreamError as error:  # the photo is optional; the summary is not
                log.info(
                    "latest activity's photo skipped",
                    extra={"provider": PROVIDER, "account": account_id, "error": str(error)},
                )
        body = build_summary(
            athlete,
            activities,
            stats,
            options,
            latest_detail=detail if isinstance(detail, Mapping) else None,
            fetched_at=started,
        )
        # Honest totals (issue 17): every activity of the year, for accounts that opted in.
        return self.year_ledger.after_build(
            api, account_id, body, activities, options.activities_max, deadline, started
        )

    def _fetch_patch(
        self,
        account_id: str,
        base: CachedSummary,
        patch: ActivityPatch,
        priority: Priority,
        deadline: Deadline | None,
        started: float,
    ) -> dict[str, Any]:
        api = self.api
        detail = None
        if not patch.gone:
            try:
                detail = api.activity(account_id, patch.activity_id, priority, deadline)
            except PermanentError as error:
                if error.status not in (403, 404):  # gone, or not ours to see: drop it
                    raise
        stats = api.stats(account_id, priority, deadline)
        if not isinstance(stats, Mapping) or not (detail is None or isinstance(detail, Mapping)):
            raise TransientError("unexpected response shape")
        today = dt.datetime.fromtimestamp(started, dt.UTC).date()
        body = with_activity(
            base.body,
            patch.activity_id,
            detail,
            stats,
            self.options(account_id),
            year=today.year,
            today=today,
        )
        # Honest totals (issue 17): the activity's detail moves the year ledger.
        return self.year_ledger.after_patch(
            api, account_id, body, patch.activity_id, detail, deadline, started
        )
