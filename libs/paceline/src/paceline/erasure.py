"""Forgetting an account's data: everything kept under its ``paceline:<kind>:<provider>:<account>``
keys (cached summaries, cooldowns, in-flight and back-off records, year ledgers of honest
totals, whatever kinds come later).

Strava's API agreement asks that an athlete's data be deleted when access is revoked. The
credential itself goes through :meth:`paceline.store.TokenStore.delete` (mirror first) *before*
this runs, so a summary build still in flight cannot write back (``SummaryCache.put`` stores only
while the credential exists). Locks and their fencing counters are left alone: deleting a lock
another process holds would break its fencing; they expire on their own. Rate-limit counters are
per application, not per account, and are never touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis

from paceline import keys

if TYPE_CHECKING:
    from paceline.store import TokenStore

KEPT_KINDS = frozenset({"lock", "fence", "ratelimit", "credential"})
# Counts erasures: processes that keep copies in memory (activity-api's per-worker last-good
# summaries and lookup memo) read it with their lookups and drop those copies when it moves.
ERASURES_KEY = f"{keys.NAMESPACE}:erasures"


def account_data_keys(client: redis.Redis, provider: str, account_id: str) -> list[bytes]:
    """Keys ``paceline:<kind>:<provider>:<account>[:...]`` other than the kept kinds."""
    keys.check_ident(provider, "provider")
    keys.check_ident(account_id, "account id")  # a safe alphabet: no glob characters
    found: list[bytes] = []
    for pattern in (
        f"{keys.NAMESPACE}:*:{provider}:{account_id}",
        f"{keys.NAMESPACE}:*:{provider}:{account_id}:*",
    ):
        for raw in client.scan_iter(match=pattern, count=1000):
            parts = raw.decode().split(":")
            if (
                len(parts) >= 4
                and parts[2] == provider
                and parts[3] == account_id
                and parts[1] not in KEPT_KINDS
            ):
                found.append(raw)
    return sorted(set(found))


def erase_account_data(client: redis.Redis, provider: str, account_id: str) -> int:
    """Delete the account's data keys; return how many were deleted."""
    found = account_data_keys(client, provider, account_id)
    return int(client.delete(*found)) if found else 0


def erase_account(store: TokenStore, provider: str, account_id: str) -> int:
    """The one way to forget an account: the credential (mirror first, then Redis), then every
    data key of the account. Return how many data keys were deleted.

    Raises :class:`paceline.mirror.MirrorError` when the durable copy cannot be deleted; then
    nothing is deleted, so a later restore cannot bring back an account that was forgotten.
    Every path that forgets an account (disconnect, a confirmed deauthorization, a revoked grant
    found by the refresher) calls this.
    """
    store.delete(provider, account_id)
    deleted = erase_account_data(store.redis, provider, account_id)
    store.redis.incr(ERASURES_KEY)
    return deleted
