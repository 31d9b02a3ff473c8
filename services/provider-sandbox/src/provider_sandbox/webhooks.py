"""Strava webhook behaviour: subscription validation and event delivery with retries.

Strava validates a new push subscription by calling ``callback_url`` with a ``hub.challenge``
that must be echoed within 2 s, then POSTs one JSON event per change. Events are not signed;
the receiver is expected to check ``subscription_id`` and ``owner_id``. A delivery that does
not get a 2xx is retried, at most three attempts in all (developers.strava.com/docs/webhooks).
Automatic deliveries run in a background thread so the request that caused them (e.g. a
deauthorization) is not slowed down.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests
import tenacity

from .config import SandboxConfig
from .models import Subscription

log = logging.getLogger(__name__)

DELIVERY_LOG_LIMIT = 100
# Strava makes up to a total of three attempts per event (developers.strava.com/docs/webhooks).
MAX_RETRIES = 2


def build_event(
    subscription: Subscription,
    object_type: str,
    aspect_type: str,
    object_id: int,
    owner_id: int,
    updates: dict[str, str] | None,
    now: float,
) -> dict[str, Any]:
    """Strava's event JSON, key for key."""
    return {
        "aspect_type": aspect_type,
        "event_time": int(now),
        "object_id": object_id,
        "object_type": object_type,
        "owner_id": owner_id,
        "subscription_id": subscription.id,
        "updates": dict(updates or {}),
    }


def verify_callback(callback_url: str, verify_token: str, timeout: float) -> str | None:
    """Run Strava's subscription handshake; return why it failed, or None if it passed."""
    challenge = secrets.token_urlsafe(16)
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
    try:
        response = requests.get(callback_url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        return f"GET to callback URL failed: {type(exc).__name__}"
    if response.status_code != 200:
        return "GET to callback URL does not return 200"
    try:
        body = response.json()
    except ValueError:
        return "callback URL did not answer JSON"
    if not isinstance(body, dict) or body.get("hub.challenge") != challenge:
        return "callback URL did not echo hub.challenge"
    return None


class WebhookDispatcher:
    """Sends events and remembers the last deliveries for inspection."""

    def __init__(
        self,
        lock: threading.RLock,
        clock: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = lock
        self._clock = clock
        self._sleep = sleep  # between retries (tenacity's wait)
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def _attempt(self, url: str, event: dict[str, Any], timeout: float) -> tuple[int | None, str]:
        try:
            response = requests.post(url, json=event, timeout=timeout)
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return response.status_code, ""

    def deliver(
        self,
        subscription: Subscription,
        event: dict[str, Any],
        config: SandboxConfig,
        retries: int = 0,
    ) -> dict[str, Any]:
        """POST ``event`` to the callback; retry ``retries`` times while the answer is not 2xx."""
        record: dict[str, Any] = {
            "callback_url": subscription.callback_url,
            "event": event,
            "attempts": [],
            "delivered": False,
        }
        attempts = min(retries, MAX_RETRIES) + 1

        def attempt() -> bool:
            status, error = self._attempt(
                subscription.callback_url, event, config.webhook_timeout_seconds
            )
            record["attempts"].append(
                {"status": status, "error": error or None, "at": self._clock()}
            )
            if status is not None and 200 <= status < 300:
                return True
            log.warning(
                "webhook delivery attempt %d of %d failed: %s",
                len(record["attempts"]),
                attempts,
                error or f"HTTP {status}",
            )
            return False

        record["delivered"] = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda delivered: not delivered),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_fixed(config.webhook_retry_delay_seconds),
            sleep=self._sleep,
            retry_error_callback=lambda _state: False,  # given up: not delivered
        )(attempt)
        record["status"] = record["attempts"][-1]["status"]
        with self._lock:
            self._deliveries.append(record)
        return record

    def deliver_in_background(
        self, subscription: Subscription, event: dict[str, Any], config: SandboxConfig
    ) -> None:
        """Deliver with Strava-like retries without blocking the caller."""
        with self._lock:
            self._pending += 1

        def run() -> None:
            try:
                self.deliver(subscription, event, config, retries=config.webhook_retries)
            except Exception:  # a broken delivery must never take the server down
                log.exception("webhook delivery crashed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        threading.Thread(target=run, name="sandbox-webhook", daemon=True).start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no background delivery is running; True if that happened in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"pending": self._pending, "deliveries": list(self._deliveries)}

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
