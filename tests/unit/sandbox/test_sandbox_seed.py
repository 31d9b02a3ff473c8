"""Seeded demo data: deterministic, realistic, fast, and shaped for the widget demo."""

from __future__ import annotations

from collections import Counter

from provider_sandbox import polyline, seed

from tests.fixtures.work import lines_executed

NOW = 1_750_000_000.0  # mid-June 2025
DAY = 86400


def test_same_seed_same_world_different_seed_different_world() -> None:
    _, first = seed.generate(42, 2, NOW)
    _, again = seed.generate(42, 2, NOW + 3600)  # same UTC day
    _, other = seed.generate(43, 2, NOW)

    assert first == again
    assert [a.distance for a in first] != [a.distance for a in other]


def test_first_athlete_trains_like_a_runner_for_fourteen_months() -> None:
    athletes, activities = seed.generate(42, 2, NOW)
    ada = [a for a in activities if a.athlete_id == athletes[0].id]
    runs = [a for a in ada if a.sport_type in ("Run", "TrailRun")]
    span_days = (max(a.start_date for a in ada) - min(a.start_date for a in ada)) / DAY
    weeks = span_days / 7

    assert athletes[0].firstname == "Ada"
    assert 400 <= span_days <= 430
    assert 3 <= len(runs) / weeks <= 4
    assert all(5000 <= r.distance <= 21100 * 1.01 for r in runs if r.sport_type == "Run")
    paces = [r.moving_time / (r.distance / 1000) for r in runs if r.sport_type == "Run"]
    assert all(270 <= p <= 390 for p in paces)  # 4:30 to 6:30 min/km
    sports = Counter(a.sport_type for a in ada)
    assert sports["Ride"] + sports["GravelRide"] > 20
    assert sports["Swim"] > 5
    assert sports["Hike"] >= 3
    assert sum(1 for a in ada if a.visibility == "only_me") == 2
    assert sum(1 for a in ada if a.photos) > 5


def test_newest_activity_is_a_recent_public_run_with_a_photo() -> None:
    athletes, activities = seed.generate(42, 2, NOW)
    newest = max(
        (a for a in activities if a.athlete_id == athletes[0].id), key=lambda a: a.start_date
    )

    assert newest.sport_type == "Run"
    assert NOW - 2 * DAY < newest.start_date < NOW
    assert newest.visibility == "everyone"
    assert len(newest.photos) == 1
    assert newest.summary_polyline
    assert newest.start_latlng is not None


def test_second_athlete_has_fewer_activities_and_ids_are_unique_and_large() -> None:
    athletes, activities = seed.generate(42, 3, NOW)
    per_athlete = Counter(a.athlete_id for a in activities)

    assert [a.id for a in athletes] == [1001, 1002, 1003]
    assert per_athlete[1002] < per_athlete[1001]
    assert len({a.id for a in activities}) == len(activities)
    assert min(a.id for a in activities) > 10_000_000_000


def test_polylines_start_at_the_start_latlng() -> None:
    _, activities = seed.generate(42, 1, NOW)
    mapped = [a for a in activities if a.summary_polyline]

    assert len(mapped) > 100
    for activity in mapped[:20]:
        points = polyline.decode(activity.summary_polyline or "")
        assert activity.start_latlng is not None
        assert abs(points[0][0] - activity.start_latlng[0]) < 1e-4
        assert abs(points[0][1] - activity.start_latlng[1]) < 1e-4


def test_generation_work_grows_linearly_with_the_activities() -> None:
    # Counted, not timed (~30 ms on a laptop): the Python lines run per generated activity
    # stay the same from one athlete to three, so the sandbox starts as fast with more.
    (_, one), lines_one = lines_executed(lambda: seed.generate(42, 1, NOW))
    (_, three), lines_three = lines_executed(lambda: seed.generate(42, 3, NOW))

    per_activity_one = lines_one / len(one)
    per_activity_three = lines_three / len(three)
    assert len(three) > len(one)
    assert per_activity_three < 1.25 * per_activity_one
    assert per_activity_one < 2000  # ~850 today
