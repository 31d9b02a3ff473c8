"""Taking one queued event: the trust checks, then a dirty mark. Nothing upstream happens here.

An event is a hint, never a fact (DESIGN, "Trust"): one naming another subscription is
``rejected``; one for an athlete without a credential is ``ignored``; one for a summary
nobody asked for is ``not_cached``; an update to an activity the cached summary does not
show is ``not_served``. Each of these costs nothing upstream. Otherwise the event marks its
account dirty (:class:`~activity_api.dirty_accounts.DirtyAccounts`) and is counted when that
work ends. A delete, or a change to private, hides the activity from the cached summary at
once (privacy first) and asks for a re-check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paceline.cache import SummaryCache
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER
from paceline.year_ledger import YearLedger

from activity_api.accounts import CredentialsNotRestored, MirrorRestore
from activity_api.dirty_accounts import DirtyAccounts
from activity_api.events import WebhookEvent, expected_subscription
from activity_api.webhook_outcomes import Outcome, RetryLater, RetryReason


def served_activity_ids(body: Mapping[str, Any]) -> set[int]:
    """Ids of the activities a cached summary shows."""
    ids = set()
    for item in body.get("activities") or []:
        if isinstance(item, Mapping) and isinstance(item.get("id"), int):
            ids.add(int(item["id"]))
    return ids


class EventIntake:
    def __init__(
        self,
        runtime: Runtime,
        cache: SummaryCache,
        accounts: DirtyAccounts,
        year_ledger: YearLedger,
    ) -> None:
        self.runtime = runtime
        self.cache = cache
        self.accounts = accounts
        self.year_ledger = year_ledger
        self.restore = MirrorRestore()

    def accept(self, event: WebhookEvent) -> Outcome:
        """Check one event and mark its account dirty (:attr:`Outcome.MARKED`), or say why
        not; raise :class:`RetryLater` when that cannot be told now."""
        refused = self._refusal(event)
        if refused is not None:
            self.runtime.redis.delete(event.seen_key())
            return refused
        account = str(event.owner_id)
        recheck = False
        if event.hides_activity:
            # Privacy first: hidden now, re-checked against the API when due.
            recheck = self.cache.drop_activity(PROVIDER, account, event.object_id)
            # Honest totals (issue 17): an unshown activity may still count in them.
            if not recheck and not self.year_ledger.counts_everything(account):
                self.runtime.redis.delete(event.seen_key())
                return Outcome.NOT_SERVED
        self.accounts.mark(
            account,
            self.runtime.clock.now(),
            event.kind,
            activity=event.object_id if event.object_type == "activity" else None,
            recheck=recheck,
            seen_key=event.seen_key(),
        )
        return Outcome.MARKED

    def _refusal(self, event: WebhookEvent) -> Outcome | None:
        """Why the event is not worth any work, or None."""
        account = str(event.owner_id)
        if event.subscription_id != expected_subscription(self.runtime):
            return Outcome.REJECTED
        if not self._connected(account):
            return Outcome.IGNORED  # never connected, or gone: nothing to do
        if event.is_deauthorization:
            return None  # checked with the provider when due; nothing cached is needed
        entry = self.cache.get(PROVIDER, account)
        if entry is None:
            return Outcome.NOT_CACHED  # nobody asked for this summary: nothing to refresh
        if (
            event.object_type == "activity"
            and event.aspect_type == "update"
            and not event.hides_activity
            and not event.shows_activity
            and event.object_id not in served_activity_ids(entry.body)
            and not self.year_ledger.counts_everything(account)  # issue 17
        ):
            return Outcome.NOT_SERVED  # an activity the summary does not show
        return None

    def _connected(self, account: str) -> bool:
        store = self.runtime.store
        if store.exists(PROVIDER, account):
            return True
        try:
            if self.restore.restore_if_lost(self.runtime):  # Redis had lost its data
                return store.exists(PROVIDER, account)
        except CredentialsNotRestored as error:
            raise RetryLater(RetryReason.CREDENTIALS_NOT_RESTORED, detail=str(error)) from None
        return False
