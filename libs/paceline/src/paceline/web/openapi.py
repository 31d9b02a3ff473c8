"""A service's OpenAPI description, kept as data: ``spec/openapi.json`` in its package.

Read once per process; each call answers its own copy, which the service completes with what
settings decide (limits, configured providers, the server URL).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

SPEC = "spec/openapi.json"


def packaged_spec(package: str) -> dict[str, Any]:
    """A copy of ``package``'s description, free to change."""
    return copy.deepcopy(_read(package))


@cache
def _read(package: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(SPEC).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec
