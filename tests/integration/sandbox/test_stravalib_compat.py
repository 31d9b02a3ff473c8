"""Every sandbox answer paceline relies on parses into stravalib's models with real values.

stravalib is the reference client for Strava's API: if its pydantic models accept the
sandbox's JSON and read back the values the control API reports, the sandbox speaks
Strava. All of stravalib's traffic to https://www.strava.com is rewritten onto the sandbox
by a transport adapter, and a socket guard proves nothing else was contacted.
"""

from __future__ import annotations

import calendar
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from stravalib import Client

from tests.fixtures.sandbox import SandboxFactory, SandboxHandle

STRAVA_HOST = "www.strava.com"


class SandboxAdapter(HTTPAdapter):
    """Sends requests for www.strava.com to the sandbox; records every URL asked for."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self.target = urlsplit(sandbox_url)
        self.requested: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert request.url is not None
        self.requested.append(request.url)
        parts = urlsplit(request.url)
        if parts.netloc == STRAVA_HOST:
            request.url = urlunsplit(
                (self.target.scheme, self.target.netloc, parts.path, parts.query, "")
            )
        return super().send(request, *args, **kwargs)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every address this process connects to during the test; non-loopback is refused."""
    seen: list[Any] = []
    original = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        seen.append(address)
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach {address}")
        return original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield seen


@pytest.fixture
def strava(
    sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[SandboxHandle, Client, SandboxAdapter]:
    monkeypatch.setenv("SILENCE_TOKEN_WARNINGS", "true")
    monkeypatch.delenv("STRAVA_CLIENT_ID", raising=False)
    monkeypatch.delenv("STRAVA_CLIENT_SECRET", raising=False)
    sandbox = sandbox_factory(auto_approve=True)
    session = requests.Session()
    adapter = SandboxAdapter(sandbox.url)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return sandbox, Client(requests_session=session), adapter


def connect(sandbox: SandboxHandle, client: Client) -> Any:
    """Drive /oauth/authorize (auto-approve) through stravalib's session; exchange the code."""
    url = client.authorization_url(
        client_id=int(sandbox.client_id),
        redirect_uri="http://localhost:8080/callback/strava",
        scope=["read", "activity:read_all"],
        state="xyz",
    )
    assert urlsplit(url).netloc == STRAVA_HOST
    redirect = client.protocol.rsession.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["Location"]).query).items()}
    assert params["state"] == "xyz"
    assert params["scope"] == "read,activity:read_all"
    return client.exchange_code_for_token(
        client_id=int(sandbox.client_id),
        client_secret=sandbox.client_secret,
        code=params["code"],
        return_athlete=True,
    )


def epoch(iso: str) -> int:
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def test_token_exchange_and_refresh(
    strava: tuple[SandboxHandle, Client, SandboxAdapter], connections: list[Any]
) -> None:
    sandbox, client, _ = strava

    access_info, athlete = connect(sandbox, client)

    assert athlete is not None
    assert (athlete.id, athlete.firstname, athlete.lastname) == (1001, "Ada", "Lovelace")
    assert access_info["expires_at"] - sandbox.now() == pytest.approx(21600, abs=5)
    assert client.access_token == access_info["access_token"]

    sandbox.advance(5.5 * 3600)
    refreshed = client.refresh_access_token(
        client_id=int(sandbox.client_id),
        client_secret=sandbox.client_secret,
        refresh_token=access_info["refresh_token"],
    )

    assert refreshed["access_token"] != access_info["access_token"]
    assert refreshed["refresh_token"] != access_info["refresh_token"]
    assert not sandbox.refresh_token_valid(access_info["refresh_token"])
    assert sandbox.refresh_token_valid(refreshed["refresh_token"])
    assert client.get_athlete().id == 1001  # the refreshed token is in use
    assert {address[1] for address in connections} == {urlsplit(sandbox.url).port}


def test_read_endpoints_parse_into_stravalib_models(
    strava: tuple[SandboxHandle, Client, SandboxAdapter], connections: list[Any]
) -> None:
    sandbox, client, adapter = strava
    connect(sandbox, client)
    expected_athlete = sandbox.athlete()
    expected = sandbox.activities()  # newest first, private included

    athlete = client.get_athlete()
    activities = list(client.get_activities())
    latest = client.get_activity(expected[0]["id"])
    stats = client.get_athlete_stats(1001)

    assert athlete.id == 1001
    assert athlete.city == expected_athlete["city"] == "London"
    assert athlete.profile == "https://sandbox.invalid/avatars/1001/large.jpg"
    assert athlete.measurement_preference == "meters"
    assert [s.id for s in athlete.shoes or []] == [g["id"] for g in expected_athlete["shoes"]]

    assert [a.id for a in activities] == [a["id"] for a in expected]
    newest = activities[0]
    assert newest.name == expected[0]["name"]
    assert float(newest.distance or 0) == expected[0]["distance"]
    assert newest.sport_type is not None and newest.sport_type.root == "Run"
    assert newest.start_date is not None
    assert int(newest.start_date.timestamp()) == epoch(expected[0]["start_date"])
    assert newest.timezone is not None and str(newest.timezone.timezone()) == "Europe/London"
    assert (
        newest.map is not None
        and newest.map.summary_polyline == (expected[0]["map"]["summary_polyline"])
    )
    assert newest.start_latlng is not None
    assert sum(1 for a in activities if a.private) == 2

    assert latest.id == expected[0]["id"]
    assert latest.name == expected[0]["name"]
    assert float(latest.distance or 0) == expected[0]["distance"]
    assert int(latest.moving_time or 0) == expected[0]["moving_time"]
    assert latest.photos is not None and latest.photos.primary is not None
    assert latest.photos.count == expected[0]["photos"]["count"] == 1
    assert latest.photos.primary.urls is not None
    assert latest.photos.primary.urls["600"] == expected[0]["photos"]["primary"]["urls"]["600"]
    assert latest.calories == expected[0]["calories"]

    now = sandbox.now()
    public_runs = [a for a in expected if a["visibility"] == "everyone" and a["type"] == "Run"]
    recent = [a for a in public_runs if epoch(a["start_date"]) >= now - 28 * 86400]
    year_start = calendar.timegm((time.gmtime(now).tm_year, 1, 1, 0, 0, 0))
    ytd = [a for a in public_runs if epoch(a["start_date"]) >= year_start]
    assert stats.recent_run_totals is not None and stats.ytd_run_totals is not None
    assert stats.recent_run_totals.count == len(recent) > 0
    assert float(stats.recent_run_totals.distance or 0) == pytest.approx(
        sum(a["distance"] for a in recent), abs=0.1
    )
    assert stats.ytd_run_totals.count == len(ytd)
    assert stats.all_run_totals is not None
    assert stats.all_run_totals.count == len(public_runs)
    assert stats.biggest_ride_distance is not None

    assert all(urlsplit(url).netloc == STRAVA_HOST for url in adapter.requested)
    assert {address[1] for address in connections} == {urlsplit(sandbox.url).port}


def test_stravalib_raises_its_own_errors_for_sandbox_errors(
    strava: tuple[SandboxHandle, Client, SandboxAdapter],
) -> None:
    from stravalib import exc

    sandbox, client, _ = strava
    connect(sandbox, client)
    someone_else = sandbox.activities(1002)[0]["id"]

    with pytest.raises(exc.ObjectNotFound):
        client.get_activity(someone_else)
    sandbox.fault("/api/v3/athlete", status=429, times=1)
    with pytest.raises(exc.Fault):
        client.get_athlete()
    client.access_token = "0" * 40
    with pytest.raises(exc.AccessUnauthorized):
        client.get_athlete()
