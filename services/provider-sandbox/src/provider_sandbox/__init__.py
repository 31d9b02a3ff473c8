"""provider-sandbox: an offline emulator of the Strava API for paceline's demo and tests.

A separate system, like Strava itself: it imports nothing from ``paceline``.
"""

from .app import create_app

__all__ = ["create_app"]
