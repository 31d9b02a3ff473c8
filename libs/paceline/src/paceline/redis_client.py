"""The one Redis client factory."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from paceline.settings import Settings


def connect(url: str, password: str | None = None, *, timeout: float = 5.0) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs (db in the path).

    ``password`` (from a Secret) wins over one in the URL, so URLs can live in ConfigMaps.
    Short retries with backoff ride out a Redis restart without piling up requests.
    """
    client = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    if password:
        # from_url lets the URL's own options override keyword arguments; set it afterwards.
        client.connection_pool.connection_kwargs["password"] = password
    return client


def redis_from_settings(settings: Settings) -> redis.Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return connect(settings.redis_url, password, timeout=min(settings.http_timeout_seconds, 5.0))
