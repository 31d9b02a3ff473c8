"""Deterministic demo data: athletes with realistic activity histories.

Generated from a seeded RNG relative to the sandbox clock, anchored on the current UTC day,
so the same seed gives the same world all day long and "the latest run" is always recent.
The first athlete gets ~14 months of training (runs 3-4 a week, rides, swims, hikes); the
newest activity is a run from yesterday with a photo. Other athletes get less.
"""

from __future__ import annotations

import calendar
import math
import random
import time
from dataclasses import dataclass

from . import polyline, timezones
from .models import Activity, Athlete, Gear, Photo

DAY = 86400
ACTIVITY_ID_BASE = 10_000_000_000
PHOTO_ID_BASE = 2_000_000_000


@dataclass(frozen=True)
class _Profile:
    firstname: str
    lastname: str
    city: str
    state: str
    country: str
    sex: str
    timezone: str
    home: tuple[float, float]
    hills: tuple[float, float]
    runs_per_week: tuple[int, int]
    rides_per_week: tuple[int, int]
    swim_every_weeks: int
    hike_chance: float
    history_days: int
    weight: float
    ftp: int
    bio: str
    created: str
    shoes: tuple[str, ...]
    bikes: tuple[str, ...]


_PROFILES = (
    _Profile(
        "Ada", "Lovelace", "London", "England", "United Kingdom", "F", "Europe/London",
        (51.5313, -0.1570), (53.3660, -1.8160), (3, 4), (1, 2), 2, 0.25, 425, 58.5, 210,
        "Poetical science, poetical running.", "2016-05-14T08:21:00",
        ("Nike Pegasus 40", "Saucony Endorphin Speed 3"), ("Canyon Endurace CF 7",),
    ),
    _Profile(
        "Grace", "Hopper", "Berlin", "Berlin", "Germany", "F", "Europe/Berlin",
        (52.5145, 13.3501), (50.9620, 14.0730), (1, 1), (2, 2), 0, 0.1, 180, 64.0, 245,
        "It's easier to ask forgiveness than it is to get permission.", "2018-03-09T17:02:00",
        ("Brooks Ghost 15",), ("Rose Backroad", "Brompton C Line"),
    ),
    _Profile(
        "Emil", "Zatopek", "Prague", "Prague", "Czechia", "M", "Europe/Prague",
        (50.0755, 14.4378), (50.7360, 15.7400), (4, 5), (0, 1), 0, 0.05, 120, 66.0, 230,
        "Fish swim, birds fly, people run.", "2014-09-19T06:45:00",
        ("Adidas Adizero SL",), ("Specialized Allez",),
    ),
    _Profile(
        "Junko", "Tabei", "Tokyo", "Tokyo", "Japan", "F", "Asia/Tokyo",
        (35.6717, 139.6950), (35.3606, 138.7274), (1, 2), (1, 1), 3, 0.5, 120, 52.0, 180,
        "Do not give up. Keep going.", "2017-11-02T22:10:00",
        ("Salomon Speedcross 6",), ("Trek Domane AL 2",),
    ),
)  # fmt: skip


def _iso_to_epoch(text: str) -> int:
    return calendar.timegm((*map(int, text[:10].split("-")), *map(int, text[11:].split(":"))))


def day_name(local_hour: int, sport: str) -> str:
    word = {"TrailRun": "Trail Run", "GravelRide": "Gravel Ride", "VirtualRide": "Zwift Ride"}
    if local_hour < 11:
        part = "Morning"
    elif local_hour < 14:
        part = "Lunch"
    elif local_hour < 17:
        part = "Afternoon"
    elif local_hour < 21:
        part = "Evening"
    else:
        part = "Night"
    return f"{part} {word.get(sport, sport)}"


def _run_plan(rng: random.Random, kind: str) -> tuple[float, float, int]:
    """Distance (m), pace (s/km) and local start hour for a kind of run."""
    if kind == "long":
        return rng.uniform(14000, 21100), rng.uniform(330, 375), rng.choice((8, 9))
    if kind == "tempo":
        return rng.uniform(8000, 12000), rng.uniform(270, 300), rng.choice((6, 18))
    if kind == "race":
        return 5000.0, rng.uniform(270, 290), 9
    return rng.uniform(5000, 10000), rng.uniform(320, 390), rng.choice((6, 7, 12, 18))


def _pick_gear(gear: list[Gear], kind: str) -> str | None:
    """Race and tempo days use the second pair of shoes (or bike) when there is one."""
    if not gear:
        return None
    return gear[1].id if kind in ("race", "tempo") and len(gear) > 1 else gear[0].id


class _Generator:
    """Builds one athlete's activities; holds the RNG and the running id counters."""

    def __init__(self, rng: random.Random, athlete: Athlete, profile: _Profile) -> None:
        self.rng = rng
        self.athlete = athlete
        self.profile = profile
        self.activities: list[Activity] = []

    def _loop(self, start: tuple[float, float], distance: float) -> tuple[list[float], str]:
        """A closed, slightly wobbly loop of roughly ``distance`` metres starting at ``start``."""
        rng = self.rng
        radius = max(distance, 400.0) / (2 * math.pi)
        heading = rng.uniform(0, 2 * math.pi)
        lat0, lng0 = start
        m_per_deg_lng = 111_320 * math.cos(math.radians(lat0))
        center = (
            lat0 + radius * math.cos(heading) / 111_320,
            lng0 + radius * math.sin(heading) / m_per_deg_lng,
        )
        points = []
        steps = 16
        for i in range(steps + 1):
            angle = heading + math.pi + 2 * math.pi * i / steps
            r = radius * (1.0 if i in (0, steps) else rng.uniform(0.85, 1.15))
            points.append(
                (
                    center[0] + r * math.cos(angle) / 111_320,
                    center[1] + r * math.sin(angle) / m_per_deg_lng,
                )
            )
        end = [round(points[-1][0], 6), round(points[-1][1], 6)]
        return end, polyline.encode(points)

    def add(self, day_start: int, sport: str, kind: str, force_photo: bool = False) -> None:
        """Add one activity of ``sport`` on the UTC day starting at ``day_start``."""
        rng, profile = self.rng, self.profile
        gps, trainer, commute = True, False, False
        workout_type: int | None = None
        origin = profile.home
        hr: tuple[int, int] | None = (138, 162)
        if sport in ("Run", "TrailRun"):
            distance, pace, hour = _run_plan(rng, kind)
            workout_type = {"easy": 0, "long": 2, "tempo": 3, "race": 1}[kind]
            if sport == "TrailRun":
                pace *= 1.15
            moving = distance / 1000 * pace
            climb = (
                distance
                / 1000
                * (rng.uniform(15, 40) if sport == "TrailRun" else rng.uniform(3, 12))
            )
            gear = self.athlete.shoes
            device = "Garmin Forerunner 255"
            kcal_per_km = 65
        elif sport in ("Ride", "GravelRide", "VirtualRide"):
            commute = kind == "commute"
            distance = rng.uniform(9000, 14000) if commute else rng.uniform(25000, 90000)
            speed = rng.uniform(18, 24) if commute else rng.uniform(22, 30)
            moving = distance / (speed / 3.6)
            hour = rng.choice((7, 8)) if commute else rng.choice((9, 10, 14, 17))
            climb = distance / 1000 * rng.uniform(4, 14)
            workout_type = 10
            trainer = sport == "VirtualRide"
            gps = not trainer
            gear = self.athlete.bikes
            device = "Zwift" if trainer else "Garmin Edge 530"
            kcal_per_km = 25
            hr = (122, 150)
        elif sport == "Swim":
            distance = float(rng.choice((1500, 2000, 2500, 3000)))
            moving = distance / 100 * rng.uniform(110, 140)
            hour, climb, gps, gear = rng.choice((7, 19)), 0.0, False, []
            device = "Garmin Swim 2"
            kcal_per_km = 250
            hr = None
        else:  # Hike / Walk
            distance = rng.uniform(8000, 18000)
            moving = distance / 1000 * rng.uniform(660, 840)
            hour, climb, gear = rng.choice((9, 10)), rng.uniform(300, 900), []
            origin = profile.hills
            device = "Garmin Forerunner 255"
            kcal_per_km = 55
            hr = (105, 128)

        minute = rng.randrange(0, 60)
        local = day_start + hour * 3600 + minute * 60 + rng.randrange(0, 60)
        offset = timezones.utc_offset(profile.timezone, local)
        start = local - offset
        moving_time = round(moving)
        elapsed = round(moving * rng.uniform(1.0, 1.08))
        avg_speed = distance / moving_time
        activity_id = 0  # assigned once every athlete is generated and sorted
        start_latlng = end_latlng = None
        summary = ""
        if gps:
            jitter = (rng.uniform(-0.004, 0.004), rng.uniform(-0.004, 0.004))
            start_latlng = [round(origin[0] + jitter[0], 6), round(origin[1] + jitter[1], 6)]
            end_latlng, summary = self._loop((start_latlng[0], start_latlng[1]), distance)
        base_elev = rng.uniform(200, 500) if origin == profile.hills else rng.uniform(10, 60)
        avg_hr = round(rng.uniform(*hr), 1) if hr else None
        photo_count = 1 if force_photo else 0
        if not force_photo and sport in ("Run", "TrailRun", "Hike") and rng.random() < 0.12:
            photo_count = rng.randint(1, 3)
        self.activities.append(
            Activity(
                id=activity_id,
                athlete_id=self.athlete.id,
                name=day_name(hour, sport) if kind != "race" else "Parkrun",
                sport_type=sport,
                start_date=start,
                distance=round(distance, 1),
                moving_time=moving_time,
                elapsed_time=elapsed,
                total_elevation_gain=round(climb, 1),
                timezone=profile.timezone,
                utc_offset=offset,
                workout_type=workout_type,
                description=None,
                calories=round(distance / 1000 * kcal_per_km, 1),
                device_name=device,
                trainer=trainer,
                commute=commute,
                gear_id=_pick_gear(gear, kind),
                start_latlng=start_latlng,
                end_latlng=end_latlng,
                summary_polyline=summary,
                average_heartrate=avg_hr,
                max_heartrate=round(avg_hr + rng.uniform(15, 30)) if avg_hr else None,
                max_speed=round(avg_speed * rng.uniform(1.3, 1.8), 3),
                elev_low=round(base_elev, 1),
                elev_high=round(base_elev + climb * rng.uniform(0.3, 0.6), 1),
                achievement_count=rng.choice((0, 0, 0, 1, 2, 3, 5)),
                kudos_count=rng.randint(0, 25),
                comment_count=rng.choice((0, 0, 0, 1, 2)),
                athlete_count=rng.choice((1, 1, 1, 1, 2, 3)),
                pr_count=rng.choice((0, 0, 0, 1, 2)),
                location_city=None if origin == profile.hills else profile.city,
                location_state=None if origin == profile.hills else profile.state,
                location_country=profile.country,
                embed_token=f"{rng.getrandbits(160):040x}",
                photos=[Photo(id=0, unique_id="", activity_id=0)] * photo_count,
            )
        )

    def history(self, today: int, is_first: bool) -> None:
        """Fill ``history_days`` of training, week by week."""
        rng, profile = self.rng, self.profile
        first_day = today - profile.history_days * DAY
        day = first_day - (((first_day // DAY) + 3) % 7) * DAY  # back to a Monday
        week = 0
        while day < today:
            plan: dict[int, tuple[str, str]] = {}
            runs = rng.randint(*profile.runs_per_week)
            for weekday in sorted(rng.sample(range(7), runs)):
                if weekday == 6:
                    plan[weekday] = ("TrailRun" if rng.random() < 0.2 else "Run", "long")
                elif weekday == 5 and rng.random() < 0.3:
                    plan[weekday] = ("Run", "race")
                elif weekday in (1, 3) and rng.random() < 0.5:
                    plan[weekday] = ("Run", "tempo")
                else:
                    plan[weekday] = ("TrailRun" if rng.random() < 0.08 else "Run", "easy")
            weekend = [d for d in (5, 6) if d not in plan]
            if weekend and rng.random() < profile.hike_chance:
                plan[rng.choice(weekend)] = ("Hike", "")
            free = [d for d in range(7) if d not in plan]
            rides = min(rng.randint(*profile.rides_per_week), len(free))
            winter = rng.random() < 0.3 and time_month(day) in (11, 12, 1, 2)
            for weekday in rng.sample(free, rides):
                sport = "VirtualRide" if winter else rng.choice(("Ride", "Ride", "GravelRide"))
                plan[weekday] = (sport, "commute" if weekday < 5 and rng.random() < 0.3 else "")
            free = [d for d in range(7) if d not in plan]
            if profile.swim_every_weeks and week % profile.swim_every_weeks == 0 and free:
                plan[rng.choice(free)] = ("Swim", "")
            for weekday, (sport, kind) in sorted(plan.items()):
                when = day + weekday * DAY
                if first_day <= when < today - DAY:
                    self.add(when, sport, kind)
            day += 7 * DAY
            week += 1
        if is_first:
            self.add(today - DAY, "Run", "easy", force_photo=True)


def time_month(epoch: int) -> int:
    """Calendar month (1-12) of an epoch instant, UTC."""
    return time.gmtime(epoch).tm_mon


def photo_unique_id(rng: random.Random) -> str:
    """A Strava-style upper-case UUID for a photo."""
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}".upper()


def _athlete(index: int, profile: _Profile, updated_at: int) -> Athlete:
    athlete_id = 1001 + index
    suffix = "" if index < len(_PROFILES) else f" {index + 1}"
    athlete = Athlete(
        id=athlete_id,
        firstname=profile.firstname,
        lastname=profile.lastname + suffix,
        username=f"{profile.firstname}_{profile.lastname}{suffix.strip()}".lower(),
        city=profile.city,
        state=profile.state,
        country=profile.country,
        sex=profile.sex,
        premium=index % 2 == 0,
        summit=index % 2 == 0,
        created_at=_iso_to_epoch(profile.created),
        updated_at=updated_at,
        follower_count=128 - 17 * (index % 5),
        friend_count=96 - 11 * (index % 5),
        ftp=profile.ftp,
        weight=profile.weight,
        bio=profile.bio,
        timezone=profile.timezone,
    )
    athlete.shoes = [
        Gear(id=f"g{athlete_id}{n + 1}", name=name, primary=n == 0)
        for n, name in enumerate(profile.shoes)
    ]
    athlete.bikes = [
        Gear(id=f"b{athlete_id}{n + 1}", name=name, primary=n == 0)
        for n, name in enumerate(profile.bikes)
    ]
    return athlete


def generate(seed: int, athlete_count: int, now: float) -> tuple[list[Athlete], list[Activity]]:
    """Build ``athlete_count`` athletes and their activities, deterministic for (seed, day)."""
    rng = random.Random(seed)
    today = int(now // DAY) * DAY
    athletes: list[Athlete] = []
    activities: list[Activity] = []
    for index in range(athlete_count):
        profile = _PROFILES[index % len(_PROFILES)]
        athlete = _athlete(index, profile, updated_at=today - DAY)
        generator = _Generator(rng, athlete, profile)
        generator.history(today, is_first=index == 0)
        own = generator.activities
        hideable = list(range(len(own) - 1))
        for position in rng.sample(hideable, min(2 if index == 0 else 1, len(hideable))):
            own[position].visibility = "only_me"
        for activity in own:
            if activity.visibility == "everyone" and rng.random() < 0.05:
                activity.visibility = "followers_only"
        athletes.append(athlete)
        activities.extend(own)

    activities.sort(key=lambda a: (a.start_date, a.athlete_id))
    photo_id = PHOTO_ID_BASE
    for position, activity in enumerate(activities):
        activity.id = ACTIVITY_ID_BASE + position * 1009 + rng.randrange(0, 1000)
        named = []
        for _ in activity.photos:
            photo_id += 1
            named.append(Photo(photo_id, photo_unique_id(rng), activity.id))
        activity.photos = named
    return athletes, activities
