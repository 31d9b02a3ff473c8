"""Card cached read: ``/v1/strava/card.svg`` from cache against a bare route serving its bytes.

The same method as ``cached_read.py`` (whose helpers it uses): its own ``redis-server`` and
sandbox, activity-api under ``activity_api.gunicorn_conf``, the card fetched once to warm the
cache, then ``bench/bare_summary_app.py`` serving those exact bytes as ``image/svg+xml`` under
the same gunicorn configuration; ``wrk`` at 10 and 50 connections, ``--rounds`` alternating
rounds; the ratio is the median of the rounds' ratios. The card takes the summary's read path
and keeps its drawing per stored summary, so a cached read only picks bytes.

Target: at least 0.9 of the bare route's requests/s. The LAST line is the figure;
``bench/results/card_read.json`` gets all.
"""

from __future__ import annotations

import sys
from typing import Any

import requests
from cached_read import api_beside_bare_route, paired_ratio, parse_load_args
from stack import finish

ROUTE = "/v1/strava/card.svg"
THROUGHPUT_TARGET = 0.9


def main(argv: list[str] | None = None) -> int:
    args = parse_load_args(argv, __doc__.splitlines()[0])
    with api_beside_bare_route(
        ROUTE, "card.svg", lambda _, card_file: {"BENCH_BARE_CARD_FILE": str(card_file)}
    ) as served_pair:
        api, bare = served_pair.api, served_pair.bare
        baseline = requests.get(bare.url + ROUTE, timeout=10)
        if baseline.content != requests.get(api.url + ROUTE, timeout=10).content:
            raise SystemExit("card_read: the two targets do not serve the same card")
        results, upstream_during_load = served_pair.measure(
            {
                "card.svg": (api.url + ROUTE, api),
                "bare-route": (bare.url + ROUTE, bare),
            },
            args,
        )

    levels_json: dict[str, Any] = {}
    parts: list[str] = []
    plot: list[list[Any]] = []
    ratios: list[float] = []
    for connections, pair in results.items():
        ours, bare_run = pair["card.svg"], pair["bare-route"]
        ratio = paired_ratio(ours, bare_run, "requests_per_second")
        ratios.append(ratio)
        levels_json[str(connections)] = {
            "card": ours,
            "bare_route": bare_run,
            "throughput_ratio": round(ratio, 3),
            "p99_ratio": round(paired_ratio(ours, bare_run, "p99_ms"), 3),
            "server_cpu_per_request_ratio": round(
                paired_ratio(ours, bare_run, "server_cpu_ms_per_request"), 3
            ),
        }
        plot.append([f"card.svg req/s / bare route, {connections} conn", ratio, 0.9, ">="])
        parts.append(
            f"{connections} conn {ours['requests_per_second']:.0f} vs "
            f"{bare_run['requests_per_second']:.0f} req/s (medians), ratio {ratio:.2f}"
        )
    errors = sum(p[n]["errors"] for p in results.values() for n in p)
    passed = all(r >= THROUGHPUT_TARGET for r in ratios) and not errors
    passed = passed and upstream_during_load == 0
    print(
        f"non-2xx or socket errors: {errors}; "
        f"upstream calls during the load: {upstream_during_load}"
    )
    return finish(
        "card_read",
        {
            "route": ROUTE,
            "levels": levels_json,
            "errors": errors,
            "upstream_calls_during_load": upstream_during_load,
            "targets": {"throughput_ratio_min": THROUGHPUT_TARGET},
            "plot": plot,
        },
        passed,
        "card.svg cached read vs bare route: " + "; ".join(parts),
    )


if __name__ == "__main__":
    sys.exit(main())
