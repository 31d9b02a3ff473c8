"""The ``Sandbox`` object: every piece of state, built once per app, reached through the app.

``create_app`` stores it in ``app.extensions["sandbox"]``; nothing lives in module globals,
so two apps in one test process never share tokens, counters or clocks.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from typing import Any

from flask import current_app

from .calls import CallLog
from .clock import Clock
from .config import ConfigError, SandboxConfig, update_config
from .faults import FaultInjector
from .models import App, Subscription
from .ratelimit import RateLimiter
from .tokens import TokenStore
from .webhooks import WebhookDispatcher, build_event
from .world import World

EXTENSION_KEY = "sandbox"


PRIVACY_UPDATE = "private"


class Sandbox:
    """Configuration, clock, world, tokens, rate limits, faults, call log and webhooks.

    One re-entrant lock guards mutations across all parts; the server is threaded.
    """

    def __init__(self, config: SandboxConfig, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.initial_config = config
        self.config = config
        self.clock = clock or Clock()
        self.world = World()
        self.tokens = TokenStore(self.lock)
        self.limiter = RateLimiter(self.lock)
        self.faults = FaultInjector(self.lock)
        self.calls = CallLog(self.lock)
        self.webhooks = WebhookDispatcher(self.lock, self.clock.now)
        self._populate()

    def now(self) -> float:
        return self.clock.now()

    def _populate(self) -> None:
        self.world.seed(self.config, self.now())
        self.world.register_primary_app(self.config)
        self._check_default_athlete(self.config)

    def _check_default_athlete(self, config: SandboxConfig) -> None:
        athlete_id = config.default_athlete_id
        if athlete_id is not None and athlete_id not in self.world.athletes:
            raise ConfigError("default_athlete_id", f"athlete {athlete_id} does not exist")

    def reset(self, keep_clock: bool = False) -> None:
        """Back to the start-up configuration, real time and freshly seeded data.

        ``keep_clock`` leaves the clock where a test put it, so the seed is generated
        relative to that moment instead of the real time.
        """
        with self.lock:
            self.faults.clear()
            self.config = self.initial_config
            if not keep_clock:
                self.clock.reset()
            self.world = World()
            self.tokens = TokenStore(self.lock)
            self.limiter.reset()
            self.calls.reset()
            self.webhooks.reset()
            self._populate()

    def configure(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """Apply a partial update; a new seed re-generates athletes and activities."""
        with self.lock:
            old = self.config
            new = update_config(old, changes)
            reseed = (new.seed, new.seed_athletes) != (old.seed, old.seed_athletes)
            if reseed:
                self.world.seed(new, self.now())
            self._check_default_athlete(new)
            if (new.client_id, new.client_secret) != (old.client_id, old.client_secret):
                self.world.apps.pop(old.client_id, None)
                self.world.register_primary_app(new)
            self.config = new
            return new

    def default_athlete_id(self) -> int | None:
        """Who auto-approval logs in as: the configured athlete, else the first seeded one."""
        return self.config.default_athlete_id or self.world.first_athlete_id

    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> App | None:
        """The app if the credentials match, else None (constant-time secret comparison)."""
        app = self.world.apps.get(str(client_id)) if client_id is not None else None
        if app is None or client_secret is None:
            return None
        if not hmac.compare_digest(app.client_secret.encode(), str(client_secret).encode()):
            return None
        return app

    def subscriptions_for_owner(self, owner_id: int) -> list[Subscription]:
        """Where events about ``owner_id`` go: subscribed apps the athlete authorized.

        If the athlete authorized none of them, the primary app's subscription (if any) gets
        the event, so a test can emit events without first issuing tokens.
        """
        with self.lock:
            authorized = {client for athlete, client in self.tokens.grants if athlete == owner_id}
            subscriptions = [
                s for s in self.world.subscriptions.values() if s.client_id in authorized
            ]
            if not subscriptions:
                primary = self.world.subscription_of(self.config.client_id)
                subscriptions = [primary] if primary else []
            return subscriptions

    def emit_in_background(
        self,
        object_type: str,
        aspect_type: str,
        object_id: int,
        owner_id: int,
        updates: dict[str, str] | None = None,
        subscriptions: list[Subscription] | None = None,
    ) -> int:
        """Send an automatic event with retries; return how many deliveries were started."""
        targets = self.subscriptions_for_owner(owner_id) if subscriptions is None else subscriptions
        started = 0
        for subscription in targets:
            told = updates
            if (
                object_type == "activity"
                and updates
                and PRIVACY_UPDATE in updates
                and not self.sees_privacy(owner_id, subscription.client_id)
            ):
                told = {k: v for k, v in updates.items() if k != PRIVACY_UPDATE}
                if not told:
                    continue  # a privacy change alone: this app is not told at all
            event = build_event(
                subscription, object_type, aspect_type, object_id, owner_id, told, self.now()
            )
            self.webhooks.deliver_in_background(subscription, event, self.config)
            started += 1
        return started

    def sees_privacy(self, owner_id: int, client_id: str) -> bool:
        """Strava sends activity privacy changes only to apps the athlete granted
        ``activity:read_all`` (developers.strava.com/docs/webhooks; announced as "Activity
        privacy change, only for apps with a view_private access token",
        groups.google.com/g/strava-api/c/9vOVWb02sJc; view_private became activity:read_all).
        An app with no grant at all (events emitted by tests without tokens) is told."""
        with self.lock:
            grant = self.tokens.grants.get((owner_id, client_id))
            return grant is None or "activity:read_all" in grant.scopes


def get_sandbox() -> Sandbox:
    """The sandbox of the app handling the current request."""
    sandbox: Sandbox = current_app.extensions[EXTENSION_KEY]
    return sandbox
