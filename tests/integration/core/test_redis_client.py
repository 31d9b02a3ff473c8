"""The one Redis client factory: URL schemes, TLS, password from a Secret, db from the path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from paceline.redis_client import connect, redis_from_settings
from paceline.settings import load_settings

from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.usefixtures("clean_env")


def test_redis_url_connects_to_the_db_in_its_path(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    client = connect(f"redis://127.0.0.1:{redis_server.port}/3")
    client.set("paceline:test", "in db 3")
    assert redis.Redis(port=redis_server.port, db=3).get("paceline:test") == b"in db 3"
    assert redis_client.get("paceline:test") is None  # db 0 untouched


def test_rediss_url_uses_a_tls_connection() -> None:
    client = connect("rediss://cache.example:6380/1")  # construction only: no TLS server here
    pool = client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["host"] == "cache.example"
    assert pool.connection_kwargs["port"] == 6380
    assert pool.connection_kwargs["db"] == 1


def test_unix_socket_url_is_accepted() -> None:
    client = connect("unix:///var/run/redis.sock?db=2")
    assert client.connection_pool.connection_class is redis.UnixDomainSocketConnection
    assert client.connection_pool.connection_kwargs["db"] == 2


@pytest.fixture
def password_protected(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[str]:
    redis_client.config_set("requirepass", "from-the-secret")
    try:
        yield "from-the-secret"
    finally:
        admin = redis.Redis(port=redis_server.port, password="from-the-secret")
        admin.config_set("requirepass", "")
        admin.close()


def test_password_argument_wins_over_the_url(
    redis_server: RedisServer, password_protected: str
) -> None:
    url = f"redis://:stale-password@127.0.0.1:{redis_server.port}/0"
    with pytest.raises(redis.AuthenticationError):
        connect(url).ping()
    assert connect(url, password_protected).ping()


def test_password_comes_from_settings(redis_server: RedisServer, password_protected: str) -> None:
    settings = load_settings(
        redis_url=f"redis://127.0.0.1:{redis_server.port}/0", redis_password=password_protected
    )
    assert redis_from_settings(settings).ping()


def test_unreachable_redis_fails_fast_with_a_connection_error(redis_server: RedisServer) -> None:
    from paceline_dev.launch import free_port

    client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    with pytest.raises(redis.ConnectionError):
        client.ping()
