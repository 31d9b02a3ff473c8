"""Whether an account's privacy changes reach paceline at once, and what follows if not.

Strava sends activity privacy changes (``updates: {"private": "true"}``) only to applications
the athlete granted ``activity:read_all`` (developers.strava.com/docs/webhooks: "privacy ...
updates ... only for applications with activity:read_all"). paceline asks for that scope by
default so an activity made private leaves the widget within seconds; it never shows private or
followers-only activities either way. An account connected without it gets no such event, so
its summary counts as fresh no longer than ``summary_privacy_fresh_seconds`` even with a webhook
subscription: a privacy change then shows within that bound.
"""

from __future__ import annotations

from collections.abc import Iterable

PRIVACY_SCOPE = "activity:read_all"


def privacy_events(provider: str, scopes: Iterable[str]) -> bool:
    """True when the provider tells us about the account's privacy changes as they happen."""
    return provider != "strava" or PRIVACY_SCOPE in set(scopes)


def privacy_text(provider: str, scopes: Iterable[str], cap_seconds: float) -> str:
    """One line for status pages: how soon a private-made activity leaves the summary."""
    if provider != "strava":
        return "-"
    if privacy_events(provider, scopes):
        return "at once (privacy event)"
    minutes = max(1, round(cap_seconds / 60))
    when = f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
    return f"within {when} ({PRIVACY_SCOPE} not granted)"
