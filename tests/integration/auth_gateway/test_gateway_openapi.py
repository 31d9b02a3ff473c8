"""The OpenAPI description of the JSON endpoints, checked by schemathesis against the app.

Schemathesis generates requests from the description the gateway serves at ``/openapi.json``
(valid and invalid ones) and checks every answer: no server error, a documented status code and
content type, a body matching the schema. (The description is loaded from the module the
endpoint serves, after a test proves the two are the same: schemathesis's lazy fixture loader
does not work with pytest 9.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from auth_gateway.openapi import describe
from hypothesis import HealthCheck, settings

from tests.integration.auth_gateway.gateway import ADMIN, PREFIX, Gateway, GatewayFactory

SERVED: dict[str, Any] = describe(["strava"], PREFIX)
schema = schemathesis.openapi.from_dict(SERVED)
# A schema-valid refresh token is still one the provider has never issued: refusing it is the
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


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    """Schemathesis sends invalid credentials on every example: with the login throttle's
    default, the sixth would be a (documented) 429 where its auth check wants 401. The
    throttle has its own tests."""
    return gateway_factory(login_max_failures=1000)


def test_openapi_document_is_served_and_describes_the_json_endpoints(gateway: Gateway) -> None:
    served = gateway.get(f"{PREFIX}/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == SERVED
    assert set(SERVED["paths"]) == {"/healthz", "/readyz", "/accounts", "/import/{provider}"}
    assert gateway.get(f"{PREFIX}/openapi.json", admin=False).status_code == 401


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_json_endpoints_conform_and_never_fail(case: schemathesis.Case, gateway: Gateway) -> None:
    case.operation.schema.app = gateway.app  # this test's app (its Redis, its sandbox)
    case.call_and_validate(app=gateway.app, headers={**(case.headers or {}), **ADMIN})
