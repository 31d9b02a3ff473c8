"""Failed admin logins are throttled in Redis, per client address and per user name: after N
failures the next attempt answers 429 with Retry-After before any password hash is computed,
the lockout doubles with each further failure, and X-Forwarded-For counts only through the
configured number of trusted proxies."""

from __future__ import annotations

import auth_gateway.admin_login as admin_login
import pytest
from paceline.clock import ManualClock
from prometheus_client import REGISTRY

from tests.integration.auth_gateway.gateway import ADMIN, ADMIN_PASSWORD, PREFIX, basic
from tests.integration.auth_gateway.gateway import GatewayFactory as Factory

PAGE = f"{PREFIX}/accounts"
WRONG = basic("admin", "not the password")


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password-hash check the gateway runs (the scrypt an attacker would make us pay)."""
    calls: list[str] = []
    real = admin_login.check_password_hash

    def counted(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$")[0])
        return real(pwhash, password)

    monkeypatch.setattr(admin_login, "check_password_hash", counted)
    return calls


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value("paceline_gateway_login_failures_total", {"reason": reason})
    return value or 0.0


def test_after_n_failed_logins_the_next_attempt_is_429_without_hashing(
    gateway_factory: Factory, hashes: list[str]
) -> None:
    clock = ManualClock(1_000_000.0)
    gateway = gateway_factory(clock=clock, login_max_failures=5, login_lockout_seconds=30)
    throttled_before = failures("throttled")
    for _ in range(5):
        assert gateway.get(PAGE, admin=False, headers=WRONG).status_code == 401
    assert len(hashes) == 5

    for headers in (WRONG, ADMIN):  # even the right password waits: no oracle while locked
        response = gateway.get(PAGE, admin=False, headers=headers)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "30"
    assert len(hashes) == 5, "a throttled attempt costs no password hash"
    assert failures("throttled") - throttled_before == 2

    clock.advance(31)
    assert gateway.get(PAGE, admin=False, headers=ADMIN).status_code == 200
    assert len(hashes) == 6


def test_each_further_failure_doubles_the_lockout(
    gateway_factory: Factory, hashes: list[str]
) -> None:
    clock = ManualClock(1_000_000.0)
    gateway = gateway_factory(
        clock=clock,
        login_max_failures=3,
        login_lockout_seconds=10,
        login_lockout_max_seconds=35,
    )
    statuses, waits = [], []
    while len(waits) < 4:
        response = gateway.get(PAGE, admin=False, headers=WRONG)
        statuses.append(response.status_code)
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            clock.advance(waits[-1] + 1)
    assert statuses == [401, 401, 401, 429, 401, 429, 401, 429, 401, 429]
    assert waits == [10, 20, 35, 35]  # from the third failure: 10, 20, then capped
    assert len(hashes) == 6, "only the 401s computed a hash"


def test_the_user_is_locked_from_every_address_and_the_address_for_every_user(
    gateway_factory: Factory, hashes: list[str]
) -> None:
    gateway = gateway_factory(clock=ManualClock(1_000_000.0), login_max_failures=2)

    def attempt(address: str, headers: dict[str, str]) -> int:
        return gateway.get(
            PAGE, admin=False, headers=headers, environ_base={"REMOTE_ADDR": address}
        ).status_code

    assert [attempt(f"198.51.100.{n}", WRONG) for n in (1, 2, 3)] == [401, 401, 429]
    other_user = basic("mallory", "x")
    assert [attempt("203.0.113.9", other_user) for _ in range(3)] == [401, 401, 429]
    assert attempt("203.0.113.9", basic("eve", "y")) == 429, "the address is locked out"
    assert attempt("192.0.2.1", basic("trent", "z")) == 401, "others are not"


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(
    gateway_factory: Factory, hashes: list[str]
) -> None:
    def rotate(gateway_hops: int) -> list[int]:
        gateway = gateway_factory(
            clock=ManualClock(1_000_000.0), login_max_failures=2, trusted_proxy_hops=gateway_hops
        )
        codes = []
        for n in range(3):
            # An attacker varies the header (and the user name, so only the address counts).
            headers = {**basic(f"user{n}", "x"), "X-Forwarded-For": f"192.0.2.{n}"}
            codes.append(gateway.get(PAGE, admin=False, headers=headers).status_code)
        gateway.runtime.redis.flushdb()
        return codes

    assert rotate(0) == [401, 401, 429], "X-Forwarded-For is not believed by default"
    assert rotate(1) == [401, 401, 401], "behind one trusted proxy, its header names the client"


def test_a_successful_login_clears_the_count(gateway_factory: Factory, hashes: list[str]) -> None:
    gateway = gateway_factory(clock=ManualClock(1_000_000.0), login_max_failures=3)
    for _ in range(2):
        assert gateway.get(PAGE, admin=False, headers=WRONG).status_code == 401
    assert gateway.get(PAGE, admin=False, headers=basic("admin", ADMIN_PASSWORD)).status_code == 200
    for _ in range(2):
        assert gateway.get(PAGE, admin=False, headers=WRONG).status_code == 401
    assert gateway.get(PAGE, admin=False, headers=ADMIN).status_code == 200
