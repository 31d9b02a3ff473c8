"""The wiring of one process: settings in, the shared parts out.

Services build one :class:`Runtime` in their factory and reach everything through it, so a test
can hand in its own Redis, clock or mirror instead of patching globals. Every entry point
(the web apps' factories, ``token-refresher``, the ``paceline`` command) starts with
:func:`service_runtime`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from paceline.clock import Clock, SystemClock
from paceline.crypto import codec_from_settings
from paceline.governor import RateGovernor, WindowPlan
from paceline.lock import KeyLock
from paceline.log import setup_logging
from paceline.mirror import SecretMirror, mirror_from_settings
from paceline.oauth import OAuthClient
from paceline.providers import ProviderRegistry
from paceline.redis_client import redis_from_settings
from paceline.settings import Settings, load_settings
from paceline.store import TokenStore
from paceline.upstream import UpstreamClient


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    store: TokenStore
    providers: ProviderRegistry
    locks: KeyLock
    clock: Clock
    # How retries wait (tenacity's sleep); tests pass one that records instead of sleeping.
    sleep: Callable[[float], None] = time.sleep
    _upstreams: dict[str, UpstreamClient] = field(default_factory=dict)
    _governors: dict[str, RateGovernor] = field(default_factory=dict)
    _parts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def upstream(self, provider: str) -> UpstreamClient:
        """One pooled HTTP client per provider for the life of the process; every response's
        rate-limit headers feed the provider's governor, whoever made the call."""
        with self._parts_lock:
            if provider not in self._upstreams:
                self.providers.get(provider)
                client = UpstreamClient(provider, timeout=self.settings.http_timeout_seconds)
                client.listeners.append(self._governor(provider).observe)
                self._upstreams[provider] = client
            return self._upstreams[provider]

    def governor(self, provider: str) -> RateGovernor:
        """The shared rate budget of the provider's application (see :mod:`paceline.governor`)."""
        with self._parts_lock:
            return self._governor(provider)

    def _governor(self, provider: str) -> RateGovernor:
        if provider not in self._governors:
            settings = self.settings
            self._governors[provider] = RateGovernor(
                self.redis,
                provider,
                self.providers.get(provider).client_id,
                self.clock,
                reserve_fraction=settings.governor_reserve_fraction,
                windows=WindowPlan(settings.governor_window_seconds, settings.governor_day_seconds),
                assumed_limits={
                    "overall": settings.governor_assumed_overall,
                    "read": settings.governor_assumed_read,
                },
            )
        return self._governors[provider]

    def oauth(self, provider: str) -> OAuthClient:
        return OAuthClient(self.providers.get(provider), self.upstream(provider), self.clock)


def build_runtime(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    mirror: SecretMirror | None = None,
    clock: Clock | None = None,
    kube_api: Any = None,
    lock_ttl_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Runtime:
    settings = settings or load_settings()
    client = redis_client or redis_from_settings(settings)
    clock = clock or SystemClock()
    store = TokenStore(
        client,
        mirror or mirror_from_settings(settings, kube_api),
        codec_from_settings(settings),
        clock,
    )
    return Runtime(
        settings=settings,
        redis=client,
        store=store,
        providers=ProviderRegistry.from_settings(settings),
        locks=KeyLock(
            client,
            settings.refresh_lock_ttl_seconds if lock_ttl_seconds is None else lock_ttl_seconds,
        ),
        clock=clock,
        sleep=sleep,
    )


def service_runtime(service: str, settings: Settings | None = None) -> Runtime:
    """An entry point's start: settings from the environment (unless given), logging set up
    for ``service``, the parts wired. Raises :class:`~paceline.settings.ConfigError`."""
    settings = settings or load_settings()
    setup_logging(settings.log_level, settings.log_format, service=service)
    return build_runtime(settings)
