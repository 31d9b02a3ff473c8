"""The durable mirror: failed writes are retried, recorded and re-synced; Redis loss restores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from paceline.credential import Credential
from paceline.mirror import FileMirror, MirrorError
from paceline.runstatus import read_run_status

from tests.integration.refresher.conftest import StravaSetup, run_cli

HOUR = 3600


class FlakyMirror(FileMirror):
    """A file mirror whose writes fail while ``broken`` (a full disk, a 403 from the API)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.broken = False
        self.attempts = 0

    def put(self, credential: Credential) -> bool:
        self.attempts += 1
        if self.broken:
            raise MirrorError("disk full")
        return super().put(credential)


def mirrored(setup: StravaSetup, account: str) -> dict[str, object]:
    return json.loads((setup.mirror_dir / f"strava.{account}.json").read_text())  # type: ignore[no-any-return]


def test_failed_mirror_write_is_retried_recorded_and_resynced_on_the_next_pass(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    mirror = FlakyMirror(setup.mirror_dir)
    runtime = setup.runtime(mirror=mirror)
    due = setup.seed(runtime, 30 * 60)
    mirror.broken, mirror.attempts = True, 0

    first = run_cli(runtime)

    saved = runtime.store.get("strava", due.account_id)
    assert saved is not None and saved.version == due.version + 1  # Redis has the newest
    assert mirror.attempts == 3  # retried before giving up
    assert runtime.store.pending_mirror() == [("strava", due.account_id)]
    assert mirrored(setup, due.account_id)["version"] == due.version  # still the old one
    assert first.code == 1  # the durable copy is behind: the Job says so
    handled = [line for line in first.log_lines() if line["msg"] == "credential handled"]
    assert handled[0]["result"] == "refreshed" and handled[0]["mirrored"] is False
    assert first.pass_summary()["mirror_pending"] == 1
    status = read_run_status(runtime.redis)
    assert status is not None and status.mirror_pending == 1 and not status.ok

    mirror.broken = False
    second = run_cli(runtime)

    assert second.code == 0
    assert second.pass_summary()["mirror_synced"] == 1
    assert runtime.store.pending_mirror() == []
    record = mirrored(setup, due.account_id)
    assert record["version"] == saved.version
    assert record["refresh_token"] == saved.refresh_token


def test_redis_flushed_between_passes_restores_from_the_mirror_and_carries_on(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    soon = setup.seed(runtime, 30 * 60)
    later = setup.seed(runtime, 2 * HOUR)
    assert run_cli(runtime).code == 0
    refreshed = runtime.store.get("strava", soon.account_id)
    assert refreshed is not None and refreshed.version == soon.version + 1

    runtime.redis.flushall()
    setup.clock.advance(HOUR)  # now the second one is due too

    result = run_cli(runtime)

    assert result.code == 0
    summary = result.pass_summary()
    assert summary["restored_from_mirror"] == 2
    assert summary["counts"] == {"refreshed": 1, "skipped": 1}
    restored = runtime.store.get("strava", soon.account_id)
    assert restored is not None and restored.refresh_token == refreshed.refresh_token
    assert setup.sandbox.refresh_token_valid(restored.refresh_token)
    carried_on = runtime.store.get("strava", later.account_id)
    assert carried_on is not None and carried_on.version == later.version + 1
    assert setup.sandbox.refresh_token_valid(carried_on.refresh_token)
    assert mirrored(setup, later.account_id)["version"] == carried_on.version
