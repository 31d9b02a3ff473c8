"""Doubles for the core library's integration tests: a fake Strava and a Kubernetes API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.kube_api import kube_api  # noqa: F401  (fixture)
from tests.integration.core.fake_strava import FakeStrava


@pytest.fixture
def fake_strava() -> Iterator[FakeStrava]:
    double = FakeStrava().start()
    yield double
    double.stop()
