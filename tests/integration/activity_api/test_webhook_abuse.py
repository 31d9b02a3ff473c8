"""Forged webhook events, tried as an attacker would: nothing an anonymous caller posts may
delete, hide for long, drain the rate budget, reveal who is connected, or fill Redis."""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import requests
from activity_api.callback import callback_path
from activity_api.cli import cmd_subscribe
from activity_api.dirty_accounts import DUE
from activity_api.events import (
    STREAM,
    STREAM_BOUND_BYTES,
    STREAM_MAXLEN,
    WebhookEvent,
    enqueue,
)
from paceline.cache import summary_key
from paceline.governor import Priority
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.activity_api.conftest import (
    SUBSCRIPTION_ID,
    Harness,
    HarnessFactory,
    event,
    make_athlete,
)

PATH_SECRET = "path-secret-for-tests-0123456789"


def deauthorization(owner: int | str, subscription_id: int = SUBSCRIPTION_ID) -> dict[str, Any]:
    return event(
        owner,
        object_type="athlete",
        aspect_type="update",
        object_id=int(owner),
        subscription_id=subscription_id,
        updates={"authorized": "false"},
    )


def outcome_count(h: Harness, kind: str, result: str) -> float:
    metrics_port = f"http://localhost:{h.runtime.settings.metrics_port}"
    text = h.client.get("/metrics", base_url=metrics_port).get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "paceline_webhook_outcomes_total"
                and sample.labels.get("type") == kind
                and sample.labels.get("result") == result
            ):
                return float(sample.value)
    return 0.0


def mirrored_accounts(h: Harness) -> set[str]:
    return {c.account_id for c in h.runtime.store.mirror.load_all()}


def test_forged_deauthorization_erases_nothing_and_a_real_revocation_erases_everything(
    harness_factory: HarnessFactory, serve: Any
) -> None:
    h = harness_factory(webhook_subscription_id=None, webhook_path_secret=PATH_SECRET)
    base = serve(h.app)
    account = h.connect(make_athlete(h.sandbox))
    summary = f"/v1/strava/athletes/{account}/summary"
    assert h.client.get(summary).status_code == 200
    # The real handshake: `paceline webhook subscribe` registers the secret callback path.
    callback = f"{base}{callback_path(h.runtime.settings)}"
    assert cmd_subscribe(argparse.Namespace(callback_url=None), h.runtime) == 2  # no public URL
    assert cmd_subscribe(argparse.Namespace(callback_url=callback), h.runtime) == 0
    subscription = int(h.runtime.redis.get("paceline:webhook:subscription:strava") or 0)
    before_body = h.client.get(summary).get_json()
    calls = h.total_api_calls()

    # The attacker knows everything but the grant: right subscription, real athlete, real URL.
    for _ in range(20):
        forged = requests.post(callback, json=deauthorization(account, subscription), timeout=5)
        assert forged.status_code == 200
    h.consumer.run_once(block_ms=10)

    assert h.runtime.store.get("strava", account) is not None
    assert account in mirrored_accounts(h)
    assert h.runtime.redis.exists(summary_key("strava", account))
    assert h.client.get(summary).get_json()["latest_activity"] == before_body["latest_activity"]
    assert outcome_count(h, "athlete.deauthorize", "rejected_unconfirmed") >= 1
    assert h.total_api_calls() == calls  # a live grant is confirmed by a token post alone
    print(f"\n20 forged deauthorizations: {h.total_api_calls() - calls} API calls, nothing erased")

    # The athlete really revokes the app at Strava (after the grant-check interval): the
    # sandbox sends its event to the callback, the consumer thread confirms and erases.
    h.advance(h.runtime.settings.webhook_grant_check_seconds + 1)
    credential = h.runtime.store.get("strava", account)
    assert credential is not None
    h.consumer.block_ms = 100
    h.consumer.start()
    started = time.monotonic()
    revoked = requests.post(
        f"{h.sandbox.url}/oauth/deauthorize",
        headers={"Authorization": f"Bearer {credential.access_token}"},
        timeout=5,
    )
    assert revoked.status_code == 200
    while h.runtime.store.get("strava", account) is not None:
        assert time.monotonic() - started < 10, "a real revocation was not acted on"
        time.sleep(0.05)
    took = time.monotonic() - started
    h.consumer.stop()
    deliveries = h.sandbox.deliveries(wait=5)["deliveries"]
    assert deliveries[-1]["status"] == 200
    assert account not in mirrored_accounts(h)
    assert not h.runtime.redis.exists(summary_key("strava", account))
    assert h.runtime.redis.keys(f"paceline:*:strava:{account}*") == [] or all(
        k.split(b":")[1] in (b"lock", b"fence") for k in h.runtime.redis.keys(f"*:{account}*")
    )
    assert h.client.get(summary).status_code == 404
    print(f"genuine revocation erased in {took:.2f} s")


def test_a_forged_delete_hides_at_once_and_the_activity_is_back_within_one_rebuild(
    harness: Harness,
) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    path = f"/v1/strava/athletes/{account}/summary"
    latest = h.client.get(path).get_json()["latest_activity"]
    forged = WebhookEvent("activity", "delete", latest["id"], int(account), SUBSCRIPTION_ID)

    assert h.consumer.intake.accept(forged) == "marked"  # taken from the queue: hidden at once
    hidden = h.client.get(path).get_json()
    assert hidden["latest_activity"]["id"] != latest["id"]

    calls = h.total_api_calls()
    assert h.consumer.account_work.work_due() == 1  # one rebuild from Strava
    back = h.client.get(path).get_json()
    assert back["latest_activity"]["id"] == latest["id"]
    assert h.total_api_calls() - calls <= 4
    assert h.runtime.redis.zscore(DUE, account) is None


def test_200_forged_creates_cost_at_most_five_api_calls(harness_factory: HarnessFactory) -> None:
    h = harness_factory(webhook_rate_limit="1000/minute")  # from many addresses
    account = h.connect(make_athlete(h.sandbox))
    h.client.get(f"/v1/strava/athletes/{account}/summary")
    before = h.total_api_calls()
    rng = random.Random(12)
    for _ in range(200):
        forged = event(account, object_id=rng.randrange(10**9, 10**12))
        assert h.client.post("/webhooks/strava", json=forged).status_code == 200
    while h.consumer.run_once(block_ms=10):
        pass
    burst = h.total_api_calls() - before
    # More forged events during the cooldown: one more rebuild when it ends, not 200.
    for _ in range(200):
        h.client.post("/webhooks/strava", json=event(account, object_id=rng.randrange(10**9)))
    h.consumer.run_once(block_ms=10)
    during = h.total_api_calls() - before - burst
    h.advance(h.runtime.settings.webhook_cooldown_seconds + 1)
    h.consumer.run_once(block_ms=10)
    h.consumer.run_once(block_ms=10)
    after_cooldown = h.total_api_calls() - before - burst
    print(
        f"\n200 forged creates: {burst} API calls (limit 5); 200 more within the cooldown: "
        f"{during} now, {after_cooldown} once it ended"
    )
    assert burst <= 5
    assert during == 0
    assert after_cooldown <= 5


def test_forged_events_for_unserved_objects_cost_nothing(harness: Harness) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    h.client.get(f"/v1/strava/athletes/{account}/summary")
    uncached = h.connect(make_athlete(h.sandbox))  # connected, nobody asked for its summary
    before = h.total_api_calls()
    for n in range(50):
        h.client.post("/webhooks/strava", json=event(31337 + n))  # unknown athletes
        h.client.post("/webhooks/strava", json=event(uncached, object_id=n + 1))
        h.client.post(  # an update to an activity the summary does not show
            "/webhooks/strava", json=event(account, aspect_type="update", object_id=n + 7)
        )
    while h.consumer.run_once(block_ms=10):
        pass
    assert h.total_api_calls() == before


def test_background_work_from_events_stops_at_the_governors_reserve(
    harness_factory: HarnessFactory,
) -> None:
    h = harness_factory()
    account = h.connect(make_athlete(h.sandbox))
    other = h.connect(make_athlete(h.sandbox))
    h.client.get(f"/v1/strava/athletes/{account}/summary")
    governor = h.runtime.governor("strava")
    # Fill the window up to the background limit (what other work already used).
    while governor.acquire(Priority.BACKGROUND, read=True).allowed:
        pass
    before = h.total_api_calls()
    for n in range(20):
        h.client.post("/webhooks/strava", json=event(account, object_id=n + 1))
    h.consumer.run_once(block_ms=10)
    assert h.total_api_calls() == before  # nothing past the reserve
    assert h.runtime.redis.zscore(DUE, account) is not None  # retried when the window opens
    # The reserve is left for visitors: a cache miss is still served.
    assert h.client.get(f"/v1/strava/athletes/{other}/summary").status_code == 200


def test_the_route_answers_alike_for_any_subscription_and_athlete(harness: Harness) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    answers = [
        h.client.post("/webhooks/strava", json=event(account, subscription_id=SUBSCRIPTION_ID + 1)),
        h.client.post("/webhooks/strava", json=event(31337)),
        h.client.post("/webhooks/strava", json=event(account)),
        h.client.post("/webhooks/strava", json=deauthorization(account, subscription_id=1)),
    ]
    shapes = {
        (
            a.status_code,
            a.get_data(),
            a.headers.get("Content-Type"),
            a.headers.get("Content-Length"),
        )
        for a in answers
    }
    print(f"\nanswers: {shapes}")
    assert len(shapes) == 1
    assert shapes.pop()[0] == 200


def test_a_secret_path_closes_the_public_one(harness_factory: HarnessFactory) -> None:
    h = harness_factory(webhook_path_secret=PATH_SECRET)
    account = h.connect(make_athlete(h.sandbox))
    secret_path = callback_path(h.runtime.settings)
    assert secret_path.startswith("/webhooks/strava/") and PATH_SECRET not in secret_path
    assert h.client.post("/webhooks/strava", json=event(account)).status_code == 404
    guessed = h.client.post("/webhooks/strava/guess", json=event(account))
    nowhere = h.client.post("/no/such/path", json=event(account))
    assert guessed.status_code == nowhere.status_code == 404
    assert guessed.get_data() == nowhere.get_data()  # a wrong token looks like no route at all
    assert h.client.get("/webhooks/strava", query_string={"hub.challenge": "x"}).status_code == 404
    assert h.runtime.redis.xlen(STREAM) == 0
    assert h.client.post(secret_path, json=event(account)).status_code == 200
    assert h.runtime.redis.xlen(STREAM) == 1


def test_the_route_is_rate_limited_per_client_address(harness_factory: HarnessFactory) -> None:
    h = harness_factory(webhook_rate_limit="5/minute")
    statuses = [
        h.client.post(
            "/webhooks/strava", json=event(31337), environ_base={"REMOTE_ADDR": "192.0.2.7"}
        ).status_code
        for _ in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    other = h.client.post(
        "/webhooks/strava", json=event(31337), environ_base={"REMOTE_ADDR": "192.0.2.8"}
    )
    assert other.status_code == 200  # another address has its own allowance


def test_identical_waiting_events_are_queued_once(harness: Harness) -> None:
    h = harness
    for _ in range(50):
        h.client.post("/webhooks/strava", json=event(31337, object_id=99))
    assert h.runtime.redis.xlen(STREAM) == 1


def test_a_flood_keeps_the_stream_under_its_bound(harness: Harness) -> None:
    h = harness
    rng = random.Random(7)
    biggest = 10**19 - 1  # the longest ids a stream entry can hold
    total = 3 * STREAM_MAXLEN
    for start in range(0, total, 1000):
        pipe = h.runtime.redis.pipeline(transaction=False)
        for _ in range(1000):
            enqueue(
                pipe,  # type: ignore[arg-type]
                WebhookEvent(
                    "activity",
                    "update",
                    rng.randrange(biggest // 2, biggest),
                    rng.randrange(biggest // 2, biggest),
                    rng.randrange(biggest // 2, biggest),
                    {"private": "true"},
                ),
            )
        pipe.execute()
        used = int(h.runtime.redis.memory_usage(STREAM, samples=0) or 0)
        assert used <= STREAM_BOUND_BYTES, f"{used} bytes after {start + 1000} events"
    for _ in range(200):  # and through the route, with the largest updates it accepts
        h.client.post(
            "/webhooks/strava",
            json=event(
                rng.randrange(biggest),
                object_id=rng.randrange(biggest),
                updates={f"f{n}": "x" * 1000 for n in range(20)},
            ),
        )
    used = int(h.runtime.redis.memory_usage(STREAM, samples=0) or 0)
    length = h.runtime.redis.xlen(STREAM)
    print(
        f"\nflood of {total + 200} events: stream {length} entries, {used / 1024:.0f} KiB "
        f"(bound {STREAM_BOUND_BYTES / 1024:.0f} KiB)"
    )
    assert length <= STREAM_MAXLEN + 100
    assert used <= STREAM_BOUND_BYTES


def test_the_secret_path_never_reaches_a_log_line(harness_factory: HarnessFactory) -> None:
    from paceline.log import redact

    h = harness_factory(webhook_path_secret=PATH_SECRET)
    path = callback_path(h.runtime.settings)
    token = path.rsplit("/", 1)[1]
    access_line = f'127.0.0.1 - - "POST {path} HTTP/1.1" 200 22'  # gunicorn's access log
    assert token not in redact(access_line)
    assert PATH_SECRET not in redact(f"secret={PATH_SECRET}")


def test_the_webhook_limit_leaves_widget_reads_alone(harness_factory: HarnessFactory) -> None:
    """Only the webhook routes are limited: a widget read (however many from one address)
    neither counts against the webhook allowance nor runs the limiter at all."""
    h = harness_factory(webhook_rate_limit="3/minute")
    h.connect(make_athlete(h.sandbox))
    app_hooks = [
        *h.app.before_request_funcs.get(None, []),
        *h.app.after_request_funcs.get(None, []),
    ]
    assert not [hook for hook in app_hooks if "limiter" in repr(hook).lower()]
    reads = [h.client.get("/v1/strava/summary").status_code for _ in range(10)]
    assert 429 not in reads
    posts = [h.client.post("/webhooks/strava", json=event(31337)).status_code for _ in range(4)]
    assert posts == [200] * 3 + [429]
