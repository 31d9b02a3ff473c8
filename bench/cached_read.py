"""Cached read throughput: ``/v1/strava/summary`` from cache against a bare Flask route.

What it does, all on loopback and in a temporary directory:

1. starts its own ``redis-server`` and the provider sandbox, and connects the sandbox's seeded
   athlete (a token pair from the sandbox, stored with ``store_tokens`` as the gateway does);
2. starts activity-api exactly as production does (``gunicorn --config
   python:activity_api.gunicorn_conf "activity_api.app:create_app()"``, the config's defaults:
   2 head-first gthread workers x 4 threads, access log on) and warms the cache with one request;
3. saves the bytes that answer returned and starts ``bench/bare_summary_app.py``, a Flask route
   returning those bytes from memory, under the same gunicorn configuration module: the
   baseline is the same server, workers and logging with nothing behind the route;
4. for 10 and then 50 connections, runs ``wrk --latency`` for ``--seconds`` against each
   target (after a 1 s warm-up), ``--rounds`` times, rotating which target goes first so the
   machine's noise falls on all; each figure is the median of the rounds, and each ratio the
   median of the rounds' ratios (:func:`paired_ratio`).
   A third target, the bare route after one small Redis read, is measured the same way for
   scale: it shows what a single loopback round trip costs on this machine (the most a
   Redis-backed cache can avoid is everything but that);
5. checks that every answer was a 2xx and that the sandbox saw no API call during the load
   (everything came from the cache), and prints requests/s, p50/p99 latency and the ratios.

Targets: throughput at least 0.8 of the bare route's; p99 at 50 connections at most 1.5 times
the bare route's. The LAST line is the figure; ``bench/results/cached_read.json`` gets all.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from paceline_dev.launch import GunicornServer
from paceline_dev.sandbox import SandboxClient
from stack import (
    ACTIVITY_API,
    HERE,
    WrkResult,
    connected_world,
    finish,
    gunicorn,
    paceline_env,
    tree_cpu_seconds,
    wrk,
    wrk_binary,
)

ROUTE = "/v1/strava/summary"
THROUGHPUT_TARGET = 0.8
P99_TARGET = 1.5


@dataclass(frozen=True)
class Run:
    wrk: WrkResult
    cpu_ms_per_request: float


def median_of(runs: list[Run]) -> dict[str, Any]:
    return {
        "requests_per_second": round(statistics.median(r.wrk.requests_per_second for r in runs), 1),
        "p50_ms": round(statistics.median(r.wrk.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.wrk.p99_ms for r in runs), 3),
        "server_cpu_ms_per_request": round(
            statistics.median(r.cpu_ms_per_request for r in runs), 4
        ),
        "errors": sum(r.wrk.errors for r in runs),
        "rounds": [
            {**r.wrk.as_json(), "server_cpu_ms_per_request": round(r.cpu_ms_per_request, 4)}
            for r in runs
        ],
    }


def paired_ratio(ours: dict[str, Any], baseline: dict[str, Any], field: str) -> float:
    """The median over rounds of ``ours[field] / baseline[field]`` (two :func:`median_of`
    results), each round's two runs made one after the other: a burst of a neighbour's work
    on a shared machine, which lasts seconds, falls on one round's pair of runs, so it moves
    one ratio of several rather than one target's median alone."""
    pairs = zip(ours["rounds"], baseline["rounds"], strict=True)
    return statistics.median(a[field] / b[field] for a, b in pairs)


def measure(
    targets: dict[str, tuple[str, GunicornServer]], levels: list[int], rounds: int, seconds: float
) -> dict[int, dict[str, dict[str, Any]]]:
    print(f"{rounds} rounds of {seconds:g} s per target and load", flush=True)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for connections in levels:
        runs: dict[str, list[Run]] = {name: [] for name in targets}
        for index in range(rounds):
            names = list(targets)
            order = names[index % len(names) :] + names[: index % len(names)]  # rotate
            for name in order:
                url, server = targets[name]
                wrk(url, connections, 1)  # warm-up: connections, caches, branch history
                cpu = tree_cpu_seconds(server.pid)
                run = wrk(url, connections, seconds)
                cpu_ms = (tree_cpu_seconds(server.pid) - cpu) * 1000 / max(1, run.requests)
                runs[name].append(Run(run, cpu_ms))
                print(
                    f"  {connections:>3} connections  {name:<12} {run.requests_per_second:>7.0f} "
                    f"req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                    f"server CPU {cpu_ms:.3f} ms/request",
                    flush=True,
                )
        results[connections] = {name: median_of(r) for name, r in runs.items()}
    return results


def parse_load_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    """The options every cached-read benchmark takes (``levels``: the connection counts)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=3.0, help="each measured wrk run")
    parser.add_argument("--rounds", type=int, default=7, help="runs per target and load")
    parser.add_argument("--connections", default="10,50")
    args = parser.parse_args(argv)
    args.levels = [int(c) for c in args.connections.split(",")]
    return args


@dataclass(frozen=True)
class ServedPair:
    """activity-api and the bare route serving the same bytes of one route."""

    api: GunicornServer
    bare: GunicornServer
    first: requests.Response  # activity-api's first (cache-warming) answer
    sandbox: SandboxClient
    warm_calls: int  # the sandbox's API calls once the cache was warm

    def measure(
        self, targets: dict[str, tuple[str, GunicornServer]], args: argparse.Namespace
    ) -> tuple[dict[int, dict[str, dict[str, Any]]], int]:
        """:func:`measure` at the loads ``args`` asks for; also the upstream API calls made
        meanwhile (a cached read makes none)."""
        results = measure(targets, args.levels, args.rounds, args.seconds)
        return results, self.sandbox.api_calls() - self.warm_calls


@contextmanager
def api_beside_bare_route(
    route: str, body_name: str, bare_extra: Callable[[str, Path], dict[str, str]]
) -> Iterator[ServedPair]:
    """Its own ``redis-server`` and sandbox, one athlete connected, activity-api under
    ``activity_api.gunicorn_conf`` asked ``route`` once to warm its cache, and
    ``bench/bare_summary_app.py`` under the same configuration serving exactly those bytes
    (``bare_extra(redis_url, body_file)`` adds to its environment)."""
    wrk_binary()
    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp:
        workdir = Path(tmp)
        world = connected_world(workdir, lambda sandbox: [sandbox.default_athlete_id])
        with world as (redis_url, sandbox, _):
            env = paceline_env(redis_url, sandbox)
            with gunicorn("activity-api", ACTIVITY_API, env, workdir) as api:
                first = requests.get(api.url + route, timeout=30)
                first.raise_for_status()
                warm_calls = sandbox.api_calls()
                body_file = workdir / body_name
                body_file.write_bytes(first.content)
                bare_env = {
                    **env,
                    "BENCH_BARE_BODY_FILE": str(body_file),
                    **bare_extra(redis_url, body_file),
                }
                with gunicorn(
                    "bare-route",
                    "bare_summary_app:create_app()",
                    bare_env,
                    workdir,
                    pythonpath=HERE,
                ) as bare:
                    print(
                        f"{body_name}: {len(first.content)} bytes from activity-api and the bare "
                        "route, both under activity_api.gunicorn_conf",
                        flush=True,
                    )
                    yield ServedPair(api, bare, first, sandbox, warm_calls)


def main(argv: list[str] | None = None) -> int:
    args = parse_load_args(argv, __doc__.splitlines()[0])
    with api_beside_bare_route(
        ROUTE, "summary.json", lambda redis_url, _: {"BENCH_BARE_REDIS_URL": redis_url}
    ) as served_pair:
        api, bare, first = served_pair.api, served_pair.bare, served_pair.first
        baseline = requests.get(bare.url + ROUTE, timeout=10)
        served = requests.get(api.url + ROUTE, timeout=10)
        if baseline.content != first.content or served.json()["meta"]["stale"]:
            raise SystemExit("cached_read: the two targets do not serve the same data")
        results, upstream_during_load = served_pair.measure(
            {
                "activity-api": (api.url + ROUTE, api),
                "bare-route": (bare.url + ROUTE, bare),
                "bare+redis": (bare.url + ROUTE + "-after-redis", bare),
            },
            args,
        )

    levels_json: dict[str, Any] = {}
    checks: list[bool] = []
    summary_parts: list[str] = []
    plot: list[list[Any]] = []
    for connections, pair in results.items():
        ours, bare_run, floor = pair["activity-api"], pair["bare-route"], pair["bare+redis"]
        throughput = paired_ratio(ours, bare_run, "requests_per_second")
        p99 = paired_ratio(ours, bare_run, "p99_ms")
        p50 = paired_ratio(ours, bare_run, "p50_ms")
        levels_json[str(connections)] = {
            "activity_api": ours,
            "bare_route": bare_run,
            "bare_route_after_one_redis_read": floor,
            "throughput_ratio": round(throughput, 3),
            "p50_ratio": round(p50, 3),
            "p99_ratio": round(p99, 3),
            "server_cpu_per_request_ratio": round(
                paired_ratio(ours, bare_run, "server_cpu_ms_per_request"), 3
            ),
            # informative: the bare route's own cost of one Redis round trip
            "bare_after_redis_throughput_ratio": round(
                paired_ratio(floor, bare_run, "requests_per_second"), 3
            ),
        }
        checks.append(throughput >= THROUGHPUT_TARGET)
        plot.append([f"cached read req/s / bare route, {connections} conn", throughput, 0.8, ">="])
        if connections == 50:
            checks.append(p99 <= P99_TARGET)
            plot.append(
                [f"cached read p99 / bare route, {connections} conn", p99, P99_TARGET, "<="]
            )
        summary_parts.append(
            f"{connections} conn {ours['requests_per_second']:.0f} vs "
            f"{bare_run['requests_per_second']:.0f} req/s (medians), ratio {throughput:.2f}, "
            f"p99 {ours['p99_ms']:.1f} vs {bare_run['p99_ms']:.1f} ms = {p99:.2f}"
        )
    floors = {c: levels_json[str(c)]["bare_after_redis_throughput_ratio"] for c in results}
    cpu = {c: levels_json[str(c)]["server_cpu_per_request_ratio"] for c in results}
    errors = sum(p[n]["errors"] for p in results.values() for n in p)
    passed = all(checks) and errors == 0 and upstream_during_load == 0
    print(
        f"non-2xx or socket errors: {errors}; upstream calls during the load: "
        f"{upstream_during_load}; for scale, the bare route after one Redis read: "
        + ", ".join(f"{c} conn {r:.2f} of its req/s" for c, r in floors.items())
    )
    print(
        "server CPU per request, activity-api / bare route (steadier than req/s on a busy "
        "machine): " + ", ".join(f"{c} conn {r:.2f}" for c, r in cpu.items())
    )
    return finish(
        "cached_read",
        {
            "route": ROUTE,
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "levels": levels_json,
            "errors": errors,
            "upstream_calls_during_load": upstream_during_load,
            "targets": {
                "throughput_ratio_min": THROUGHPUT_TARGET,
                "p99_ratio_max_at_50": P99_TARGET,
            },
            "plot": plot,
        },
        passed,
        "activity-api vs bare route: " + "; ".join(summary_parts),
    )


if __name__ == "__main__":
    sys.exit(main())
