"""The skeleton every paceline web service shares, through a tiny app built on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient
from paceline.credential import Credential, CredentialState
from paceline.runstatus import RunStatus, record_refresh, write_run_status
from paceline.runtime import Runtime, build_runtime
from paceline.settings import load_settings
from paceline.web.app import MAX_REQUEST_BYTES, create_base_app, runtime_of
from paceline_dev.launch import free_port
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.usefixtures("clean_env")

RuntimeFactory = Callable[..., Runtime]


def tiny_app(runtime: Runtime) -> Flask:
    app = create_base_app(__name__, "tiny", runtime)

    @app.post("/echo")
    def echo() -> dict[str, int]:
        return {"bytes": len(request.get_data())}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("access_token=should-never-be-shown")

    @app.get("/whoami")
    def whoami() -> dict[str, str]:
        return {"service_runtime": str(runtime_of() is runtime)}

    return app


@pytest.fixture(autouse=True)
def single_process_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def client(make_runtime: RuntimeFactory) -> FlaskClient:
    return tiny_app(make_runtime()).test_client()


METRICS_PORT = f"http://localhost:{load_settings().metrics_port}"


def metrics_of(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A scrape as Prometheus makes it: ``/metrics`` on the metrics port."""
    response = client.get("/metrics", base_url=METRICS_PORT)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_healthz_answers_while_the_process_lives(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_ready_with_redis(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json == {"status": "ready"}


def test_readyz_is_503_when_redis_is_down() -> None:
    settings = load_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = tiny_app(build_runtime(settings))
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "reason": "redis unreachable"}
    assert client.get("/healthz").status_code == 200, "alive even when not ready"
    scrape = client.get("/metrics", base_url=METRICS_PORT)
    assert scrape.status_code == 200, "a scrape does not fail with Redis"


def test_readyz_is_503_while_draining(make_runtime: RuntimeFactory) -> None:
    app = tiny_app(make_runtime())
    app.extensions["paceline.health"].start_draining()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["reason"] == "draining"


def test_metrics_export_token_states_from_the_store(
    make_runtime: RuntimeFactory, redis_client: redis.Redis
) -> None:
    runtime = make_runtime(strava_client_id="1", strava_client_secret="s")
    for account, state in (("1", "active"), ("2", "active"), ("3", "needs_reauth")):
        runtime.store.save(
            Credential(
                "strava", account, "acc-xxxxxxxx", "ref-yyyyyyyy", 2e9, state=CredentialState(state)
            ),
            expected_version=0,
        )
    samples = metrics_of(tiny_app(runtime).test_client())
    tokens = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "paceline_tokens" and dict(labels)["provider"] == "strava"
    }
    assert tokens == {"active": 2, "needs_reauth": 1, "revoked": 0}


def test_metrics_export_the_refresher_status_written_to_redis(
    make_runtime: RuntimeFactory, redis_client: redis.Redis
) -> None:
    runtime = make_runtime()
    record_refresh(redis_client, "strava", "refreshed", 5)
    record_refresh(redis_client, "strava", "needs_reauth")
    write_run_status(
        redis_client,
        RunStatus(
            started_at=1000.0,
            finished_at=1010.0,
            last_success_at=1010.0,
            ok=True,
            counts={"refreshed": 5, "needs_reauth": 1},
        ),
    )
    samples = metrics_of(tiny_app(runtime).test_client())
    refresh = "paceline_token_refresh_total"
    assert samples[(refresh, (("provider", "strava"), ("result", "refreshed")))] == 5
    assert samples[(refresh, (("provider", "strava"), ("result", "needs_reauth")))] == 1
    assert samples[("paceline_refresher_last_run_timestamp_seconds", ())] == 1010.0
    assert samples[("paceline_refresher_last_success_timestamp_seconds", ())] == 1010.0
    assert samples[("paceline_refresher_last_run_failures", ())] == 1


def test_requests_are_timed_by_route_template_not_raw_path(client: FlaskClient) -> None:
    client.get("/healthz")
    client.get("/no/such/thing/12345")
    names = {
        dict(labels).get("route")
        for (name, labels), _ in metrics_of(client).items()
        if name == "paceline_http_request_duration_seconds_count"
        and dict(labels).get("service") == "tiny"
    }
    assert "/healthz" in names and "unmatched" in names
    assert not any(n and "12345" in n for n in names)


def test_errors_are_json_and_echo_nothing(client: FlaskClient) -> None:
    missing = client.get("/nope?access_token=abc123456789")
    assert missing.status_code == 404
    assert missing.json is not None and missing.json["error"] == "not_found"
    assert "abc123456789" not in missing.get_data(as_text=True)

    wrong_method = client.post("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json is not None and wrong_method.json["error"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]

    too_big = client.post("/echo", data=b"x" * (MAX_REQUEST_BYTES + 1))
    assert too_big.status_code == 413
    assert too_big.json is not None and too_big.json["error"] == "request_entity_too_large"
    assert client.post("/echo", data=b"x" * 100).json == {"bytes": 100}


def test_unexpected_errors_are_a_generic_json_500(client: FlaskClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_error",
        "message": "something went wrong; see the service logs",
    }
    assert "should-never-be-shown" not in response.get_data(as_text=True)


def test_app_is_served_at_the_root_and_under_the_path_prefix(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(path_prefix="/api", strava_client_id="1", strava_client_secret="s")
    client = tiny_app(runtime).test_client()
    for path in ("/healthz", "/api/healthz", "/readyz", "/api/readyz"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/whoami").json == {"service_runtime": "True"}
    for path in ("/metrics", "/api/metrics"):
        hidden = client.get(path)
        assert hidden.status_code == 404 and hidden.json is not None, path
    assert client.get("/api/metrics", base_url=METRICS_PORT).status_code == 404
    assert ("paceline_tokens", (("provider", "strava"), ("state", "active"))) in metrics_of(client)
    assert client.get("/apihealthz").status_code == 404, "the prefix is a whole path segment"
    missing = client.get("/api/nope")
    assert missing.status_code == 404 and missing.json is not None
