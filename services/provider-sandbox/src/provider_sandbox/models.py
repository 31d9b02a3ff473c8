"""The records the sandbox world is made of: athletes, activities, apps, subscriptions.

Plain dataclasses holding raw facts (epoch seconds, metres, seconds). Everything Strava
derives (``type`` from ``sport_type``, ``private`` from ``visibility``, ISO dates, average
speed) is computed in ``representations`` so the stored facts can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CDN = "https://sandbox.invalid"

# sport_type -> legacy ``type`` (Strava keeps both; ``type`` is coarser).
SPORT_TO_TYPE: dict[str, str] = {
    "Run": "Run",
    "TrailRun": "Run",
    "VirtualRun": "VirtualRun",
    "Ride": "Ride",
    "GravelRide": "Ride",
    "MountainBikeRide": "Ride",
    "EBikeRide": "EBikeRide",
    "EMountainBikeRide": "EBikeRide",
    "VirtualRide": "VirtualRide",
    "Velomobile": "Velomobile",
    "Swim": "Swim",
    "Hike": "Hike",
    "Walk": "Walk",
    "AlpineSki": "AlpineSki",
    "NordicSki": "NordicSki",
    "Rowing": "Rowing",
    "Kayaking": "Kayaking",
    "Yoga": "Yoga",
    "WeightTraining": "WeightTraining",
    "Workout": "Workout",
}

# Which sport types Strava folds into the ride / run / swim totals of ActivityStats.
RIDE_SPORTS = frozenset(
    {
        "Ride",
        "GravelRide",
        "MountainBikeRide",
        "EBikeRide",
        "EMountainBikeRide",
        "VirtualRide",
        "Velomobile",
    }
)
RUN_SPORTS = frozenset({"Run", "TrailRun", "VirtualRun"})
SWIM_SPORTS = frozenset({"Swim"})

VISIBILITIES = ("everyone", "followers_only", "only_me")


@dataclass
class Gear:
    """A bike or a pair of shoes; distance is summed from activities when shown."""

    id: str
    name: str
    primary: bool = False


@dataclass
class Athlete:
    id: int
    firstname: str
    lastname: str
    username: str
    city: str | None = None
    state: str | None = None
    country: str | None = None
    sex: str | None = None
    premium: bool = True
    summit: bool = True
    created_at: int = 0
    updated_at: int = 0
    follower_count: int = 0
    friend_count: int = 0
    measurement_preference: str = "meters"
    ftp: int | None = None
    weight: float | None = None
    bio: str | None = None
    timezone: str = "Europe/London"
    shoes: list[Gear] = field(default_factory=list)
    bikes: list[Gear] = field(default_factory=list)

    @property
    def profile(self) -> str:
        return f"{CDN}/avatars/{self.id}/large.jpg"

    @property
    def profile_medium(self) -> str:
        return f"{CDN}/avatars/{self.id}/medium.jpg"


@dataclass
class Photo:
    id: int
    unique_id: str
    activity_id: int

    @property
    def urls(self) -> dict[str, str]:
        base = f"{CDN}/photos/{self.activity_id}/{self.unique_id}"
        return {"100": f"{base}-128x96.jpg", "600": f"{base}-600x450.jpg"}


@dataclass
class Activity:
    id: int
    athlete_id: int
    name: str
    sport_type: str
    start_date: int
    distance: float = 0.0
    moving_time: int = 0
    elapsed_time: int = 0
    total_elevation_gain: float = 0.0
    timezone: str = "Europe/London"
    utc_offset: int = 0
    workout_type: int | None = None
    description: str | None = None
    calories: float = 0.0
    device_name: str | None = None
    visibility: str = "everyone"
    trainer: bool = False
    commute: bool = False
    manual: bool = False
    flagged: bool = False
    gear_id: str | None = None
    start_latlng: list[float] | None = None
    end_latlng: list[float] | None = None
    summary_polyline: str | None = None
    average_heartrate: float | None = None
    max_heartrate: float | None = None
    max_speed: float = 0.0
    elev_high: float | None = None
    elev_low: float | None = None
    achievement_count: int = 0
    kudos_count: int = 0
    comment_count: int = 0
    athlete_count: int = 1
    pr_count: int = 0
    location_city: str | None = None
    location_state: str | None = None
    location_country: str | None = None
    embed_token: str = ""
    photos: list[Photo] = field(default_factory=list)
    # The athlete hid the start time (Strava's privacy control since July 2024; see
    # representations.start_dates for how the API shows it).
    hide_start_time: bool = False

    @property
    def type(self) -> str:
        return SPORT_TO_TYPE.get(self.sport_type, self.sport_type)

    @property
    def private(self) -> bool:
        return self.visibility == "only_me"


@dataclass
class App:
    """A registered API application (client); rate limits and tokens belong to one."""

    client_id: str
    client_secret: str
    name: str = "Sandbox App"

    @property
    def application_id(self) -> int:
        return int(self.client_id)


@dataclass
class Subscription:
    """A webhook push subscription; Strava allows one per application."""

    id: int
    client_id: str
    callback_url: str
    verify_token: str
    created_at: int
    updated_at: int
