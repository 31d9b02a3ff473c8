"""The loopback listener of ``paceline connect``: only its own callback ends the wait."""

from __future__ import annotations

import threading

import pytest
import requests
from auth_gateway.loopback import LoopbackReceiver, Page


def test_only_the_expected_callback_ends_the_wait() -> None:
    receiver = LoopbackReceiver("127.0.0.1", 0, "/callback/strava")
    base = f"http://127.0.0.1:{receiver.port}"
    seen: list[dict[str, str]] = []

    def handle(params: dict[str, str]) -> tuple[Page, bool]:
        seen.append(params)
        if params.get("state") != "mine":
            return Page(400, "Not connected", "not ours"), False
        return Page(200, "Connected <b>", "done"), True

    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(receiver.wait(handle, 10)))
    waiter.start()
    assert requests.get(f"{base}/elsewhere", timeout=5).status_code == 404
    assert requests.get(f"{base}/callback/strava?state=theirs", timeout=5).status_code == 400
    done = requests.get(f"{base}/callback/strava?state=mine&code=c", timeout=5)
    waiter.join(10)
    assert result == [True]
    assert done.status_code == 200
    assert "Connected &lt;b&gt;" in done.text  # escaped
    assert done.headers["Cache-Control"] == "no-store"
    assert [p["state"] for p in seen] == ["theirs", "mine"]


def test_wait_gives_up_at_the_timeout() -> None:
    receiver = LoopbackReceiver("127.0.0.1", 0, "/callback/strava")
    assert receiver.wait(lambda params: (Page(200, "", ""), True), 0.3) is False


def test_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        LoopbackReceiver("0.0.0.0", 0, "/callback/strava")  # noqa: S104
