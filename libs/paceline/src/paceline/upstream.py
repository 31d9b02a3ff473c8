"""The one HTTP client for talking to providers.

It owns the requests session (connection pooling, timeouts, no automatic retries: a token post
must never be retried blindly), counts every request by endpoint template and status, reads the
rate-limit headers and hands them to whoever listens (the rate governor), and turns transport
failures into :class:`TransientError` so callers only handle paceline's own exceptions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from paceline import metrics
from paceline.log import register_secret

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """A provider call failed. ``str()`` never contains a token or secret."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(UpstreamError):
    """Worth trying again later: network trouble, timeouts, 5xx, 429, garbage bodies."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentError(UpstreamError):
    """The provider refused for good (``invalid_grant``, bad client, 4xx): do not retry."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message, status=status)
        self.reason = reason


class ApplicationRejected(PermanentError):
    """The provider refused the *application* (a wrong client id or secret), not an account.

    Strava answers a wrong client secret ``401 {"message": "Authorization Error", "errors":
    [{"resource": "Application", "field": "", "code": "invalid"}]}`` and a bad client id 400 with
    resource ``Application``, field ``client_id``. No credential is at fault: they keep their
    state, and ``setting`` names the configuration to fix.
    """

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", setting: str
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.setting = setting


class Unauthorized(PermanentError):
    """401 from an API endpoint: the access token is invalid or expired."""


class ScopeMissing(PermanentError):
    """401 because the grant lacks a scope the endpoint needs (Strava: ``{"resource":
    "AccessToken", "field": "activity:read_permission", "code": "missing"}``). A refresh keeps
    the same scopes, so refreshing cannot help: the athlete must reconnect and grant ``scope``."""

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message, status=401, reason="scope_missing")
        self.scope = scope


def error_entries(body: Any) -> list[Mapping[str, Any]]:
    """The object entries of a Strava-style error body (``{"message": ..., "errors":
    [{"resource", "field", "code"}]}``, developers.strava.com "Errors"); [] for any other body."""
    if not isinstance(body, Mapping):
        return []
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [error for error in errors if isinstance(error, Mapping)]


def missing_scope(body: Any) -> str | None:
    """The scope a 401 body says is missing (``activity:read_permission`` -> ``activity:read``)."""
    for error in error_entries(body):
        field_name = error.get("field")
        if (
            error.get("code") == "missing"
            and isinstance(field_name, str)
            and field_name.endswith("_permission")
        ):
            return field_name[: -len("_permission")][:64]
    return None


@dataclass(frozen=True)
class RateLimitReport:
    """Usage and limits as reported by the provider: ``{bucket: (short, daily)}``."""

    provider: str
    limits: Mapping[str, tuple[int, int]]
    usage: Mapping[str, tuple[int, int]]
    status: int
    at: float


RateLimitListener = Callable[[RateLimitReport], None]

_HEADER_BUCKETS = {
    "overall": ("X-RateLimit-Limit", "X-RateLimit-Usage"),
    "read": ("X-ReadRateLimit-Limit", "X-ReadRateLimit-Usage"),
}


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    parts = value.split(",")
    if len(parts) != 2:
        return None
    try:
        return int(parts[0].strip()), int(parts[1].strip())
    except ValueError:
        return None


def parse_ratelimit_headers(headers: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Strava's ``X-*RateLimit-*`` headers ("15min,daily") as ``(limits, usage)`` by bucket."""
    limits: dict[str, tuple[int, int]] = {}
    usage: dict[str, tuple[int, int]] = {}
    for bucket, (limit_header, usage_header) in _HEADER_BUCKETS.items():
        limit, used = _pair(headers.get(limit_header)), _pair(headers.get(usage_header))
        if limit is not None and used is not None:
            limits[bucket], usage[bucket] = limit, used
    return limits, usage


class UpstreamClient:
    def __init__(
        self,
        provider: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        user_agent: str = "paceline/0.1",
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self.session = session or self._new_session()
        self.session.headers.setdefault("User-Agent", user_agent)
        self.listeners: list[RateLimitListener] = []

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        bearer: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; ``endpoint`` is the bounded label (e.g. ``GET /athlete``)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if bearer:
            register_secret(bearer)
            headers["Authorization"] = f"Bearer {bearer}"
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=timeout or self.timeout, **kwargs
            )
        except requests.Timeout:
            self._count(endpoint, "timeout", started)
            raise TransientError(f"{endpoint}: timed out") from None
        except requests.RequestException as error:
            self._count(endpoint, "error", started)
            raise TransientError(f"{endpoint}: {type(error).__name__}") from None
        self._count(endpoint, str(response.status_code), started)
        self._report_ratelimit(response)
        return response

    def _count(self, endpoint: str, status: str, started: float) -> None:
        metrics.UPSTREAM_REQUESTS.labels(self.provider, endpoint, status).inc()
        metrics.UPSTREAM_DURATION.labels(self.provider, endpoint).observe(
            time.monotonic() - started
        )

    def _report_ratelimit(self, response: requests.Response) -> None:
        limits, usage = parse_ratelimit_headers(response.headers)
        if not limits:
            return
        for bucket, (short, daily) in limits.items():
            metrics.RATELIMIT_LIMIT.labels(self.provider, bucket, "15min").set(short)
            metrics.RATELIMIT_LIMIT.labels(self.provider, bucket, "daily").set(daily)
            used_short, used_daily = usage[bucket]
            metrics.RATELIMIT_USAGE.labels(self.provider, bucket, "15min").set(used_short)
            metrics.RATELIMIT_USAGE.labels(self.provider, bucket, "daily").set(used_daily)
        report = RateLimitReport(self.provider, limits, usage, response.status_code, time.time())
        for listener in self.listeners:
            try:
                listener(report)
            except Exception:  # a listener must never break the request that fed it
                log.exception("rate-limit listener failed")

    def get_json(
        self,
        url: str,
        *,
        endpoint: str,
        bearer: str,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """GET an API resource; classify failures; return the parsed JSON body."""
        response = self.request("GET", url, endpoint=endpoint, bearer=bearer, params=params)
        return decode_api_response(response, endpoint)


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def decode_api_response(response: requests.Response, endpoint: str) -> Any:
    status = response.status_code
    if status == 401:
        try:
            scope = missing_scope(response.json())
        except ValueError:
            scope = None
        if scope is not None:
            raise ScopeMissing(f"{endpoint}: the grant lacks the {scope} scope", scope=scope)
        raise Unauthorized(f"{endpoint}: unauthorized", status=status, reason="unauthorized")
    if status == 429:
        raise TransientError(
            f"{endpoint}: rate limited", status=status, retry_after=retry_after_seconds(response)
        )
    if status >= 500:
        raise TransientError(f"{endpoint}: provider error {status}", status=status)
    if status >= 400:
        raise PermanentError(f"{endpoint}: HTTP {status}", status=status, reason=f"http_{status}")
    try:
        return response.json()
    except ValueError:
        raise TransientError(f"{endpoint}: malformed JSON body", status=status) from None
