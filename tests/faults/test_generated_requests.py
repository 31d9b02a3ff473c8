"""schemathesis against activity-api and auth-gateway: at least 1,000 generated cases each.

Requests are generated from each service's own OpenAPI description, valid ones and (where the
description allows) invalid ones, and sent to the app wired to real Redis and the sandbox.
Every answer is validated by schemathesis's checks (no server error, a documented status and
content type, a body matching its schema). Cases are counted as executed, not as requested.

schemathesis's pytest decorator does not work with pytest 9, so each operation's strategy is
driven through Hypothesis directly (as in tests/integration/*/test_*openapi.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from auth_gateway.openapi import describe
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.faults.conftest import Recorder
from tests.integration.activity_api.conftest import Harness, make_athlete
from tests.integration.auth_gateway.gateway import ADMIN, PREFIX, Gateway, GatewayFactory

pytestmark = pytest.mark.faults

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 200  # a ceiling: small input spaces are exhausted sooner


def run_operations(
    schema: Any,
    call: Callable[[Any], Any],
    path_parameters: Callable[[Any, GenerationMode], dict[str, Any] | None],
) -> tuple[int, Counter[int], list[str]]:
    """Run every operation in both generation modes until ``MIN_CASES`` cases have run.
    Returns cases executed, response statuses, and failures (operation: error)."""
    executed = 0
    seen: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    rounds = 0
    while executed < MIN_CASES and rounds < 4:
        rounds += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for operation in operations:
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters(operation, mode)
                )

                @given(case=strategy)
                @settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: Any) -> None:
                    nonlocal executed
                    executed += 1
                    response = call(case)
                    seen[response.status_code] += 1

                try:
                    run()
                except Unsatisfiable:
                    continue  # nothing invalid to generate for this operation
                except (Exception, BaseExceptionGroup) as error:  # keep it, run the rest
                    failures.append(f"{operation.label} ({mode.value}): {error}"[:2000])
    return executed, seen, failures


def test_activity_api_answers_a_thousand_generated_requests_without_a_server_error(
    harness: Harness, fault_report: Recorder
) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    schema = schemathesis.openapi.from_wsgi("/openapi.json", harness.app)

    def parameters(operation: Any, mode: GenerationMode) -> dict[str, Any] | None:
        # The connected athlete, so cached answers are exercised too, in half the positive runs.
        wanted = "{athlete_id}" in operation.path and mode is GenerationMode.POSITIVE
        return {"athlete_id": account} if wanted else None

    executed, seen, failures = run_operations(
        schema, lambda case: case.call_and_validate(), parameters
    )
    server_errors = sum(n for status, n in seen.items() if status >= 500)
    figure = (
        f"{executed} cases: {server_errors} server errors, {len(failures)} failed checks; "
        f"statuses {dict(sorted(seen.items()))}"
    )
    passed = executed >= MIN_CASES and server_errors == 0 and not failures
    fault_report.add("schemathesis activity-api", figure, passed)
    assert not failures, "\n\n".join(failures)
    assert server_errors == 0
    assert executed >= MIN_CASES


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    """Schemathesis sends invalid credentials in many cases: with the login throttle's default,
    later ones would be a (documented) 429 where its auth check wants 401. The throttle has its
    own tests (tests/integration/auth_gateway/test_gateway_login_throttle.py)."""
    return gateway_factory(login_max_failures=1000)


def test_auth_gateway_answers_a_thousand_generated_requests_without_a_server_error(
    gateway: Gateway, fault_report: Recorder
) -> None:
    schema = schemathesis.openapi.from_dict(describe(["strava"], PREFIX))
    # A schema-valid refresh token is still one the provider never issued: refusing it is the
    # documented 422, not a rejection of valid input.
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx",
        "401",
        "403",
        "404",
        "422",
    ]
    # A body over the 64 KiB request limit is rejected with the documented 413.
    schema.config.checks.negative_data_rejection.expected_statuses = [
        *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"),
    ]

    def call(case: Any) -> Any:
        case.operation.schema.app = gateway.app
        return case.call_and_validate(app=gateway.app, headers={**(case.headers or {}), **ADMIN})

    executed, seen, failures = run_operations(schema, call, lambda operation, mode: None)
    server_errors = sum(n for status, n in seen.items() if status >= 500)
    figure = (
        f"{executed} cases: {server_errors} server errors, {len(failures)} failed checks; "
        f"statuses {dict(sorted(seen.items()))}"
    )
    passed = executed >= MIN_CASES and server_errors == 0 and not failures
    fault_report.add("schemathesis auth-gateway", figure, passed)
    assert not failures, "\n\n".join(failures)
    assert server_errors == 0
    assert executed >= MIN_CASES
