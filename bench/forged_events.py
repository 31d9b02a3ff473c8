"""Forged-event cost: what 200 forged "new activity" webhook events cost in Strava API calls.

Strava's events are unsigned and the callback is public, so an attacker who knows a connected
athlete's id (it is public) and the callback can post as many events as the route lets them.
Before coalescing, 200 forged creates cost 14-17 API calls plus queued retries (issue 12).
Set up like production, with real processes:

1. its own ``redis-server`` and the provider sandbox (default Strava rate limits); an athlete
   with a few public activities, its token pair stored as the gateway stores it;
2. activity-api in this process on a loopback HTTP server (no consumer thread), with a path
   secret, and a real push subscription made with ``paceline webhook subscribe``'s code, so
   the attacker is given everything but the grant: the secret callback URL and the right
   subscription id;
3. ``paceline webhook consume`` as its own process (the chart's consumer Deployment);
4. the widget's summary is read once (so there is something to refresh), calls are reset;
5. 200 forged creates (made-up activity ids), 200 forged events for athletes that are not
   connected, and 20 forged deauthorizations, posted concurrently over HTTP; then it waits
   until the consumer is quiet and counts the API calls the sandbox saw;
6. baseline from the same run: one genuine new activity (the sandbox sends its event), after
   the account's cooldown, and the calls it costs.

Target: at most 5 API calls for the forged burst, nothing erased. The LAST line is the figure;
``bench/results/forged_events.json`` gets all.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
from paceline_dev.sandbox import SandboxClient
from stack import (
    child,
    connect_athletes,
    finish,
    make_athlete,
    make_runtime,
    paceline_env,
    redis_server,
    sandbox_server,
    serve_in_thread,
    wait_until,
)

TARGET = 5
FORGED = 200
COOLDOWN_SECONDS = 10  # shorter than the default 60 s, so the genuine baseline comes sooner
PATH_SECRET = "bench-path-secret-0123456789abcdef"
VERIFY_TOKEN = "bench-verify-token"


def api_calls(sandbox: SandboxClient) -> dict[str, int]:
    counts = sandbox.calls()["by_endpoint"]
    return {k: v for k, v in counts.items() if " /api/v3/" in k and "push_subscriptions" not in k}


def quiet(
    runtime: Any, sandbox: SandboxClient, seconds: float = 2.0, timeout: float = 60.0
) -> None:
    """Wait until the stream is consumed, no account is due now, and no call came for a bit."""
    from activity_api.dirty_accounts import DUE
    from activity_api.events import GROUP, STREAM

    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        calls = sum(api_calls(sandbox).values())
        try:
            pending = runtime.redis.xpending(STREAM, GROUP)["pending"]
            lag = runtime.redis.xinfo_groups(STREAM)[0].get("lag") or 0
        except Exception:
            pending, lag = 1, 1
        due_now = runtime.redis.zcount(DUE, "-inf", time.time())
        if calls != last:
            last, since = calls, time.monotonic()
        elif not pending and not lag and not due_now and time.monotonic() - since >= seconds:
            return
        time.sleep(0.1)
    raise SystemExit("forged_events: the consumer did not settle")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8, help="concurrent forged posts")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from activity_api.app import create_app, stop_background
    from activity_api.callback import callback_path
    from activity_api.cli import cmd_subscribe
    from activity_api.events import SUBSCRIPTION_KEY

    started = time.monotonic()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(sandbox_server(workdir))
        settings: dict[str, Any] = {
            "webhook_verify_token": VERIFY_TOKEN,
            "webhook_path_secret": PATH_SECRET,
            "webhook_rate_limit": "100000/minute",  # the attacker has many addresses
            "webhook_cooldown_seconds": COOLDOWN_SECONDS,
        }
        runtime = make_runtime(redis_url, sandbox, **settings)
        athlete = make_athlete(sandbox, time.time(), (6, 4, 2, 1))
        account = connect_athletes(runtime, sandbox, [athlete])[0]
        app = create_app(runtime=runtime, start_background=False)
        stack.callback(stop_background, app)
        url = stack.enter_context(serve_in_thread(app))
        callback = url + callback_path(runtime.settings)
        if cmd_subscribe(argparse.Namespace(callback_url=callback), runtime) != 0:
            raise SystemExit("forged_events: the webhook subscription failed")
        subscription = int(runtime.redis.get(SUBSCRIPTION_KEY) or 0)
        assert requests.get(f"{url}/v1/strava/summary", timeout=30).status_code == 200

        consumer_env = paceline_env(redis_url, sandbox, **{k: str(v) for k, v in settings.items()})
        consumer = stack.enter_context(
            child(
                [str(Path(sys.executable).parent / "paceline"), "webhook", "consume"],
                workdir / "consumer.log",
                consumer_env,
            )
        )
        sandbox.control("DELETE", "/calls")

        def event(owner: int, **fields: Any) -> dict[str, Any]:
            body = {
                "object_type": "activity",
                "aspect_type": "create",
                "object_id": rng.randrange(10**9, 10**12),
                "owner_id": owner,
                "subscription_id": subscription,
                "event_time": int(time.time()),
                "updates": {},
            }
            body.update(fields)
            return body

        forged = [event(athlete) for _ in range(FORGED)]
        forged += [event(rng.randrange(10**6, 10**9)) for _ in range(FORGED)]
        forged += [
            event(
                athlete,
                object_type="athlete",
                aspect_type="update",
                object_id=athlete,
                updates={"authorized": "false"},
            )
            for _ in range(20)
        ]
        rng.shuffle(forged)
        session = requests.Session()
        post_started = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            statuses = list(
                pool.map(
                    lambda body: session.post(callback, json=body, timeout=10).status_code, forged
                )
            )
        post_seconds = time.monotonic() - post_started
        quiet(runtime, sandbox)
        forged_calls = api_calls(sandbox)
        forged_total = sum(forged_calls.values())
        still_connected = runtime.store.get("strava", account) is not None
        token_posts = sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0)

        # Baseline: one genuine new activity once the account's cooldown has passed.
        time.sleep(COOLDOWN_SECONDS + 1)
        sandbox.control("DELETE", "/calls")
        sandbox.add_activity(
            athlete, emit_webhook=True, name="Genuine run", start_date=int(time.time() - 600)
        )
        wait_until(lambda: sum(api_calls(sandbox).values()) > 0, "the genuine event's refresh", 30)
        quiet(runtime, sandbox)
        genuine_total = sum(api_calls(sandbox).values())
        latest = requests.get(f"{url}/v1/strava/summary", timeout=30).json()["latest_activity"]
        alive = consumer.popen.poll() is None

    passed = (
        forged_total <= TARGET
        and still_connected
        and alive
        and set(statuses) == {200}
        and latest["name"] == "Genuine run"
    )
    print(
        f"posted {len(forged)} forged events in {post_seconds:.1f} s "
        f"(answers {sorted(set(statuses))}); API calls by endpoint: {forged_calls}; "
        f"token posts (grant checks): {token_posts}"
    )
    print(f"credential still there after 20 forged deauthorizations: {still_connected}")
    return finish(
        "forged_events",
        {
            "forged_creates": FORGED,
            "forged_unknown_athlete": FORGED,
            "forged_deauthorizations": 20,
            "statuses": sorted(set(statuses)),
            "post_seconds": round(post_seconds, 2),
            "api_calls": forged_total,
            "api_calls_by_endpoint": forged_calls,
            "token_posts": token_posts,
            "still_connected": still_connected,
            "genuine_event_api_calls": genuine_total,
            "genuine_activity_shown": latest["name"] == "Genuine run",
            "cooldown_seconds": COOLDOWN_SECONDS,
            "target": TARGET,
            "plot": [["API calls for 200 forged creates / 5", forged_total / TARGET, 1.0, "<="]],
        },
        passed,
        f"{FORGED} forged creates (+{FORGED} for unknown athletes, +20 deauthorizations) cost "
        f"{forged_total} API calls (limit {TARGET}; {forged_total / TARGET:.2f} of it); one "
        f"genuine event costs {genuine_total}",
        started,
    )


if __name__ == "__main__":
    sys.exit(main())
