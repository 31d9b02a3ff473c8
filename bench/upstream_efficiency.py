"""Upstream efficiency: 10,000 widget requests over a simulated day; count the provider calls.

The question is how many Strava API calls paceline spends to serve a widget all day, so the
simulated time has to be real to the code that decides when to call: summary freshness, token
expiry and the webhook path. activity-api reads time from its injected clock, and only an
in-process app can share a clock with the benchmark; so the app is driven honestly like this:

1. its own ``redis-server`` and the provider sandbox (default Strava rate limits, clock frozen)
   as subprocesses; an athlete with a few public activities (the latest without photos) whose
   token pair is stored as the gateway stores it;
2. two activity-api apps (``create_app``, as two gunicorn workers would build it, with the
   default settings: freshness 15 min, 24 h with webhooks) sharing one Redis and one
   :class:`~paceline.clock.ManualClock`, each on a loopback HTTP server, each with its webhook
   consumer thread; a push subscription made with ``paceline webhook subscribe``'s code, so
   the sandbox delivers events over HTTP like Strava (the setup calls are then reset);
3. ``--hours`` of simulated time in bursts every 5 minutes: a burst of widget requests for
   ``/v1/strava/summary`` alternating between the two apps, then both clocks (the app's and
   the sandbox's) move 5 minutes forward;
4. half-way, a new activity is uploaded in the sandbox with ``emit_webhook``; requests go on
   until it is the latest activity in the answer;
5. it checks that every request got a 200 and the new activity became visible, and prints the
   API calls the sandbox counted (``GET /_sandbox/calls``; token posts, which do not count
   against Strava's API limits, are shown apart) against the recipe's 2 to 4 calls per view.

Target: at most 5 API calls. The LAST line is the figure; ``bench/results/
upstream_efficiency.json`` gets all.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
from stack import (
    connect_athletes,
    finish,
    make_athlete,
    make_runtime,
    redis_server,
    sandbox_server,
    serve_in_thread,
)

TARGET = 5
RECIPE_CALLS_PER_VIEW = (2, 4)  # athlete + activities, up to + stats + detail, per page view
STEP_SECONDS = 300
ROUTE = "/v1/strava/summary"
HOUR = 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=12.0, help="simulated time")
    parser.add_argument("--threads", type=int, default=4, help="concurrent widget requests")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from activity_api.app import create_app, stop_background
    from activity_api.cli import cmd_subscribe
    from paceline.clock import ManualClock

    bursts = max(2, int(args.hours * HOUR // STEP_SECONDS))
    per_burst = [
        args.requests // bursts + (1 if i < args.requests % bursts else 0) for i in range(bursts)
    ]
    statuses: Counter[int] = Counter()
    counting = threading.Lock()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(
            sandbox_server(workdir, rate_limit_overall="200,2000", rate_limit_read="100,1000")
        )
        start = float(sandbox.control("POST", "/clock", json={"freeze": True})["now"])
        clock = ManualClock(start=start)
        athlete = make_athlete(sandbox, start, (9, 6, 4, 2, 1))
        settings = {"webhook_verify_token": "bench-verify-token", "http_timeout_seconds": 10.0}
        runtimes = [make_runtime(redis_url, sandbox, clock=clock, **settings) for _ in range(2)]
        connect_athletes(runtimes[0], sandbox, [athlete])
        apps = [create_app(runtime=runtime) for runtime in runtimes]
        for app in apps:
            stack.callback(stop_background, app)
        urls = [stack.enter_context(serve_in_thread(app)) for app in apps]
        namespace = argparse.Namespace(callback_url=f"{urls[0]}/webhooks/strava")
        if cmd_subscribe(namespace, runtimes[0]) != 0:
            raise SystemExit("upstream_efficiency: the webhook subscription failed")
        setup_calls = sandbox.calls()["by_endpoint"]
        sandbox.control("DELETE", "/calls")

        targets = itertools.cycle(urls)
        sessions = [requests.Session() for _ in range(args.threads)]

        def get(index: int, url: str) -> dict[str, Any]:
            response = sessions[index % len(sessions)].get(url + ROUTE, timeout=30)
            with counting:
                statuses[response.status_code] += 1
            return response.json() if response.status_code == 200 else {}

        new_activity: dict[str, Any] | None = None
        visible_after: dict[str, float] | None = None
        uploaded_at, uploaded_sent = 0.0, 0
        sent = 0
        with ThreadPoolExecutor(args.threads) as pool:
            for burst, count in enumerate(per_burst):
                if burst == bursts // 2:
                    new_activity = sandbox.add_activity(
                        athlete,
                        emit_webhook=True,
                        name="Lunch run (new)",
                        start_date=int(clock.now() - 1800),
                    )
                    uploaded_at, uploaded_sent = time.monotonic(), sent
                done = 0
                while new_activity is not None and visible_after is None and done < count:
                    # one request at a time until the new activity shows
                    body = get(sent, next(targets))
                    sent, done = sent + 1, done + 1
                    if (body.get("latest_activity") or {}).get("id") == new_activity["id"]:
                        visible_after = {
                            "requests": sent - uploaded_sent,
                            "real_seconds": round(time.monotonic() - uploaded_at, 3),
                            "simulated_seconds": (burst - bursts // 2) * STEP_SECONDS,
                        }
                jobs = [pool.submit(get, sent + i, next(targets)) for i in range(count - done)]
                for job in jobs:
                    job.result()
                sent += count - done
                clock.advance(STEP_SECONDS)
                sandbox.advance(STEP_SECONDS)
        calls = sandbox.calls()
        final = requests.get(urls[1] + ROUTE, timeout=30).json()

    by_endpoint = {k: v for k, v in calls["by_endpoint"].items() if " /api/v3/" in k}
    api_calls = sum(by_endpoint.values())
    token_posts = sum(v for k, v in calls["by_endpoint"].items() if k.endswith("/oauth/token"))
    ok = statuses.get(200, 0) == sent == args.requests
    final_latest = (final.get("latest_activity") or {}).get("id")
    visible = new_activity is not None and final_latest == new_activity["id"]
    visible = visible and visible_after is not None
    recipe = [args.requests * n for n in RECIPE_CALLS_PER_VIEW]
    passed = ok and visible and api_calls <= TARGET
    print(
        f"widget requests: {sent} over {bursts * STEP_SECONDS / HOUR:g} simulated hours; "
        f"statuses {statuses}"
    )
    print(f"API calls by endpoint: {by_endpoint}; token posts (not API calls): {token_posts}")
    print(f"new activity visible after: {visible_after}")
    return finish(
        "upstream_efficiency",
        {
            "widget_requests": sent,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "simulated_hours": bursts * STEP_SECONDS / HOUR,
            "bursts": bursts,
            "api_calls": api_calls,
            "api_calls_by_endpoint": by_endpoint,
            "token_posts": token_posts,
            "rate_limited": calls["rate_limited"],
            "setup_calls_excluded": setup_calls,
            "new_activity_visible_after": visible_after,
            "recipe_calls": recipe,
            "target": TARGET,
            "plot": [["upstream API calls per 10,000 views / 5", api_calls / TARGET, 1.0, "<="]],
        },
        passed,
        f"{api_calls} API calls for {sent:,} widget requests over "
        f"{bursts * STEP_SECONDS / HOUR:g} simulated hours with one webhook (target <= {TARGET}; "
        f"the recipe spends {recipe[0]:,}-{recipe[1]:,})",
        started,
    )


if __name__ == "__main__":
    sys.exit(main())
