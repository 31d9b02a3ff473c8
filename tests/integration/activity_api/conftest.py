"""activity-api against a real redis-server and the provider sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from activity_api.app import create_app, stop_background
from activity_api.consumer import WebhookConsumer
from activity_api.single_flight import build_lock_name
from activity_api.summary_service import Summaries
from flask import Flask
from flask.testing import FlaskClient
from paceline.clock import ManualClock
from paceline.runtime import Runtime
from paceline_dev.sandbox import store_issued
from werkzeug.serving import make_server

from tests.fixtures.runtime import RuntimeFactory
from tests.fixtures.sandbox import SandboxFactory, SandboxHandle

VERIFY_TOKEN = "verify-token-for-tests"
SUBSCRIPTION_ID = 4711
ORIGIN = "https://me.example"


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    runtime: Runtime
    sandbox: SandboxHandle
    clock: ManualClock
    issued: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summaries(self) -> Summaries:
        summaries: Summaries = self.app.extensions["activity_api.summary_service"]
        return summaries

    @property
    def consumer(self) -> WebhookConsumer:
        consumer: WebhookConsumer = self.app.extensions["activity_api.consumer"]
        return consumer

    def connect(
        self,
        athlete_id: int | None = None,
        scope: str = "read,activity:read",
        expires_in: int | None = None,
    ) -> str:
        """Connect an athlete as the auth-gateway would: tokens from the provider, stored."""
        issued = self.sandbox.issue_tokens(athlete_id, scope, expires_in=expires_in)
        self.issued.append(issued)
        return store_issued(self.runtime, issued)

    def builds_done(self, timeout: float = 10.0) -> bool:
        """Wait until no summary build is queued or running (background refreshes included):
        a build holds its account's lock from before it is queued until it has stored its
        result (:mod:`activity_api.single_flight`), so no lock left means nothing pending."""
        return builds_done(self.runtime, timeout)

    def api_calls(self) -> dict[str, int]:
        """Calls the sandbox answered under /api/v3, by endpoint template."""
        counts = self.sandbox.calls()["by_endpoint"]
        return {k: v for k, v in counts.items() if " /api/v3/" in k}

    def total_api_calls(self) -> int:
        return sum(self.api_calls().values())

    def advance(self, seconds: float, *, sandbox: bool = False) -> None:
        self.clock.advance(seconds)
        if sandbox:
            self.sandbox.advance(seconds)


def make_athlete(sandbox: SandboxHandle, *, photos_on_latest: int = 2, extra_runs: int = 3) -> int:
    """An athlete with a known history, newest first: a private run (never shown), the latest
    public run (with photos), a followers-only ride (never shown), older public runs, a ride."""
    athlete = sandbox.add_athlete(firstname="Ada", lastname="Runner", timezone="Europe/Paris")
    athlete_id = int(athlete["id"])
    now = int(sandbox.now())
    hour = 3600
    sandbox.add_activity(athlete_id, name="Secret run", private=True, start_date=now - 1 * hour)
    sandbox.add_activity(
        athlete_id,
        name="Morning run",
        sport_type="Run",
        distance=10000.0,
        moving_time=3000,
        elapsed_time=3100,
        photos=photos_on_latest,
        start_date=now - 3 * hour,
        start_latlng=[48.8566, 2.3522],
        end_latlng=[48.8606, 2.3376],
    )
    sandbox.add_activity(
        athlete_id,
        name="Friends ride",
        sport_type="Ride",
        visibility="followers_only",
        start_date=now - 5 * hour,
    )
    for n in range(extra_runs):
        sandbox.add_activity(athlete_id, name=f"Easy run {n}", start_date=now - (30 + n) * hour)
    sandbox.add_activity(
        athlete_id, name="Long ride", sport_type="Ride", start_date=now - 80 * hour
    )
    return athlete_id


def builds_done(runtime: Runtime, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    every_lock = build_lock_name("0").removesuffix("0") + "*"
    while next(runtime.redis.scan_iter(match=every_lock), None) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def harness_factory(
    make_runtime: RuntimeFactory, sandbox_factory: SandboxFactory
) -> Iterator[HarnessFactory]:
    apps: list[tuple[Flask, Runtime]] = []

    def build(sandbox: SandboxHandle | None = None, **overrides: Any) -> Harness:
        sandbox = sandbox or sandbox_factory()
        clock = ManualClock(start=time.time())
        settings: dict[str, Any] = {
            "strava_base_url": sandbox.url,
            "strava_client_id": sandbox.client_id,
            "strava_client_secret": sandbox.client_secret,
            "webhook_verify_token": VERIFY_TOKEN,
            "webhook_subscription_id": SUBSCRIPTION_ID,
            "cors_origins": ORIGIN,
            "http_timeout_seconds": 2.0,
            "summary_build_timeout_seconds": 5.0,
            # Staleness after summary_fresh_seconds, as without webhooks; the longer freshness
            # a subscription allows has its own tests.
            "summary_webhook_fresh_seconds": 1,
            # Tests change Redis behind the app's back; the per-worker memo has its own tests.
            "summary_memo_seconds": 0,
        }
        settings.update(overrides)
        runtime = make_runtime(clock=clock, **settings)
        app = create_app(runtime=runtime, start_background=False)
        app.testing = True
        apps.append((app, runtime))
        return Harness(app, app.test_client(), runtime, sandbox, clock)

    yield build
    for app, runtime in apps:
        # No background refresh may outlive its test and write into the next test's Redis.
        builds_done(runtime, timeout=10)
        stop_background(app, timeout=2)


@pytest.fixture
def harness(harness_factory: HarnessFactory) -> Harness:
    return harness_factory()


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Serve an app over real HTTP on a free loopback port (Strava calls us back)."""
    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def event(owner: int | str, **fields: Any) -> dict[str, Any]:
    """A Strava webhook event body (an activity created, unless ``fields`` say otherwise)."""
    body: dict[str, Any] = {
        "aspect_type": "create",
        "event_time": int(time.time()),
        "object_id": 1,
        "object_type": "activity",
        "owner_id": int(owner),
        "subscription_id": SUBSCRIPTION_ID,
        "updates": {},
    }
    body.update(fields)
    return body
