"""The wiring of one process: settings in, the shared parts out.

Services build one :class:`Runtime` in their factory and reach everything through it, so a test
can hand in its own Redis, clock or mirror instead of patching globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from paceline.clock import Clock, SystemClock
from paceline.crypto import codec_for
from paceline.lock import KeyLock
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
    _upstreams: dict[str, UpstreamClient] = field(default_factory=dict)

    def upstream(self, provider: str) -> UpstreamClient:
        """One pooled HTTP client per provider for the life of the process."""
        if provider not in self._upstreams:
            self.providers.get(provider)
            self._upstreams[provider] = UpstreamClient(
                provider, timeout=self.settings.http_timeout_seconds
            )
        return self._upstreams[provider]

    def oauth(self, provider: str) -> OAuthClient:
        return OAuthClient(self.providers.get(provider), self.upstream(provider), self.clock)


def build_runtime(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    mirror: SecretMirror | None = None,
    clock: Clock | None = None,
    kube_api: Any = None,
    lock_ttl_seconds: float = 60.0,
) -> Runtime:
    settings = settings or load_settings()
    client = redis_client or redis_from_settings(settings)
    clock = clock or SystemClock()
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    store = TokenStore(
        client,
        mirror or mirror_from_settings(settings, kube_api),
        codec_for(key),
        clock,
    )
    return Runtime(
        settings=settings,
        redis=client,
        store=store,
        providers=ProviderRegistry.from_settings(settings),
        locks=KeyLock(client, lock_ttl_seconds),
        clock=clock,
    )
