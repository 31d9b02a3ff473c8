"""Refresh 10,000 due credentials in one pass against the provider sandbox; print the ratios.

What it does, all on loopback and in temporary directories:

1. starts its own ``redis-server`` on a free port and the sandbox as a subprocess
   (``provider-sandbox --port``), with the token endpoint answering after ``--latency-ms``
   (a real provider's round trip) and rate limits out of the way;
2. issues one token pair per account through the sandbox's control API and stores the
   credentials in Redis, all due (expiring within Strava's 70-minute lead);
3. measures the token endpoint's median latency unloaded (sequential refreshes of spare
   accounts), then runs one refresher pass (``run_pass``, the code the CronJob runs) with
   ``--workers`` threads, sampling this process's resident memory while it runs;
4. checks that every account was refreshed exactly once, and prints accounts per second,
   memory growth, the answer-to-save window and the ratio to the ideal
   (median latency x accounts / workers). The LAST line is the figure;
   ``bench/results/refresh_scale.json`` gets everything.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from paceline.credential import Credential
from paceline.log import make_formatter
from paceline.mirror import NullMirror
from paceline.runtime import Runtime, build_runtime
from paceline.settings import load_settings
from stack import redis_server, sandbox_server
from token_refresher.refresher import PassOptions, percentiles, run_pass

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "refresh_scale.json"
BIN = Path(sys.executable).parent
CALIBRATION = 40


def control(session: requests.Session, url: str, method: str, path: str, **kw: Any) -> Any:
    response = session.request(method, f"{url}/_sandbox{path}", timeout=30, **kw)
    response.raise_for_status()
    return response.json() if response.content else None


def issue_pairs(url: str, count: int, expires_in: int, threads: int = 4) -> list[dict[str, Any]]:
    """One athlete and one token pair per account, through the control API."""
    local = threading.local()

    def one(index: int) -> dict[str, Any]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        athlete = control(
            session,
            url,
            "POST",
            "/athletes",
            json={"id": 100_000 + index, "firstname": "Bench", "lastname": f"A{index}"},
        )
        tokens = control(
            session,
            url,
            "POST",
            "/tokens",
            json={"athlete_id": athlete["id"], "expires_in": expires_in},
        )
        tokens["athlete_id"] = athlete["id"]
        return tokens  # type: ignore[no-any-return]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def seed_credentials(runtime: Runtime, pairs: list[dict[str, Any]]) -> None:
    now = time.time()
    for tokens in pairs:
        credential = Credential(
            provider="strava",
            account_id=str(tokens["athlete_id"]),
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=float(tokens["expires_at"]),
            scopes=tuple(tokens["scope"].split(",")),
            created_at=now,
        )
        runtime.store.save(credential, expected_version=0)


def calibrate(url: str, client_id: str, secret: str, pairs: list[dict[str, Any]]) -> float:
    """Median seconds of one token post when nothing else is running."""
    session = requests.Session()
    took = []
    for tokens in pairs:
        started = time.perf_counter()
        response = session.post(
            f"{url}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
                "client_secret": secret,
            },
            timeout=30,
        )
        took.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(took)


class MemorySampler:
    """Resident set size of this process, sampled while the pass runs."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.rss_mb())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument(
        "--latency-ms", type=int, default=100, help="token endpoint latency injected in the sandbox"
    )
    parser.add_argument(
        "--rotation", default="sometimes", choices=("sometimes", "always-single-use", "never")
    )
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="paceline-bench-") as tmp:
        workdir = Path(tmp)
        with (
            redis_server(workdir) as redis_url,
            sandbox_server(workdir, rotation=args.rotation) as sandbox,
        ):
            url = sandbox.url
            session = requests.Session()
            config = control(session, url, "GET", "/config")
            print(
                f"seeding {args.accounts} accounts (+{CALIBRATION} for calibration) ...", flush=True
            )
            started = time.monotonic()
            pairs = issue_pairs(url, args.accounts + CALIBRATION, expires_in=50 * 60)
            settings = load_settings(
                redis_url=redis_url,
                strava_base_url=url,
                strava_client_id=config["client_id"],
                strava_client_secret=config["client_secret"],
                secret_backend="none",
                http_timeout_seconds=30,
            )
            runtime = build_runtime(settings, mirror=NullMirror())
            seed_credentials(runtime, pairs[: args.accounts])
            seeding = time.monotonic() - started
            print(f"seeded in {seeding:.1f} s", flush=True)

            control(
                session,
                url,
                "POST",
                "/faults",
                json={"match": "/oauth/token", "latency_ms": args.latency_ms},
            )
            latency = calibrate(
                url, config["client_id"], config["client_secret"], pairs[args.accounts :]
            )
            control(session, url, "DELETE", "/calls")

            log_path = workdir / "refresher.log"
            handler = logging.FileHandler(log_path)
            handler.setFormatter(make_formatter("json", service="token-refresher"))
            logging.getLogger().handlers[:] = [handler]
            logging.getLogger().setLevel(logging.INFO)

            with MemorySampler() as memory:
                report = run_pass(
                    runtime, PassOptions(workers=args.workers, batch_size=args.batch_size)
                )
            handler.close()
            calls = control(session, url, "GET", "/calls")["by_endpoint"]
            handled = sum(
                1 for line in log_path.read_text().splitlines() if "credential handled" in line
            )

    duration = report.duration_seconds
    refreshed = report.counts["refreshed"]
    posts = int(calls.get("POST /oauth/token", 0))
    ideal = latency * args.accounts / args.workers
    rss_start, rss_peak = memory.samples[0], max(memory.samples)
    result = {
        "accounts": args.accounts,
        "workers": args.workers,
        "rotation": args.rotation,
        "injected_latency_ms": args.latency_ms,
        "median_token_latency_ms": round(latency * 1000, 2),
        "loaded_token_latency_ms": percentiles(report.provider_latency),
        "seconds": round(duration, 2),
        "accounts_per_second": round(args.accounts / duration, 1),
        "ideal_seconds": round(ideal, 2),
        "ratio_to_ideal": round(duration / ideal, 3),
        "answer_to_save_ms": percentiles(report.answer_to_save),
        "rss_start_mb": round(rss_start, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_growth_mb": round(rss_peak - rss_start, 1),
        # RSS at 0, 25, 50, 75 and 100 % of the pass: a flat line after the first batches (the
        # log redaction registry, bounded at 50,000 tokens, is most of the growth).
        "rss_timeline_mb": [
            round(memory.samples[min(len(memory.samples) - 1, i * len(memory.samples) // 4)], 1)
            for i in range(5)
        ],
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "counts": dict(report.counts),
        "token_posts": posts,
        "log_lines_per_credential": handled,
        "seeding_seconds": round(seeding, 1),
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = refreshed == args.accounts and posts == args.accounts and handled == args.accounts
    if not ok:
        print(
            f"refresh_scale: FAILED: {refreshed} refreshed, {posts} token posts, "
            f"{handled} log lines for {args.accounts} accounts"
        )
        return 1
    window = result["answer_to_save_ms"]
    print(
        f"refresh_scale: {args.accounts} accounts in {duration:.1f} s = "
        f"{args.accounts / duration:.0f} accounts/s with {args.workers} workers; "
        f"ratio to ideal {duration / ideal:.2f} (median token latency "
        f"{latency * 1000:.0f} ms); memory +{rss_peak - rss_start:.0f} MB "
        f"(peak RSS {rss_peak:.0f} MB); answer-to-save p50 {window['p50']} ms "
        f"p99 {window['p99']} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
