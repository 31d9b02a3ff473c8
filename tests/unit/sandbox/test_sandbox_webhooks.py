"""Push subscriptions (Strava's validation handshake) and webhook event delivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.sandbox import VERIFY_TOKEN, WebhookReceiver, bearer

CREDS = {"client_id": "12345", "client_secret": "sandbox-client-secret"}
EVENT_KEYS = {
    "aspect_type",
    "event_time",
    "object_id",
    "object_type",
    "owner_id",
    "subscription_id",
    "updates",
}


def subscribe(
    client: FlaskClient, receiver: WebhookReceiver, verify_token: str = VERIFY_TOKEN
) -> Any:
    return client.post(
        "/api/v3/push_subscriptions",
        data={**CREDS, "callback_url": receiver.url, "verify_token": verify_token},
    )


def test_subscription_runs_the_handshake_then_lists_and_deletes(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()

    created = subscribe(client, webhook_receiver, verify_token="my-verify")

    assert created.status_code == 201
    handshake = webhook_receiver.handshakes[0]
    assert handshake["hub.mode"] == "subscribe"
    assert handshake["hub.verify_token"] == "my-verify"
    assert len(handshake["hub.challenge"]) >= 16
    listed = client.get("/api/v3/push_subscriptions", query_string=CREDS).json
    assert listed == [
        {
            "id": created.json["id"],
            "resource_state": 2,
            "application_id": 12345,
            "callback_url": webhook_receiver.url,
            "created_at": listed[0]["created_at"],
            "updated_at": listed[0]["updated_at"],
        }
    ]
    second = subscribe(client, webhook_receiver)
    assert second.status_code == 400
    assert second.json["errors"][0]["code"] == "already exists"
    deleted = client.delete(f"/api/v3/push_subscriptions/{created.json['id']}", query_string=CREDS)
    assert deleted.status_code == 204
    assert client.get("/api/v3/push_subscriptions", query_string=CREDS).json == []


def test_subscription_fails_when_the_callback_does_not_echo_the_challenge(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    webhook_receiver.echo_challenge = False

    response = subscribe(client, webhook_receiver)

    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "callback url"
    assert client.get("/api/v3/push_subscriptions", query_string=CREDS).json == []


def test_subscription_fails_when_the_callback_is_unreachable(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = client.post(
        "/api/v3/push_subscriptions",
        data={**CREDS, "callback_url": "http://127.0.0.1:9/nothing", "verify_token": "x"},
    )

    assert response.status_code == 400


def test_subscription_needs_the_client_secret(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()

    response = client.post(
        "/api/v3/push_subscriptions",
        data={"client_id": "12345", "client_secret": "wrong", "callback_url": webhook_receiver.url,
              "verify_token": "x"},
    )  # fmt: skip

    assert response.status_code == 401
    assert webhook_receiver.handshakes == []


def test_emit_delivers_stravas_event_and_reports_the_callback_status(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscription_id = subscribe(client, webhook_receiver).json["id"]
    client.post("/_sandbox/clock", json={"set_epoch": 1_750_000_000, "freeze": True})

    result = client.post(
        "/_sandbox/webhooks/emit",
        json={
            "object_type": "activity",
            "aspect_type": "update",
            "object_id": 42,
            "owner_id": 1001,
            "updates": {"title": "Renamed", "private": True},
        },
    ).json

    assert result["status_code"] == 200
    assert result["delivered"] is True
    (event,) = webhook_receiver.events
    assert set(event) == EVENT_KEYS
    assert event == {
        "aspect_type": "update",
        "event_time": 1_750_000_000,
        "object_id": 42,
        "object_type": "activity",
        "owner_id": 1001,
        "subscription_id": subscription_id,
        "updates": {"title": "Renamed", "private": "true"},
    }
    webhook_receiver.status = 500
    failed = client.post(
        "/_sandbox/webhooks/emit",
        json={"object_type": "activity", "aspect_type": "create", "object_id": 1, "owner_id": 1},
    ).json
    assert (failed["status_code"], failed["delivered"]) == (500, False)
    assert len(webhook_receiver.events) == 2  # a manual emit is a single attempt


def test_emit_without_subscription_is_a_400(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = client.post(
        "/_sandbox/webhooks/emit",
        json={"object_type": "activity", "aspect_type": "create", "object_id": 1, "owner_id": 1},
    )

    assert response.status_code == 400
    assert response.json["field"] == "client_id"


def test_control_changes_emit_create_update_delete_events(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)

    added = client.post(
        "/_sandbox/athletes/1001/activities", json={"name": "Fresh", "emit_webhook": True}
    ).json
    webhook_receiver.wait_for(1)
    client.patch(
        f"/_sandbox/activities/{added['id']}",
        json={"name": "Fresher", "visibility": "only_me", "emit_webhook": True},
    )
    webhook_receiver.wait_for(2)
    client.delete(f"/_sandbox/activities/{added['id']}", json={"emit_webhook": True})

    events = webhook_receiver.wait_for(3)
    assert [(e["aspect_type"], e["object_id"], e["owner_id"]) for e in events] == [
        ("create", added["id"], 1001),
        ("update", added["id"], 1001),
        ("delete", added["id"], 1001),
    ]
    assert events[1]["updates"] == {"title": "Fresher", "private": "true"}


def test_deauthorize_sends_the_athlete_event(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    access = client.post("/_sandbox/tokens", json={"athlete_id": 1002}).json["access_token"]

    client.post("/oauth/deauthorize", headers=bearer(access))

    (event,) = webhook_receiver.wait_for(1)
    assert event["object_type"] == "athlete"
    assert event["aspect_type"] == "update"
    assert event["object_id"] == event["owner_id"] == 1002
    assert event["updates"] == {"authorized": "false"}


def test_failed_automatic_deliveries_are_retried(
    sandbox_app_factory: Callable[..., Flask], webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app_factory(webhook_retries=2).test_client()
    subscribe(client, webhook_receiver)
    webhook_receiver.statuses = [500, 503]

    client.post("/_sandbox/athletes/1001/activities", json={"emit_webhook": True})

    events = webhook_receiver.wait_for(3)
    assert len({e["object_id"] for e in events}) == 1
    deliveries = client.get("/_sandbox/webhooks/deliveries", query_string={"wait": 5}).json
    (delivery,) = deliveries["deliveries"]
    assert delivery["delivered"] is True
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert deliveries["pending"] == 0


def test_an_athlete_revoking_on_strava_kills_every_token_and_sends_the_event(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    access = client.post("/_sandbox/tokens", json={"athlete_id": 1002}).json["access_token"]

    revoked = client.post("/_sandbox/athletes/1002/revoke", json={})

    assert revoked.json["revoked"] is True
    (event,) = webhook_receiver.wait_for(1)
    assert event["updates"] == {"authorized": "false"} and event["owner_id"] == 1002
    refused = client.get("/api/v3/athlete", headers=bearer(access))
    assert refused.status_code == 401
    assert refused.json["errors"][0]["resource"] == "Athlete"


def test_a_revocation_whose_event_is_lost_still_kills_the_tokens(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    issued = client.post("/_sandbox/tokens", json={"athlete_id": 1002}).json

    client.post("/_sandbox/athletes/1002/revoke", json={"emit_webhook": False})

    refresh = client.post(
        "/oauth/token",
        data={**CREDS, "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
    )
    assert refresh.status_code == 400
    assert client.get("/api/v3/athlete", headers=bearer(issued["access_token"])).status_code == 401
    deliveries = client.get("/_sandbox/webhooks/deliveries").json
    assert deliveries["deliveries"] == []


def test_privacy_changes_reach_only_apps_granted_activity_read_all(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    client.post("/_sandbox/tokens", json={"athlete_id": 1001, "scope": "read,activity:read"})
    activity = client.post("/_sandbox/athletes/1001/activities", json={}).json["id"]

    client.patch(f"/_sandbox/activities/{activity}", json={"private": True, "emit_webhook": True})
    client.patch(
        f"/_sandbox/activities/{activity}",
        json={"private": False, "name": "Renamed", "emit_webhook": True},
    )

    # The privacy-only change is not sent at all; with a title change only the title is.
    deliveries = client.get("/_sandbox/webhooks/deliveries", query_string={"wait": 5}).json
    assert [d["event"]["updates"] for d in deliveries["deliveries"]] == [{"title": "Renamed"}]


def test_privacy_changes_reach_apps_granted_activity_read_all(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    client.post("/_sandbox/tokens", json={"athlete_id": 1001, "scope": "read,activity:read_all"})
    activity = client.post("/_sandbox/athletes/1001/activities", json={}).json["id"]

    client.patch(f"/_sandbox/activities/{activity}", json={"private": True, "emit_webhook": True})

    (event,) = webhook_receiver.wait_for(1)
    assert event["updates"] == {"private": "true"}


def test_an_event_is_attempted_at_most_three_times(
    sandbox_app: Flask, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox_app.test_client()
    subscribe(client, webhook_receiver)
    webhook_receiver.statuses = [500, 500, 500, 200]

    client.post("/_sandbox/athletes/1001/activities", json={"emit_webhook": True})

    deliveries = client.get("/_sandbox/webhooks/deliveries", query_string={"wait": 5}).json
    (delivery,) = deliveries["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500]
    assert delivery["delivered"] is False
    too_many = client.post("/_sandbox/config", json={"webhook_retries": 3})
    assert too_many.status_code == 400
