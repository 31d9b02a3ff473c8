"""``paceline webhook subscribe|list|delete`` against the sandbox, which validates our live
callback exactly like Strava does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from activity_api.events import STREAM, SUBSCRIPTION_KEY
from paceline import cli

from tests.fixtures.redis import RedisServer
from tests.integration.activity_api.conftest import (
    VERIFY_TOKEN,
    Harness,
    HarnessFactory,
    make_athlete,
)


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The command sets up logging for the process; give the test runner its handlers back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def command_env(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, h: Harness, **extra: str
) -> None:
    """The command's environment: this Redis, this sandbox's Strava app, and ``extra``."""
    for name, value in {
        "PACELINE_REDIS_URL": redis_server.url,
        "PACELINE_STRAVA_BASE_URL": h.sandbox.url,
        "PACELINE_STRAVA_CLIENT_ID": h.sandbox.client_id,
        "PACELINE_STRAVA_CLIENT_SECRET": h.sandbox.client_secret,
        **extra,
    }.items():
        monkeypatch.setenv(name, value)


def test_subscribe_list_and_delete(
    harness_factory: HarnessFactory,
    serve: Any,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    h = harness_factory(webhook_subscription_id=None)
    url = serve(h.app)
    command_env(
        monkeypatch,
        redis_server,
        h,
        PACELINE_WEBHOOK_VERIFY_TOKEN=VERIFY_TOKEN,
        PACELINE_PUBLIC_URL=url,
    )

    assert cli.main(["webhook", "subscribe"]) == 0
    out = capsys.readouterr().out
    assert f"callback {url}/webhooks/strava" in out
    subscription_id = int(h.runtime.redis.get(SUBSCRIPTION_KEY))  # type: ignore[arg-type]
    assert f"id {subscription_id}" in out

    assert cli.main(["webhook", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{subscription_id}  {url}/webhooks/strava" in listed
    assert "accepted by activity-api" in listed

    # Events for this subscription are now accepted.
    account = h.connect(make_athlete(h.sandbox))
    delivery = h.sandbox.emit_webhook(owner_id=int(account))
    assert delivery["status_code"] == 200
    assert h.runtime.redis.xlen(STREAM) == 1

    assert cli.main(["webhook", "delete"]) == 0
    assert f"deleted push subscription {subscription_id}" in capsys.readouterr().out
    assert h.runtime.redis.get(SUBSCRIPTION_KEY) is None
    assert cli.main(["webhook", "list"]) == 0
    assert "no push subscription" in capsys.readouterr().out


def test_subscribe_fails_cleanly_when_the_callback_does_not_validate(
    harness_factory: HarnessFactory,
    serve: Any,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    h = harness_factory(webhook_subscription_id=None)
    url = serve(h.app)
    command_env(
        monkeypatch, redis_server, h, PACELINE_WEBHOOK_VERIFY_TOKEN="not-what-the-api-expects"
    )

    assert cli.main(["webhook", "subscribe", "--callback-url", f"{url}/webhooks/strava"]) == 1
    err = capsys.readouterr().err
    assert "refused" in err
    assert "not-what-the-api-expects" not in err
    assert h.runtime.redis.get(SUBSCRIPTION_KEY) is None

    monkeypatch.delenv("PACELINE_WEBHOOK_VERIFY_TOKEN")
    assert cli.main(["webhook", "subscribe", "--callback-url", f"{url}/webhooks/strava"]) == 2
