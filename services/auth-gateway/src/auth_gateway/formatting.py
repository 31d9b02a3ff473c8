"""How times and scopes read on the gateway's pages (Jinja filters)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from paceline.cli import human_duration
from paceline.clock import Clock

# What each Strava scope is called on Strava's authorize page, so a page can say what to tick.
STRAVA_SCOPE_LABELS = {
    "read": "View data about your public profile (always granted)",
    "read_all": "View data about your private routes, segments and events",
    "profile:read_all": "View your complete Strava profile",
    "profile:write": "Update your weight and FTP, and star or unstar segments",
    "activity:read": "View data about your activities",
    "activity:read_all": "View data about your private activities",
    "activity:write": "Upload your activities to Strava",
}


def utc_text(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def relative_text(epoch: float | None, now: float) -> str:
    if epoch is None:
        return ""
    delta = epoch - now
    return f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(delta)} ago"


def scope_label(provider: str, scope: str) -> str:
    if provider == "strava" and scope in STRAVA_SCOPE_LABELS:
        return f"{STRAVA_SCOPE_LABELS[scope]} ({scope})"
    return scope


def init_formatting(app: Flask, clock: Clock) -> None:
    app.jinja_env.filters["utc"] = utc_text
    app.jinja_env.filters["relative"] = lambda epoch: relative_text(epoch, clock.now())
    app.jinja_env.globals["scope_label"] = scope_label
