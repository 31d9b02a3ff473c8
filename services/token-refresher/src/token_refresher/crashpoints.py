"""Test hook: SIGKILL this process when a refresh reaches a named step.

``PACELINE_TEST_CRASH_AT=<step>`` (one of :data:`paceline.refresh.CHECKPOINTS`) makes the
refresher kill itself, uncatchably, the first time any refresh reaches that step: the crash
tests use it to prove that no step of a refresh can lose a token silently. Only this module
reads the variable, and the refresher announces it loudly, so it cannot act unnoticed.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping

from paceline.refresh import CHECKPOINTS, Checkpoint
from paceline.settings import ConfigError

ENV = "PACELINE_TEST_CRASH_AT"

log = logging.getLogger(__name__)


def from_environment(environ: Mapping[str, str] | None = None) -> Checkpoint | None:
    step = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not step:
        return None
    if step not in CHECKPOINTS:
        raise ConfigError(f"{ENV}: must be one of {', '.join(CHECKPOINTS)}")
    log.warning("test hook armed: this process will SIGKILL itself", extra={"crash_at": step})

    def checkpoint(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
