"""Strava's rate limits: headers on every /api/v3 answer, buckets, aligned windows, 429."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.sandbox import bearer

RATE_LIMITED = {
    "message": "Rate Limit Exceeded",
    "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
}
# 1_750_000_200 is a multiple of 60 and of 300: a window boundary for the compressed windows.
BOUNDARY = 1_750_000_200


def at(client: FlaskClient, epoch: float) -> None:
    client.post("/_sandbox/clock", json={"set_epoch": epoch, "freeze": True})


def token(client: FlaskClient, client_id: str | None = None) -> str:
    body = {"athlete_id": 1001, "scope": "read,activity:read_all"}
    if client_id:
        body["client_id"] = client_id
    return str(client.post("/_sandbox/tokens", json=body).json["access_token"])


def usage(response: object) -> tuple[str, str]:
    headers = response.headers  # type: ignore[attr-defined]
    return headers["X-RateLimit-Usage"], headers["X-ReadRateLimit-Usage"]


def test_every_api_answer_carries_the_four_headers_in_stravas_format(
    sandbox_app: Flask,
) -> None:
    client = sandbox_app.test_client()
    good = token(client)

    answers = [
        client.get("/api/v3/athlete", headers=bearer(good)),
        client.get("/api/v3/athlete", headers=bearer("0" * 40)),
        client.get("/api/v3/no/such/thing", headers=bearer(good)),
    ]

    assert [a.status_code for a in answers] == [200, 401, 404]
    for number, answer in enumerate(answers, start=1):
        assert answer.headers["X-RateLimit-Limit"] == "200,2000"
        assert answer.headers["X-ReadRateLimit-Limit"] == "100,1000"
        assert usage(answer) == (f"{number},{number}", f"{number},{number}")


def test_every_non_upload_request_counts_in_both_buckets_uploads_only_overall(
    sandbox_app: Flask,
) -> None:
    # developers.strava.com/docs/rate-limits: "non-upload" is every endpoint but creating an
    # activity, uploading a file and uploading media.
    client = sandbox_app.test_client()
    good = token(client)
    client.get("/api/v3/athlete", headers=bearer(good))

    post = client.post("/api/v3/push_subscriptions", data={})
    upload = client.post("/api/v3/uploads", headers=bearer(good))

    assert post.status_code == 400
    assert usage(post) == ("2,2", "2,2")  # a POST that is no upload is a "read"
    assert usage(upload) == ("3,3", "2,2")


def test_oauth_endpoints_are_not_rate_limited(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = client.post("/oauth/token", data={"grant_type": "refresh_token"})

    assert "X-RateLimit-Usage" not in response.headers
    assert client.get("/_sandbox/ratelimit").json["usage"] == {}


def test_short_window_resets_at_the_aligned_boundary_and_daily_keeps_counting(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(window_seconds=60, day_seconds=300).test_client()
    good = token(client)
    at(client, BOUNDARY - 5)
    client.get("/api/v3/athlete", headers=bearer(good))
    before = client.get("/api/v3/athlete", headers=bearer(good))

    at(client, BOUNDARY + 1)
    after = client.get("/api/v3/athlete", headers=bearer(good))
    at(client, BOUNDARY + 59)
    same_window = client.get("/api/v3/athlete", headers=bearer(good))
    at(client, BOUNDARY + 300)
    next_day = client.get("/api/v3/athlete", headers=bearer(good))

    assert usage(before) == ("2,2", "2,2")
    assert usage(after) == ("1,1", "1,1")  # BOUNDARY is also a day boundary
    assert usage(same_window) == ("2,2", "2,2")
    assert usage(next_day) == ("1,1", "1,1")


def test_daily_window_survives_short_window_resets(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(window_seconds=60, day_seconds=300).test_client()
    good = token(client)
    for offset in (1, 61, 121):
        at(client, BOUNDARY + offset)
        last = client.get("/api/v3/athlete", headers=bearer(good))

    assert last.headers["X-RateLimit-Usage"] == "1,3"
    assert last.headers["X-ReadRateLimit-Usage"] == "1,3"


def test_over_the_read_limit_answers_429_and_counts_towards_the_day_only(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(rate_limit_read="2,10", window_seconds=60).test_client()
    at(client, BOUNDARY + 1)
    good = token(client)
    for _ in range(2):
        assert client.get("/api/v3/athlete", headers=bearer(good)).status_code == 200

    refused = client.get("/api/v3/athlete", headers=bearer(good))
    write = client.post("/api/v3/push_subscriptions", data={})
    upload = client.post("/api/v3/uploads", headers=bearer(good))

    assert refused.status_code == 429
    assert refused.json == RATE_LIMITED
    assert refused.headers["X-ReadRateLimit-Limit"] == "2,10"
    # "requests violating the short term limit will still count toward the long term limit"
    assert usage(refused) == ("2,3", "2,3")
    assert write.status_code == 429  # not an upload: the read bucket is full for it too
    assert usage(write) == ("2,4", "2,4")
    assert upload.status_code != 429  # an upload uses the overall bucket only
    assert usage(upload) == ("3,5", "2,4")
    at(client, BOUNDARY + 61)
    after = client.get("/api/v3/athlete", headers=bearer(good))
    assert after.status_code == 200
    assert usage(after) == ("1,6", "1,5")
    assert client.get("/_sandbox/calls").json["rate_limited"] == 2


def test_over_the_daily_overall_limit_refuses_writes_too(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(rate_limit_overall="200,3").test_client()
    client.post("/_sandbox/ratelimit", json={"overall": [3, 3]})

    response = client.post("/api/v3/push_subscriptions", data={})

    assert response.status_code == 429
    assert usage(response)[0] == "3,4"  # refused, and counted towards the day


def test_limits_are_per_application(sandbox_app_factory: Callable[..., Flask]) -> None:
    client = sandbox_app_factory(rate_limit_read="1,10").test_client()
    client.post("/_sandbox/apps", json={"client_id": "777"})
    mine, theirs = token(client), token(client, client_id="777")

    assert client.get("/api/v3/athlete", headers=bearer(mine)).status_code == 200
    assert client.get("/api/v3/athlete", headers=bearer(mine)).status_code == 429
    other = client.get("/api/v3/athlete", headers=bearer(theirs))

    assert other.status_code == 200
    assert usage(other) == ("1,1", "1,1")
    assert set(client.get("/_sandbox/ratelimit").json["usage"]) == {"12345", "777"}


def test_each_window_keeps_its_counts_and_refusals_for_later_checks(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(rate_limit_read="2,100", window_seconds=60).test_client()
    good = token(client)
    at(client, BOUNDARY + 1)
    for _ in range(3):
        client.get("/api/v3/athlete", headers=bearer(good))
    at(client, BOUNDARY + 61)
    client.get("/api/v3/athlete", headers=bearer(good))

    answer = client.get("/_sandbox/ratelimit").json
    window = BOUNDARY // 60
    assert answer["window_seconds"] == 60
    assert answer["windows"]["12345"] == {
        "overall": [[window, 2], [window + 1, 1]],
        "read": [[window, 2], [window + 1, 1]],
        "refused": [[window, 1]],
    }
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/ratelimit").json["windows"] == {}
