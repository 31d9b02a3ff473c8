"""A build's outcome crosses processes (the single-flight message) as text and comes back typed."""

from __future__ import annotations

import pytest
from activity_api.single_flight import BuildOutcome, FlightResult, SummaryUnavailable


@pytest.mark.parametrize(
    "result",
    [
        FlightResult(BuildOutcome.BUILT),
        FlightResult(BuildOutcome.RATE_LIMITED, 900),
        FlightResult(BuildOutcome.UPSTREAM_UNAVAILABLE, 2.5),
        FlightResult(BuildOutcome.SHUTDOWN, 5),
    ],
)
def test_every_outcome_survives_the_message(result: FlightResult) -> None:
    assert FlightResult.decode(result.encode().encode()) == result


def test_the_wire_text_is_what_older_workers_publish_and_read() -> None:
    # A rolling update has old and new workers waiting on each other's builds.
    assert FlightResult(BuildOutcome.BUILT).encode() == "built"
    assert FlightResult(BuildOutcome.RATE_LIMITED, 900).encode() == "rate_limited:900"
    assert FlightResult.decode(b"token_refresh_in_progress:2") == FlightResult(
        BuildOutcome.TOKEN_REFRESH_IN_PROGRESS, 2
    )


def test_an_unknown_or_broken_message_is_a_failure_not_a_crash() -> None:
    assert FlightResult.decode(b"exploded:7").outcome is BuildOutcome.FAILED
    assert FlightResult.decode("rate_limited:soon") == FlightResult(BuildOutcome.RATE_LIMITED)


def test_the_503_names_the_outcome_and_waits_whole_seconds() -> None:
    error = SummaryUnavailable(BuildOutcome.RATE_LIMITED, "spent", 0.2)
    assert error.reason is BuildOutcome.RATE_LIMITED
    assert error.reason.value == "rate_limited"
    assert error.retry_after == 1
