"""The world the sandbox serves: athletes, activities, registered apps, push subscriptions.

Pure data plus the rules for building records from control-API input (defaults filled in
the way Strava would have them). Callers hold the sandbox lock around mutations.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from . import seed, timezones
from .config import SandboxConfig
from .models import Activity, App, Athlete, Photo, Subscription

# Rough moving pace (seconds per km) used to fill in a missing moving_time.
_DEFAULT_PACE = {"Run": 330, "TrailRun": 400, "Hike": 720, "Walk": 660, "Swim": 1200}
_DEFAULT_DISTANCE = {"Swim": 2000.0, "Hike": 12000.0, "Walk": 5000.0}
_RIDE_PACE = 130  # ~27.7 km/h
_FIRST_SUBSCRIPTION_ID = 120_475


class RecordNotFoundError(LookupError):
    """A referenced athlete or activity does not exist."""


class World:
    """All records, keyed by id."""

    def __init__(self) -> None:
        self.athletes: dict[int, Athlete] = {}
        self.activities: dict[int, Activity] = {}
        self.apps: dict[str, App] = {}
        self.subscriptions: dict[int, Subscription] = {}
        self.first_athlete_id: int | None = None
        self._next_subscription_id = _FIRST_SUBSCRIPTION_ID
        self._rng = random.Random(0)

    def seed(self, config: SandboxConfig, now: float) -> None:
        """Replace athletes and activities with the seeded demo data."""
        athletes, activities = seed.generate(config.seed, config.seed_athletes, now)
        self.athletes = {a.id: a for a in athletes}
        self.activities = {a.id: a for a in activities}
        self.first_athlete_id = athletes[0].id if athletes else None
        self._rng = random.Random(config.seed + 1)

    def register_primary_app(self, config: SandboxConfig) -> App:
        """(Re)register the application named by the configuration."""
        app = App(config.client_id, config.client_secret, name="Sandbox App")
        self.apps[app.client_id] = app
        return app

    # -- athletes ---------------------------------------------------------------------------

    def athlete(self, athlete_id: int) -> Athlete:
        try:
            return self.athletes[athlete_id]
        except KeyError:
            raise RecordNotFoundError(f"athlete {athlete_id} does not exist") from None

    def add_athlete(self, fields: Mapping[str, Any], now: float) -> Athlete:
        """Create an athlete from checked control input; a missing id takes the next free one."""
        athlete_id = fields.get("id") or max(self.athletes, default=1000) + 1
        if athlete_id in self.athletes:
            raise ValueError(f"athlete {athlete_id} already exists")
        values = {k: v for k, v in fields.items() if k != "id"}
        values.setdefault("username", f"{values['firstname']}_{values['lastname']}".lower())
        athlete = Athlete(id=athlete_id, created_at=int(now), updated_at=int(now), **values)
        self.athletes[athlete.id] = athlete
        return athlete

    def activities_of(self, athlete_id: int) -> list[Activity]:
        """The athlete's activities, newest first."""
        own = [a for a in self.activities.values() if a.athlete_id == athlete_id]
        own.sort(key=lambda a: (a.start_date, a.id), reverse=True)
        return own

    # -- activities -------------------------------------------------------------------------

    def activity(self, activity_id: int) -> Activity:
        try:
            return self.activities[activity_id]
        except KeyError:
            raise RecordNotFoundError(f"activity {activity_id} does not exist") from None

    def _new_activity_id(self) -> int:
        return max(self.activities, default=seed.ACTIVITY_ID_BASE) + 1009

    def _photos(self, activity_id: int, count: int) -> list[Photo]:
        existing = [p.id for a in self.activities.values() for p in a.photos]
        first = max(existing, default=seed.PHOTO_ID_BASE) + 1
        return [
            Photo(first + n, seed.photo_unique_id(self._rng), activity_id) for n in range(count)
        ]

    def add_activity(self, athlete_id: int, fields: Mapping[str, Any], now: float) -> Activity:
        """Create an activity from checked control input, filling Strava-like defaults.

        Without ``start_date`` the activity has just finished ("uploaded now").
        """
        athlete = self.athlete(athlete_id)
        values = dict(fields)
        activity_id = values.pop("id", None) or self._new_activity_id()
        if activity_id in self.activities:
            raise ValueError(f"activity {activity_id} already exists")
        sport = values.pop("type", None) or "Run"
        sport = values.setdefault("sport_type", sport)
        ride = sport.endswith("Ride")
        distance = values.setdefault("distance", _DEFAULT_DISTANCE.get(sport, 10000.0))
        pace = _RIDE_PACE if ride else _DEFAULT_PACE.get(sport, 360)
        moving = values.setdefault("moving_time", round(distance / 1000 * pace) or 1800)
        elapsed = values.setdefault("elapsed_time", moving + 60)
        if values.pop("private", False):
            values["visibility"] = "only_me"
        start = values.setdefault("start_date", int(now) - elapsed)
        zone = values.setdefault("timezone", athlete.timezone)
        offset = values.setdefault("utc_offset", timezones.utc_offset(zone, start))
        if "name" not in values:
            local_hour = (start + offset) % 86400 // 3600
            values["name"] = seed.day_name(local_hour, sport)
        values.setdefault("max_speed", round(distance / moving * 1.4, 3) if moving else 0.0)
        values.setdefault("embed_token", f"{self._rng.getrandbits(160):040x}")
        photo_count = values.pop("photos", 0)
        activity = Activity(id=activity_id, athlete_id=athlete.id, **values)
        activity.photos = self._photos(activity.id, photo_count)
        self.activities[activity.id] = activity
        return activity

    def update_activity(self, activity_id: int, fields: Mapping[str, Any]) -> dict[str, str]:
        """Apply checked control input; return the change as a Strava ``updates`` mapping."""
        activity = self.activity(activity_id)
        values = dict(fields)
        if "type" in values:
            values.setdefault("sport_type", values.pop("type"))
        if "private" in values:
            private = values.pop("private")
            values.setdefault("visibility", "only_me" if private else "everyone")
        if "photos" in values:
            activity.photos = self._photos(activity.id, values.pop("photos"))
        if ("start_date" in values or "timezone" in values) and "utc_offset" not in values:
            zone = values.get("timezone", activity.timezone)
            start = values.get("start_date", activity.start_date)
            values["utc_offset"] = timezones.utc_offset(zone, start)
        updates: dict[str, str] = {}
        for name, value in values.items():
            setattr(activity, name, value)
        if "name" in values:
            updates["title"] = activity.name
        if "sport_type" in values:
            updates["type"] = activity.type
        if "visibility" in values:
            updates["private"] = "true" if activity.private else "false"
        return updates

    def delete_activity(self, activity_id: int) -> Activity:
        activity = self.activity(activity_id)
        del self.activities[activity_id]
        return activity

    # -- apps and subscriptions -------------------------------------------------------------

    def add_app(self, client_id: str | None, client_secret: str | None, name: str) -> App:
        if client_id is None:
            client_id = str(max((int(c) for c in self.apps), default=12344) + 1)
        if client_id in self.apps:
            raise ValueError(f"application {client_id} already exists")
        secret = client_secret or f"{self._rng.getrandbits(160):040x}"
        app = App(client_id, secret, name)
        self.apps[client_id] = app
        return app

    def subscription_of(self, client_id: str) -> Subscription | None:
        return next((s for s in self.subscriptions.values() if s.client_id == client_id), None)

    def add_subscription(
        self, client_id: str, callback_url: str, verify_token: str, now: float
    ) -> Subscription:
        subscription = Subscription(
            id=self._next_subscription_id,
            client_id=client_id,
            callback_url=callback_url,
            verify_token=verify_token,
            created_at=int(now),
            updated_at=int(now),
        )
        self._next_subscription_id += 1
        self.subscriptions[subscription.id] = subscription
        return subscription
