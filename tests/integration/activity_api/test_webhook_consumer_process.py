"""``paceline webhook consume``: the consumer as its own process (the chart's Deployment), so
event work never runs in the API's workers; it stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from activity_api.events import GROUP, STREAM

from tests.fixtures.redis import RedisServer
from tests.integration.activity_api.conftest import SUBSCRIPTION_ID, HarnessFactory, make_athlete


def test_the_consumer_process_refreshes_summaries_and_stops_on_sigterm(
    harness_factory: HarnessFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    h = harness_factory()  # the API app: no consumer thread (start_background=False)
    account = h.connect(make_athlete(h.sandbox, photos_on_latest=0))
    path = f"/v1/strava/athletes/{account}/summary"
    assert h.client.get(path).status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACELINE_")}
    env.update(
        PACELINE_REDIS_URL=redis_server.url,
        PACELINE_STRAVA_BASE_URL=h.sandbox.url,
        PACELINE_STRAVA_CLIENT_ID=h.sandbox.client_id,
        PACELINE_STRAVA_CLIENT_SECRET=h.sandbox.client_secret,
        PACELINE_WEBHOOK_SUBSCRIPTION_ID=str(SUBSCRIPTION_ID),
        PACELINE_SECRET_BACKEND="none",
    )
    log = tmp_path / "consumer.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "paceline"),
                "webhook",
                "consume",
                "--block-ms",
                "200",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        added = h.sandbox.add_activity(int(account), name="Hill repeats")
        event: dict[str, Any] = {
            "object_type": "activity",
            "aspect_type": "create",
            "object_id": added["id"],
            "owner_id": int(account),
            "subscription_id": SUBSCRIPTION_ID,
            "event_time": int(time.time()),
            "updates": {},
        }
        assert h.client.post("/webhooks/strava", json=event).status_code == 200
        deadline = time.monotonic() + 15
        while h.client.get(path).get_json()["latest_activity"]["name"] != "Hill repeats":
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert h.runtime.redis.xpending(STREAM, GROUP)["pending"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    assert code == 0, log.read_text()
    assert "webhook consumer stopped" in log.read_text()
