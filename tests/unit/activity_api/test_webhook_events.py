"""Parsing Strava webhook events: only Strava's shape gets into the queue."""

from __future__ import annotations

from typing import Any

import pytest
from activity_api.dirty_accounts import DirtyWork
from activity_api.events import InvalidEvent, WebhookEvent, parse_event


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "aspect_type": "create",
        "event_time": 1_767_225_600,
        "object_id": 1360128428,
        "object_type": "activity",
        "owner_id": 134815,
        "subscription_id": 120475,
        "updates": {},
    }
    base.update(fields)
    return base


def test_a_strava_event_round_trips_through_stream_fields() -> None:
    parsed = parse_event(event(aspect_type="update", updates={"title": "Messy", "private": True}))
    assert parsed.updates == {"private": "true"}  # only what the consumer uses is kept
    assert WebhookEvent.from_fields(parsed.to_fields()) == parsed
    assert parsed.kind == "activity.update"
    assert parsed.hides_activity


def test_a_queued_entry_is_short_whatever_the_updates_carry() -> None:
    big = {f"field{n}": "x" * 1000 for n in range(19)}
    parsed = parse_event(event(aspect_type="update", updates={**big, "visibility": "only_me"}))
    fields = parsed.to_fields()
    assert set(fields) == {"type", "owner", "object", "sub", "vis"}
    assert sum(len(k) + len(v) for k, v in fields.items()) < 80
    assert parsed.hides_activity


def test_a_change_to_public_may_bring_an_activity_back() -> None:
    parsed = parse_event(event(aspect_type="update", updates={"private": "false"}))
    assert parsed.shows_activity and not parsed.hides_activity
    assert WebhookEvent.from_fields(parsed.to_fields()) == parsed


def test_dirty_work_patches_one_activity_and_rebuilds_for_more() -> None:
    one = DirtyWork.parse({b"activity.create": b"1", b"activity": b"42"})
    assert one.patch_activity == 42
    many = DirtyWork.parse({b"activity.create": b"200", b"activity": b"42"})
    assert many.patch_activity is None and many.changes == 200
    hidden = DirtyWork.parse({b"activity.delete": b"1", b"activity": b"42", b"recheck": b"1"})
    assert hidden.patch_activity is None  # a hide is re-checked by a rebuild
    deauth = DirtyWork.parse({b"athlete.deauthorize": b"3"})
    assert deauth.deauthorizations == 3 and deauth.changes == 0


def test_deauthorization_is_recognised() -> None:
    parsed = parse_event(
        event(object_type="athlete", aspect_type="update", updates={"authorized": "false"})
    )
    assert parsed.is_deauthorization
    assert parsed.kind == "athlete.deauthorize"


def test_delete_hides_the_activity_and_a_title_change_does_not() -> None:
    assert parse_event(event(aspect_type="delete")).hides_activity
    assert not parse_event(event(aspect_type="update", updates={"title": "x"})).hides_activity


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        event(object_type="club"),
        event(aspect_type="destroy"),
        event(object_id="12"),
        event(owner_id=-1),
        event(subscription_id=True),
        event(updates=["a"]),
        event(updates={"x": {"nested": 1}}),
        event(updates={"title": "x" * 5000}),
        event(event_time=-5),
        {k: v for k, v in event().items() if k != "owner_id"},
    ],
)
def test_anything_else_is_rejected(body: Any) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(body)


@pytest.mark.parametrize("updates", [False, 0, "", [], None, "x", ["private"]])
def test_updates_that_are_not_an_object_are_refused_even_when_falsy(updates: Any) -> None:
    with pytest.raises(InvalidEvent, match="updates must be an object"):
        parse_event(event(updates=updates))


def test_an_event_without_updates_has_none() -> None:
    body = event()
    body.pop("updates", None)
    assert parse_event(body).updates == {}


def test_outcomes_are_stored_and_exported_under_the_same_names_as_before() -> None:
    """The counts in Redis and the metric's labels outlive a deploy: the enums keep the
    strings dashboards and alerts already use."""
    import fakeredis
    from activity_api.events import EventKind
    from activity_api.webhook_outcomes import INVALID, Outcome, outcome_totals, record_outcome

    client = fakeredis.FakeRedis()
    record_outcome(client, EventKind.ACTIVITY_CREATE, Outcome.REFRESHED, 3)
    record_outcome(client, INVALID, Outcome.DROPPED)
    assert client.hgetall("paceline:webhook-outcomes:strava") == {
        b"activity.create|refreshed": b"3",
        b"invalid|dropped": b"1",
    }
    assert outcome_totals(client) == {
        ("activity.create", "refreshed"): 3,
        ("invalid", "dropped"): 1,
    }
    assert {o.value for o in Outcome} - {"marked"} == {
        "refreshed",
        "deauthorized",
        "rejected_unconfirmed",
        "rejected",
        "ignored",
        "not_cached",
        "not_served",
        "retry",
        "dropped",
    }
    with pytest.raises(ValueError):  # counted when the account's work ends, not when marked
        record_outcome(client, EventKind.ACTIVITY_CREATE, Outcome.MARKED)


def test_stream_entries_keep_their_type_strings() -> None:
    parsed = parse_event(event(aspect_type="delete"))
    assert parsed.to_fields()["type"] == "activity.delete"
    assert (
        WebhookEvent.from_fields(
            {
                b"type": b"activity.delete",
                **{k.encode(): v.encode() for k, v in parsed.to_fields().items() if k != "type"},
            }
        )
        == parsed
    )
