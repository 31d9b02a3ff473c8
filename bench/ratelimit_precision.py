"""Rate-limit precision: 2 activity-api processes x 4 workers against one shared budget.

Strava limits an application, not a process, so every worker of every replica draws on one
budget through the rate governor in Redis. This runs that at full pressure, on loopback:

1. its own ``redis-server``, and the provider sandbox with a compressed budget: ``--budget``
   read calls (and twice that overall) per ``--window`` seconds, daily limits out of the way;
2. 500 sandbox athletes, each with an activity and a token pair stored as the gateway does;
3. two activity-api gunicorn masters (production config, ``GUNICORN_WORKERS=4`` each, access
   log off to leave the CPU to the work) sharing the Redis, told the same compressed windows
   (``PACELINE_GOVERNOR_WINDOW_SECONDS``; the limits themselves they learn from the headers);
4. from 50 ms after a window boundary, ``wrk`` on each master requests random athletes'
   summaries for ``--windows`` windows: cache misses, each a 3-call build, far more than the
   budget (500 builds need 1,500 calls; the budget allows ``--budget`` per window);
5. the sandbox's own per-window accounting (``GET /_sandbox/ratelimit``: calls counted per
   window and requests refused with 429) gives, for every window the load covered whole:
   overshoot (requests beyond the budget, target 0), 429s (target 0) and utilisation of the
   budget (target >= 95 %), while demand exceeded the budget (summaries still unbuilt at the
   end).

The LAST line is the figure; ``bench/results/ratelimit_precision.json`` gets all.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis
import requests
from paceline_dev.sandbox import SandboxClient
from stack import (
    ACTIVITY_API,
    connected_world,
    finish,
    gunicorn,
    paceline_env,
    with_sessions,
    wrk_binary,
)

UTILISATION_TARGET = 0.95
LUA = """
local ids = {%s}
local seed = %d
init = function(args)
  math.randomseed(seed + os.time())
end
request = function()
  return wrk.format("GET", "/v1/strava/athletes/" .. ids[math.random(#ids)] .. "/summary")
end
"""


def make_athletes(sandbox: SandboxClient, count: int, threads: int = 8) -> list[int]:
    def one(session: requests.Session, index: int) -> int:
        athlete = session.post(
            f"{sandbox.url}/_sandbox/athletes",
            json={"firstname": "Club", "lastname": f"Member {index}"},
            timeout=30,
        ).json()
        session.post(
            f"{sandbox.url}/_sandbox/athletes/{athlete['id']}/activities",
            json={"name": "Club run"},
            timeout=30,
        ).raise_for_status()
        return int(athlete["id"])

    return with_sessions(one, range(count), threads)


def windows_of(history: dict[str, list[list[int]]], kind: str) -> dict[int, int]:
    return {int(index): int(count) for index, count in history.get(kind, [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--athletes", type=int, default=500)
    parser.add_argument("--budget", type=int, default=100, help="read calls per window")
    parser.add_argument("--window", type=int, default=10, help="compressed window, seconds")
    parser.add_argument("--windows", type=int, default=5, help="whole windows under load")
    parser.add_argument("--connections", type=int, default=8, help="per API process")
    args = parser.parse_args(argv)
    wrk = wrk_binary()
    unlimited = 1_000_000_000

    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        print(f"seeding {args.athletes} athletes with credentials ...", flush=True)
        redis_url, sandbox, athletes = stack.enter_context(
            connected_world(
                workdir,
                lambda sandbox: make_athletes(sandbox, args.athletes),
                threads=8,
                rate_limit_overall=f"{2 * args.budget},{unlimited}",
                rate_limit_read=f"{args.budget},{unlimited}",
                window_seconds=str(args.window),
                day_seconds="86400",
            )
        )
        env = paceline_env(
            redis_url,
            sandbox,
            governor_window_seconds=str(args.window),
            governor_day_seconds="86400",
            governor_assumed_overall=f"{2 * args.budget},{unlimited}",
            governor_assumed_read=f"{args.budget},{unlimited}",
            webhook_consumer="false",
        )
        env["GUNICORN_ACCESS_LOG"] = "0"
        urls = [
            stack.enter_context(
                gunicorn(f"activity-api-{n}", ACTIVITY_API, env, workdir, workers=4)
            ).url
            for n in (1, 2)
        ]
        sandbox.control("DELETE", "/calls")
        ids = ",".join(str(a) for a in athletes)
        scripts = []
        for n, _url in enumerate(urls):
            script = workdir / f"random-athlete-{n}.lua"
            script.write_text(LUA % (ids, 1000 * (n + 1)))
            scripts.append(script)

        # Start just after a window boundary, run the whole windows plus a little.
        now = time.time()
        boundary = (math.floor(now / args.window) + 1) * args.window
        time.sleep(boundary - now + 0.05)
        seconds = args.windows * args.window + 1
        print(
            f"load: {len(urls)} x wrk -c{args.connections} for {seconds} s, budget "
            f"{args.budget} read calls per {args.window} s window",
            flush=True,
        )
        load_started = time.time()
        loads = [
            subprocess.Popen(
                [
                    wrk,
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{seconds}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(script),
                    url,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for url, script in zip(urls, scripts, strict=True)
        ]
        outputs = [load.communicate(timeout=seconds + 60)[0] for load in loads]
        load_ended = time.time()
        answer = sandbox.control("GET", "/ratelimit")
        calls = sandbox.calls()
        built = sum(
            1 for _ in redis.Redis.from_url(redis_url).scan_iter("paceline:summary:strava:*")
        )

    history = answer["windows"].get(sandbox.client_id, {})
    counted, refused = windows_of(history, "read"), windows_of(history, "refused")
    # The load starts 50 ms into the first window and ends after the last one.
    first = round(load_started / args.window)
    last = math.floor(load_ended / args.window) - 1
    windows = []
    for index in range(first, last + 1):
        used, over = counted.get(index, 0), refused.get(index, 0)
        windows.append(
            {
                "window": index,
                "counted": used,
                "refused_429": over,
                "overshoot": max(0, used + over - args.budget),
                "utilisation": round(used / args.budget, 4),
            }
        )
    overshoot = sum(w["overshoot"] for w in windows)
    rate_limited = int(calls["rate_limited"])
    utilisation = sum(w["counted"] for w in windows) / (args.budget * len(windows))
    demand_exceeded = built < args.athletes
    passed = (
        bool(windows)
        and overshoot == 0
        and rate_limited == 0
        and utilisation >= UTILISATION_TARGET
        and demand_exceeded
    )
    for window in windows:
        print(
            f"  window {window['window']}: {window['counted']:>4} calls counted, "
            f"{window['refused_429']} refused (429), utilisation {window['utilisation']:.0%}"
        )
    requests_line = [
        line.strip() for out in outputs for line in out.splitlines() if "requests in" in line
    ]
    print(f"wrk: {requests_line}; summaries built {built} of {args.athletes}")
    return finish(
        "ratelimit_precision",
        {
            "athletes": args.athletes,
            "processes": len(urls),
            "workers_per_process": 4,
            "budget_per_window": args.budget,
            "window_seconds": args.window,
            "windows": windows,
            "overshoot": overshoot,
            "max_overshoot_in_a_window": max((w["overshoot"] for w in windows), default=0),
            "rate_limited_429": rate_limited,
            "utilisation": round(utilisation, 4),
            "summaries_built": built,
            "demand_exceeded_budget": demand_exceeded,
            "api_calls_by_endpoint": calls["by_endpoint"],
            "wrk": outputs,
            "plot": [
                ["rate budget utilisation", utilisation, UTILISATION_TARGET, ">="],
                ["rate budget overshoot / budget", overshoot / args.budget, 0.0, "<="],
            ],
        },
        passed,
        f"{len(windows)} windows of {args.budget} calls / {args.window} s shared by 2 "
        f"processes x 4 workers: overshoot {overshoot} (target 0), 429s {rate_limited} "
        f"(target 0), utilisation {utilisation:.1%} (target >= 95%)",
    )


if __name__ == "__main__":
    sys.exit(main())
