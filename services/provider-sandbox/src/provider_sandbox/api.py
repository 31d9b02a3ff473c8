"""The read endpoints of Strava's API v3 that paceline uses.

Bearer-token authentication and scope checks behave like Strava's: a bad or expired token is
401 ``Authorization Error``; a token without ``activity:read`` gets 401 naming the missing
``activity:read_permission``; ``only_me`` activities need ``activity:read_all``; another
athlete's activity is 404 ``Record Not Found``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from .errors import (
    StravaError,
    bad_request,
    invalid_access_token,
    missing_permission,
    record_not_found,
)
from .pipeline import bearer_token
from .representations import activity_detail, activity_summary, athlete_detail
from .state import get_sandbox
from .stats import compute
from .tokens import AccessToken

bp = Blueprint("api", __name__, url_prefix="/api/v3")

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 200
PROFILE_SCOPES = ("read", "read_all", "profile:read_all")
ACTIVITY_SCOPES = ("activity:read", "activity:read_all")


def _authenticate(any_of: tuple[str, ...], permission: str) -> AccessToken:
    sandbox = get_sandbox()
    token = bearer_token()
    record = sandbox.tokens.valid_access(token, sandbox.now()) if token else None
    if record is None:
        raise invalid_access_token()
    if not any(scope in record.scopes for scope in any_of):
        raise missing_permission(permission)
    return record


def _int_param(name: str, default: int | None, minimum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise bad_request("Application", name) from None
    if minimum is not None and value < minimum:
        raise bad_request("Application", name)
    return value


@bp.get("/athlete")
def get_athlete() -> dict[str, Any]:
    """DetailedAthlete of the token's athlete."""
    record = _authenticate(PROFILE_SCOPES, "read_permission")
    sandbox = get_sandbox()
    with sandbox.lock:
        athlete = sandbox.world.athlete(record.athlete_id)
        return athlete_detail(athlete, sandbox.world.activities_of(athlete.id))


@bp.get("/athlete/activities")
def list_activities() -> list[dict[str, Any]]:
    """SummaryActivity list, newest first, filtered by before/after, paged."""
    record = _authenticate(ACTIVITY_SCOPES, "activity:read_permission")
    before = _int_param("before", None)
    after = _int_param("after", None)
    page = _int_param("page", 1, minimum=1) or 1
    per_page = _int_param("per_page", DEFAULT_PER_PAGE, minimum=1) or DEFAULT_PER_PAGE
    if per_page > MAX_PER_PAGE:
        raise bad_request("Application", "per_page")
    # "activity:read: read the user's activity data for activities that are visible to
    # Everyone and Followers"; "activity:read_all: the same access as activity:read, plus ...
    # access to read the user's activities with visibility set to Only You"
    # (developers.strava.com/docs/authentication, "Details About Requesting Access").
    show_private = "activity:read_all" in record.scopes
    sandbox = get_sandbox()
    with sandbox.lock:
        chosen = [
            a
            for a in sandbox.world.activities_of(record.athlete_id)
            if (show_private or not a.private)
            and (before is None or a.start_date < before)
            and (after is None or a.start_date > after)
        ]
        start = (page - 1) * per_page
        return [activity_summary(a) for a in chosen[start : start + per_page]]


@bp.get("/activities/<int:activity_id>")
def get_activity(activity_id: int) -> dict[str, Any]:
    """DetailedActivity, only for the owner (and only_me only with activity:read_all)."""
    record = _authenticate(ACTIVITY_SCOPES, "activity:read_permission")
    sandbox = get_sandbox()
    with sandbox.lock:
        activity = sandbox.world.activities.get(activity_id)
        if (
            activity is None
            or activity.athlete_id != record.athlete_id
            or (activity.private and "activity:read_all" not in record.scopes)
        ):
            raise record_not_found("Activity")
        return activity_detail(activity)


@bp.get("/athletes/<int:athlete_id>/stats")
def get_stats(athlete_id: int) -> dict[str, Any]:
    """ActivityStats, computed now; only for the token's own athlete."""
    record = _authenticate(PROFILE_SCOPES, "read_permission")
    if athlete_id != record.athlete_id:
        raise StravaError(403, "Forbidden", "Athlete", "id", "forbidden")
    sandbox = get_sandbox()
    with sandbox.lock:
        return compute(sandbox.world.activities_of(athlete_id), sandbox.now())
