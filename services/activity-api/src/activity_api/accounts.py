"""Which accounts the public API may show: connected ones only, and which one is primary."""

from __future__ import annotations

import json
import re

from paceline import keys
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

# Strava athlete ids are positive integers; anything else is not an account we could have.
ATHLETE_ID = re.compile(r"^[1-9][0-9]{0,19}$")


def is_connected(runtime: Runtime, account_id: str) -> bool:
    """A credential exists for the account (whatever its state): its summary may be shown."""
    if not ATHLETE_ID.match(account_id):
        return False
    return bool(runtime.redis.hexists(keys.credential_key(PROVIDER, account_id), "record"))


def primary_account(runtime: Runtime) -> str | None:
    """The configured primary account, else the first connected Strava account.

    Reads the stored records without opening any token (only ``created_at`` is needed).
    """
    configured = runtime.settings.primary_account
    if configured:
        return configured if is_connected(runtime, configured) else None
    members = [account for provider, account in runtime.store.members() if provider == PROVIDER]
    if not members:
        return None
    pipe = runtime.redis.pipeline(transaction=False)
    for account in members:
        pipe.hget(keys.credential_key(PROVIDER, account), "record")
    candidates: list[tuple[float, str]] = []
    for account, raw in zip(members, pipe.execute(), strict=True):
        if raw is None:
            continue
        record = json.loads(raw)
        candidates.append((float(record.get("created_at") or 0.0), account))
    return min(candidates)[1] if candidates else None
