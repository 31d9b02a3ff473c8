"""Card cached read: ``/v1/strava/card.svg`` from cache against a bare route serving its bytes.

The same method as ``cached_read.py`` (whose helpers it uses): its own ``redis-server`` and
sandbox, activity-api under ``activity_api.gunicorn_conf``, the card fetched once to warm the
cache, then ``bench/bare_summary_app.py`` serving those exact bytes as ``image/svg+xml`` under
the same gunicorn configuration; ``wrk`` at 10 and 50 connections, ``--rounds`` alternating
rounds, medians kept. The card takes the summary's read path and keeps its drawing per stored
summary, so a cached read only picks bytes.

Target: at least 0.9 of the bare route's requests/s. The LAST line is the figure;
``bench/results/card_read.json`` gets all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests
from cached_read import measure
from stack import (
    ACTIVITY_API,
    HERE,
    connect_athletes,
    gunicorn,
    make_runtime,
    paceline_env,
    redis_server,
    sandbox_server,
    write_result,
    wrk_binary,
)

ROUTE = "/v1/strava/card.svg"
THROUGHPUT_TARGET = 0.9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each measured wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per target and load")
    parser.add_argument("--connections", default="10,50")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.connections.split(",")]
    wrk_binary()

    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url, sandbox_server(workdir) as sandbox:
            runtime = make_runtime(redis_url, sandbox)
            athlete = min(a["id"] for a in sandbox.control("GET", "/athletes"))
            connect_athletes(runtime, sandbox, [athlete])
            env = paceline_env(redis_url, sandbox)
            with gunicorn("activity-api", ACTIVITY_API, env, workdir) as api:
                first = requests.get(api.url + ROUTE, timeout=30)
                first.raise_for_status()
                warm_calls = sandbox.api_calls()
                card_file = workdir / "card.svg"
                card_file.write_bytes(first.content)
                bare_env = {
                    **env,
                    "BENCH_BARE_BODY_FILE": str(card_file),
                    "BENCH_BARE_CARD_FILE": str(card_file),
                }
                with gunicorn(
                    "bare-route",
                    "bare_summary_app:create_app()",
                    bare_env,
                    workdir,
                    pythonpath=HERE,
                ) as bare:
                    baseline = requests.get(bare.url + ROUTE, timeout=10)
                    if baseline.content != requests.get(api.url + ROUTE, timeout=10).content:
                        raise SystemExit("card_read: the two targets do not serve the same card")
                    print(
                        f"card: {len(first.content)} bytes; activity-api and the bare route "
                        f"under activity_api.gunicorn_conf; {args.rounds} rounds of "
                        f"{args.seconds:g} s per point",
                        flush=True,
                    )
                    results = measure(
                        {
                            "card.svg": (api.url + ROUTE, api),
                            "bare-route": (bare.url + ROUTE, bare),
                        },
                        levels,
                        args.rounds,
                        args.seconds,
                    )
                upstream_during_load = sandbox.api_calls() - warm_calls

    levels_json: dict[str, Any] = {}
    parts: list[str] = []
    plot: list[list[Any]] = []
    ratios: list[float] = []
    for connections, pair in results.items():
        ours, bare_run = pair["card.svg"], pair["bare-route"]
        ratio = ours["requests_per_second"] / bare_run["requests_per_second"]
        ratios.append(ratio)
        levels_json[str(connections)] = {
            "card": ours,
            "bare_route": bare_run,
            "throughput_ratio": round(ratio, 3),
            "p99_ratio": round(ours["p99_ms"] / bare_run["p99_ms"], 3),
        }
        plot.append([f"card.svg req/s / bare route, {connections} conn", ratio, 0.9, ">="])
        parts.append(
            f"{connections} conn {ours['requests_per_second']:.0f} vs "
            f"{bare_run['requests_per_second']:.0f} req/s = {ratio:.2f}"
        )
    errors = sum(p[n]["errors"] for p in results.values() for n in p)
    passed = all(r >= THROUGHPUT_TARGET for r in ratios) and not errors
    passed = passed and upstream_during_load == 0
    write_result(
        "card_read",
        {
            "route": ROUTE,
            "levels": levels_json,
            "errors": errors,
            "upstream_calls_during_load": upstream_during_load,
            "targets": {"throughput_ratio_min": THROUGHPUT_TARGET},
            "pass": passed,
            "plot": plot,
        },
    )
    print(
        f"non-2xx or socket errors: {errors}; "
        f"upstream calls during the load: {upstream_during_load}"
    )
    verdict = "PASS" if passed else "FAIL"
    print(f"card_read {verdict}: card.svg cached read vs bare route: " + "; ".join(parts))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
