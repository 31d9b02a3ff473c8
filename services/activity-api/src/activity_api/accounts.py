"""Which accounts the public API may show: connected ones only, and which one is primary.

Both checks restore credentials from the mirror when they find none and Redis has lost its
data (:mod:`activity_api.restore`), so an empty Redis does not make accounts look disconnected.
"""

from __future__ import annotations

import re

from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

from activity_api.restore import restored_now

# Strava athlete ids are positive integers; anything else is not an account we could have.
ATHLETE_ID = re.compile(r"^[1-9][0-9]{0,19}$")


def is_connected(runtime: Runtime, account_id: str) -> bool:
    """A credential exists for the account (whatever its state): its summary may be shown."""
    if not ATHLETE_ID.match(account_id):
        return False
    if runtime.store.exists(PROVIDER, account_id):
        return True
    return restored_now(runtime) and runtime.store.exists(PROVIDER, account_id)


def primary_account(runtime: Runtime) -> str | None:
    """The configured primary account, else the first connected Strava account.

    Reads the stored records without opening any token (only ``created_at`` is needed).
    """
    configured = runtime.settings.primary_account
    if configured:
        return configured if is_connected(runtime, configured) else None
    members = _members(runtime)
    if not members and restored_now(runtime):
        members = _members(runtime)
    if not members:
        return None
    created = runtime.store.created_at(PROVIDER, members)
    candidates = [(created[account], account) for account in members if account in created]
    return min(candidates)[1] if candidates else None


def _members(runtime: Runtime) -> list[str]:
    return [account for provider, account in runtime.store.members() if provider == PROVIDER]
