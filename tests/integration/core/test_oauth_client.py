"""OAuthClient and UpstreamClient against a local fake of Strava's token and API endpoints.

Token responses are validated before anything is stored, failures are classified (transient vs
permanent) with reasons that hold no secret, client authentication goes where the provider
expects it, rate-limit headers become metrics, and every call goes to PACELINE_STRAVA_BASE_URL.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from paceline.clock import ManualClock
from paceline.credential_intake import ImportFailed, import_refresh_token
from paceline.oauth import OAuthClient, pkce_pair
from paceline.providers import Provider, ProviderRegistry
from paceline.runtime import build_runtime
from paceline.settings import load_settings
from paceline.store import TokenStore
from paceline.upstream import (
    ApplicationRejected,
    PermanentError,
    RateLimitReport,
    TransientError,
    Unauthorized,
    UpstreamClient,
    parse_ratelimit_headers,
)
from prometheus_client import REGISTRY

from tests.integration.core.fake_strava import STRAVA_BAD_REFRESH, FakeStrava

pytestmark = pytest.mark.usefixtures("clean_env")

REFRESH = "ref-0123456789abcdef0123456789abcdef"


def strava_at(url: str, fake: FakeStrava) -> Provider:
    settings = load_settings(
        strava_client_id=fake.client_id,
        strava_client_secret=fake.client_secret,
        strava_base_url=url,
    )
    return ProviderRegistry.from_settings(settings).get("strava")


@pytest.fixture
def oauth(fake_strava: FakeStrava) -> OAuthClient:
    return OAuthClient(strava_at(fake_strava.url, fake_strava), UpstreamClient("strava"))


def good_body(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {
        "token_type": "Bearer",
        "access_token": "acc-new-0123456789abcdef",
        "refresh_token": "ref-new-0123456789abcdef",
        "expires_at": now + 21600,
        "expires_in": 21600,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


# --- success -----------------------------------------------------------------------------------
def test_refresh_returns_the_new_pair_and_notices_rotation(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.accept_refresh_token(REFRESH)
    tokens = oauth.refresh(REFRESH)
    assert tokens.access_token in fake_strava.access_tokens
    assert tokens.refresh_token != REFRESH and tokens.rotated
    assert tokens.expires_at == pytest.approx(time.time() + 21600, abs=5)


def test_refresh_without_rotation_keeps_the_presented_token(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(200, good_body(refresh_token=None))
    tokens = oauth.refresh(REFRESH)
    assert tokens.refresh_token == REFRESH and not tokens.rotated


def test_code_exchange_reads_account_scopes_and_name(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(
        200,
        good_body(
            scope="read,activity:read_all",
            athlete={"id": 42, "firstname": "Ada", "lastname": "Lovelace"},
        ),
    )
    tokens = oauth.exchange_code("code-0123456789abcdef", redirect_uri="http://x/cb")
    assert tokens.account_id == "42"
    assert tokens.scopes == ("activity:read_all", "read")
    assert tokens.display_name == "Ada Lovelace"
    form = fake_strava.requests[-1].form
    assert form["grant_type"] == "authorization_code" and form["code"] == "code-0123456789abcdef"


# --- validation: nothing odd is ever accepted --------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        good_body(token_type="mac"),
        good_body(token_type=7),
        good_body(access_token=""),
        good_body(access_token="   "),
        good_body(access_token=12345),
        good_body(refresh_token=""),
        good_body(expires_at=None, expires_in=None),
        good_body(expires_at=int(time.time()) - 10, expires_in=None),  # already expired
        good_body(expires_at=int(time.time()) + 10, expires_in=None),  # absurdly short
        good_body(expires_at=int(time.time()) + 10 * 365 * 86400),  # absurdly long
        good_body(expires_at="soon", expires_in=None),
        good_body(expires_at=True, expires_in=None),
        good_body(expires_at=None, expires_in="21600"),
        ["not", "an", "object"],
    ],
)
def test_odd_token_response_is_transient_and_stores_nothing(
    fake_strava: FakeStrava, redis_client: redis.Redis, body: Any
) -> None:
    runtime = build_runtime(
        load_settings(
            strava_client_id=fake_strava.client_id,
            strava_client_secret=fake_strava.client_secret,
            strava_base_url=fake_strava.url,
        ),
        redis_client=redis_client,
    )
    fake_strava.answer_next(200, body)
    with pytest.raises(ImportFailed) as caught:
        import_refresh_token(runtime, "strava", REFRESH)
    assert "try again" in str(caught.value)
    assert TokenStore(redis_client).list() == []
    assert not list(redis_client.scan_iter("paceline:pending-import:*"))


@pytest.mark.parametrize("body", [good_body(token_type="mac"), good_body(access_token="")])
def test_odd_token_response_raises_transient_error(
    oauth: OAuthClient, fake_strava: FakeStrava, body: Any
) -> None:
    fake_strava.answer_next(200, body)
    with pytest.raises(TransientError):
        oauth.refresh(REFRESH)


def test_single_use_provider_must_send_a_new_refresh_token(fake_strava: FakeStrava) -> None:
    settings = load_settings(
        providers=json.dumps(
            {
                "fitbit": {
                    "authorize_url": f"{fake_strava.url}/oauth/authorize",
                    "token_url": f"{fake_strava.url}/oauth/token",
                    "client_id": "23ABC",
                    "client_secret": "fitbit-secret-value",
                    "rotation": "always-single-use",
                }
            }
        )
    )
    fitbit = OAuthClient(ProviderRegistry.from_settings(settings).get("fitbit"))
    fake_strava.answer_next(200, good_body(refresh_token=None))
    with pytest.raises(TransientError):
        fitbit.refresh(REFRESH)


# --- classification ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "raw"),
    [
        (500, {"message": "error"}, False),
        (502, "<html>bad gateway</html>", True),
        (503, "", True),
        (429, {"message": "Rate Limit Exceeded"}, False),
        (200, "{not json", True),
        (200, "", True),
        (302, "", True),
        (403, "<html>Access denied by the CDN</html>", True),
    ],
)
def test_server_trouble_and_garbage_are_transient(
    oauth: OAuthClient, fake_strava: FakeStrava, status: int, body: Any, raw: bool
) -> None:
    fake_strava.answer_next(status, body, raw=raw)
    with pytest.raises(TransientError) as caught:
        oauth.refresh(REFRESH)
    assert REFRESH not in str(caught.value)


def test_rate_limited_token_call_carries_retry_after(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(429, {"message": "Rate Limit Exceeded"}, headers={"Retry-After": "42"})
    with pytest.raises(TransientError) as caught:
        oauth.refresh(REFRESH)
    assert caught.value.retry_after == 42


def test_timeout_is_transient(fake_strava: FakeStrava) -> None:
    slow = OAuthClient(
        strava_at(fake_strava.url, fake_strava), UpstreamClient("strava", timeout=0.2)
    )
    fake_strava.answer_next(200, good_body(), delay=0.6)
    with pytest.raises(TransientError) as caught:
        slow.refresh(REFRESH)
    assert "timed out" in str(caught.value)


def test_connection_refused_is_transient(fake_strava: FakeStrava) -> None:
    from paceline_dev.launch import free_port

    dead = OAuthClient(strava_at(f"http://127.0.0.1:{free_port()}", fake_strava))
    with pytest.raises(TransientError):
        dead.refresh(REFRESH)


def test_invalid_grant_is_permanent_with_a_secret_free_reason(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(
        400, {"error": "invalid_grant", "error_description": f"token {REFRESH} is revoked"}
    )
    with pytest.raises(PermanentError) as caught:
        oauth.refresh(REFRESH)
    assert caught.value.reason == "invalid_grant"
    assert caught.value.status == 400
    assert REFRESH not in str(caught.value) and REFRESH not in caught.value.reason


def test_strava_refresh_token_invalid_is_permanent(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(400, STRAVA_BAD_REFRESH)
    with pytest.raises(PermanentError) as caught:
        oauth.refresh(REFRESH)
    assert caught.value.reason == "RefreshToken:refresh_token:invalid"
    assert REFRESH not in str(caught.value)
    assert fake_strava.client_secret not in str(caught.value)


def test_bad_client_credentials_are_permanent(
    fake_strava: FakeStrava,
) -> None:
    fake_strava.accept_refresh_token(REFRESH)
    wrong = strava_at(fake_strava.url, fake_strava)
    wrong = Provider(**{**wrong.__dict__, "client_id": "9999"})
    with pytest.raises(ApplicationRejected) as caught:
        OAuthClient(wrong).refresh(REFRESH)
    assert caught.value.reason == "Application:client_id:invalid"
    assert caught.value.setting == "PACELINE_STRAVA_CLIENT_ID"


def test_wrong_client_secret_is_the_applications_error_naming_the_secret_setting(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    # Real Strava's answer to a wrong or rotated client secret.
    fake_strava.answer_next(
        401,
        {
            "message": "Authorization Error",
            "errors": [{"resource": "Application", "field": "", "code": "invalid"}],
        },
    )
    with pytest.raises(ApplicationRejected) as caught:
        oauth.refresh(REFRESH)
    assert caught.value.setting == "PACELINE_STRAVA_CLIENT_SECRET"
    assert "PACELINE_STRAVA_CLIENT_SECRET" in str(caught.value)
    assert fake_strava.client_secret not in str(caught.value)


def test_a_refused_athlete_token_is_not_an_application_error(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.answer_next(400, STRAVA_BAD_REFRESH)
    with pytest.raises(PermanentError) as caught:
        oauth.refresh(REFRESH)
    assert not isinstance(caught.value, ApplicationRejected)


# --- client authentication ---------------------------------------------------------------------
def test_client_secret_post_sends_the_secret_in_the_body_only(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    fake_strava.accept_refresh_token(REFRESH)
    oauth.refresh(REFRESH)
    seen = fake_strava.requests[-1]
    assert seen.form["client_id"] == fake_strava.client_id
    assert seen.form["client_secret"] == fake_strava.client_secret
    assert seen.form["refresh_token"] == REFRESH
    assert fake_strava.client_secret not in seen.query and REFRESH not in seen.query
    assert "Authorization" not in seen.headers
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_client_secret_basic_sends_the_secret_in_the_authorization_header(
    fake_strava: FakeStrava,
) -> None:
    settings = load_settings(
        providers=json.dumps(
            {
                "fitbit": {
                    "authorize_url": f"{fake_strava.url}/oauth/authorize",
                    "token_url": f"{fake_strava.url}/oauth/token",
                    "client_id": "23ABC",
                    "client_secret": "fitbit-secret-value",
                }
            }
        )
    )
    fitbit = OAuthClient(ProviderRegistry.from_settings(settings).get("fitbit"))
    fake_strava.answer_next(200, good_body(user_id="ABC12"))
    tokens = fitbit.refresh(REFRESH)
    assert tokens.account_id == "ABC12"
    seen = fake_strava.requests[-1]
    scheme, _, encoded = seen.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "23ABC:fitbit-secret-value"
    assert "client_secret" not in seen.form and "fitbit-secret-value" not in seen.query


def test_authorize_url_carries_state_scopes_and_pkce_only_where_supported(
    oauth: OAuthClient, fake_strava: FakeStrava
) -> None:
    verifier, challenge = pkce_pair()
    url = oauth.authorize_url(redirect_uri="http://x/cb", state="st4te", code_challenge=challenge)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == fake_strava.url
    query = parse_qs(parts.query)
    assert query["state"] == ["st4te"] and query["scope"] == ["read,activity:read_all"]
    assert query["approval_prompt"] == ["auto"] and query["response_type"] == ["code"]
    assert "code_challenge" not in query  # Strava does not do PKCE
    assert fake_strava.client_secret not in url
    assert 43 <= len(verifier) <= 128


# --- rate limits and metrics -------------------------------------------------------------------
def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_rate_limit_headers_become_metrics_and_reports(
    fake_strava: FakeStrava,
) -> None:
    provider = strava_at(fake_strava.url, fake_strava)
    upstream = UpstreamClient("strava")
    reports: list[RateLimitReport] = []
    upstream.listeners.append(reports.append)
    fake_strava.accept_refresh_token(REFRESH)
    tokens = OAuthClient(provider, upstream).refresh(REFRESH)
    before = (
        sample(
            "paceline_upstream_requests_total",
            provider="strava",
            endpoint="GET /athlete",
            status="200",
        )
        or 0.0
    )

    assert OAuthClient(provider, upstream).fetch_account(tokens.access_token) == (
        "42",
        "Ada Lovelace",
    )

    (report,) = reports
    assert report.limits == {"overall": (200, 2000), "read": (100, 1000)}
    assert report.usage == {"overall": (7, 123), "read": (3, 45)}
    labels = {"provider": "strava", "bucket": "overall"}
    assert sample("paceline_ratelimit_usage", **labels, window="15min") == 7
    assert sample("paceline_ratelimit_usage", **labels, window="daily") == 123
    assert sample("paceline_ratelimit_limit", **labels, window="daily") == 2000
    assert (
        sample("paceline_ratelimit_limit", provider="strava", bucket="read", window="15min") == 100
    )
    assert (
        sample(
            "paceline_upstream_requests_total",
            provider="strava",
            endpoint="GET /athlete",
            status="200",
        )
        == before + 1
    )


def test_a_failing_listener_does_not_break_the_request(fake_strava: FakeStrava) -> None:
    upstream = UpstreamClient("strava")

    def broken(_: RateLimitReport) -> None:
        raise RuntimeError("listener bug")

    upstream.listeners.append(broken)
    fake_strava.access_tokens.add("acc-known-0123456789")
    body = upstream.get_json(
        f"{fake_strava.url}/api/v3/athlete", endpoint="GET /athlete", bearer="acc-known-0123456789"
    )
    assert body["id"] == 42


def test_api_401_is_unauthorized(fake_strava: FakeStrava) -> None:
    with pytest.raises(Unauthorized):
        UpstreamClient("strava").get_json(
            f"{fake_strava.url}/api/v3/athlete", endpoint="GET /athlete", bearer="acc-unknown-01"
        )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "1,2"},
            ({"overall": (200, 2000)}, {"overall": (1, 2)}),
        ),
        ({"X-RateLimit-Limit": "200", "X-RateLimit-Usage": "1,2"}, ({}, {})),
        ({"X-RateLimit-Limit": "a,b", "X-RateLimit-Usage": "1,2"}, ({}, {})),
        ({"X-RateLimit-Limit": "200,2000"}, ({}, {})),
        ({}, ({}, {})),
    ],
)
def test_rate_limit_header_parsing(
    headers: dict[str, str], expected: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    assert parse_ratelimit_headers(headers) == expected


# --- every Strava call goes to PACELINE_STRAVA_BASE_URL ---------------------------------------
class RecordingSession(requests.Session):
    """A requests session that notes every URL it is asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        self.sent.append(request.url)
        return super().send(request, **kwargs)


@pytest.fixture
def recording() -> Iterator[RecordingSession]:
    session = RecordingSession()
    yield session
    session.close()


def test_every_strava_call_goes_to_the_configured_base_url(
    fake_strava: FakeStrava,
    redis_client: redis.Redis,
    recording: RecordingSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_ID", fake_strava.client_id)
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_SECRET", fake_strava.client_secret)
    monkeypatch.setenv("PACELINE_STRAVA_BASE_URL", fake_strava.url)
    runtime = build_runtime(
        load_settings(), redis_client=redis_client, clock=ManualClock(time.time())
    )
    runtime.upstream("strava").session = recording
    fake_strava.accept_refresh_token(REFRESH)

    stored = import_refresh_token(runtime, "strava", REFRESH)  # refresh + athlete lookup
    oauth = runtime.oauth("strava")
    oauth.fetch_account(stored.credential.access_token)
    oauth.deauthorize(stored.credential.access_token)

    assert len(recording.sent) == 4
    hosts = {urlsplit(url).netloc for url in recording.sent}
    assert hosts == {urlsplit(fake_strava.url).netloc}
    assert all("strava.com" not in url for url in recording.sent)
    assert {r.host for r in fake_strava.requests} == {urlsplit(fake_strava.url).netloc}
    assert [r.path for r in fake_strava.requests] == [
        "/oauth/token",
        "/api/v3/athlete",
        "/api/v3/athlete",
        "/oauth/deauthorize",
    ]


def test_default_strava_base_url_is_the_real_strava(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_ID", "1")
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_SECRET", "s")
    strava = ProviderRegistry.from_settings(load_settings()).get("strava")
    assert urlsplit(strava.token_url).netloc == "www.strava.com"
    assert urlsplit(strava.token_url).scheme == "https"
