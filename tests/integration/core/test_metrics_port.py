"""``/metrics`` lives on its own port under real gunicorn: what the ingress routes (the service
port, with or without the path prefix) answers 404, whatever ``Host`` the client claims, while
the metrics port serves the series Prometheus scrapes; and a scrape reads aggregates, not every
credential."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import requests
from paceline.credential import Credential, CredentialState
from paceline.runtime import Runtime
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.security import generate_password_hash

from tests.faults.stack import Service, service_env
from tests.faults.stack import services as services
from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.usefixtures("clean_env")

PREFIXES = {"activity-api": "/api", "auth-gateway": "/auth"}


def series(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_are_served_on_the_metrics_port_and_never_through_the_ingress_paths(
    redis_server: RedisServer,
    sandbox: SandboxHandle,
    services: Callable[..., Service],
    tmp_path: Path,
) -> None:
    env = service_env(
        redis_server.url,
        sandbox,
        tmp_path / "mirror",
        PACELINE_ADMIN_PASSWORD_HASH=generate_password_hash("pw", "pbkdf2:sha256:1000"),
        PACELINE_PUBLIC_URL="http://127.0.0.1:1",
    )
    for name, prefix in PREFIXES.items():
        service = services(name, {**env, "PACELINE_PATH_PREFIX": prefix}, workers=1)
        metrics_port = service.metrics_url.rsplit(":", 1)[1]
        for path in ("/metrics", f"{prefix}/metrics"):
            hidden = requests.get(service.url + path, timeout=5)
            assert hidden.status_code == 404, (name, path)
            assert "paceline_" not in hidden.text
            # The port is the socket's, not what the client claims.
            forged = requests.get(
                service.url + path, headers={"Host": f"127.0.0.1:{metrics_port}"}, timeout=5
            )
            assert forged.status_code == 404, (name, path, "forged Host")
        assert requests.get(f"{service.url}{prefix}/healthz", timeout=5).status_code == 200
        scrape = requests.get(f"{service.metrics_url}/metrics", timeout=5)
        assert scrape.status_code == 200
        assert scrape.headers["Content-Type"].startswith("text/plain")
        names = series(scrape.text)
        assert {"paceline_tokens", "paceline_http_request_duration_seconds_count"} <= names
        # The metrics port serves nothing else: no app route is reachable through it.
        assert requests.get(f"{service.metrics_url}{prefix}/healthz", timeout=5).status_code == 404


def credential(account: str, state: str = "active") -> Credential:
    return Credential(
        "strava", account, "acc-xxxxxxxx", "ref-yyyyyyyy", 2e9, state=CredentialState(state)
    )


def test_token_counts_follow_every_write_without_reading_credentials_at_scrape(
    make_runtime: Callable[..., Runtime], redis_client: redis.Redis
) -> None:
    runtime = make_runtime()
    store = runtime.store
    store.save(credential("1"), expected_version=0)
    assert store.state_counts() == {("strava", "active"): 1}  # counted once, from scratch
    for account in ("2", "3"):
        store.save(credential(account), expected_version=0)
    store.save(credential("2", "needs_reauth"), expected_version=1)
    store.save(credential("3", "revoked"), expected_version=1)
    store.delete("strava", "3")
    store.save(credential("4", "needs_reauth"), expected_version=0)

    def record_reads() -> int:
        stats = redis_client.info("commandstats")
        return int(stats.get("cmdstat_hget", {}).get("calls", 0))

    before = record_reads()
    counts = store.state_counts()
    assert record_reads() == before, "a scrape reads the counts, not the credentials"
    assert counts == {("strava", "active"): 1, ("strava", "needs_reauth"): 2}

    # Counts lost (an upgrade from a version without them, or a flushed key): counted again.
    redis_client.delete("paceline:meta:token-states")
    assert store.state_counts() == counts
