"""``/openapi.json`` is kept true: every route is described, and real responses (and
schemathesis's generated requests) match it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from defusedxml import ElementTree as SafeET
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.integration.activity_api.conftest import (
    SUBSCRIPTION_ID,
    VERIFY_TOKEN,
    Harness,
    make_athlete,
)

# Not JSON API operations: Prometheus text, the description itself, static files and the
# widget's script and demo page.
UNDOCUMENTED = {
    "/openapi.json",
    "/static/<path:filename>",
    "/widget.js",
    "/widget/demo",
}


def validator_for(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:paceline:openapi", resource)
    return Draft202012Validator({"$ref": f"urn:paceline:openapi#{pointer}"}, registry=registry)


def check(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The response's status is documented for the operation, and its body matches."""
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path}: {status} undocumented"
    documented = operation["responses"][status]
    if "content" not in documented:
        assert not response.get_data()
        return
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{method.upper()} {path}: {header} missing"
    assert response.mimetype in documented["content"], f"{method.upper()} {path}: media type"
    if response.mimetype == "image/svg+xml":
        assert SafeET.fromstring(response.get_data()).tag == "{http://www.w3.org/2000/svg}svg"
        return
    pointer = f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method}/responses/{status}"
    schema_pointer = f"{pointer}/content/application~1json/schema"
    validator_for(document, schema_pointer).validate(response.get_json())


def test_every_route_is_described(harness: Harness) -> None:
    document = harness.client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    for rule in harness.app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in document["paths"], f"{rule.rule} is not in /openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {path} undocumented"


def test_real_responses_match_the_description(harness_factory: Any) -> None:
    h: Harness = harness_factory(
        summary_goals='{"run": {"distance_m": 500000}}', show_maps_accounts="1003"
    )
    client = h.client
    document = client.get("/openapi.json").get_json()
    empty = client.get("/v1/strava/summary")
    check(document, "/v1/strava/summary", "get", empty)  # 404: nobody connected yet

    account = h.connect(make_athlete(h.sandbox))
    assert account == "1003"  # the opted-in one: maps and coordinates in the answers too
    summary = client.get("/v1/strava/summary")
    assert summary.get_json()["goals"] and "start_latlng" in summary.get_json()["latest_activity"]
    check(document, "/v1/strava/summary", "get", summary)
    by_id = "/v1/strava/athletes/{athlete_id}/summary"
    check(document, by_id, "get", client.get(f"/v1/strava/athletes/{account}/summary"))
    check(
        document,
        by_id,
        "get",
        client.get(
            f"/v1/strava/athletes/{account}/summary",
            headers={"If-None-Match": summary.headers["ETag"]},
        ),
    )
    check(document, by_id, "get", client.get("/v1/strava/athletes/42/summary"))
    activities = "/v1/strava/athletes/{athlete_id}/activities"
    check(document, activities, "get", client.get(f"/v1/strava/athletes/{account}/activities"))
    check(
        document, activities, "get", client.get(f"/v1/strava/athletes/{account}/activities?limit=0")
    )

    card = "/v1/strava/athletes/{athlete_id}/card.svg"
    svg = client.get(f"/v1/strava/athletes/{account}/card.svg?sport=run&theme=dark")
    check(document, card, "get", svg)
    check(
        document,
        card,
        "get",
        client.get(f"/v1/strava/athletes/{account}/card.svg", headers={"If-None-Match": "x"}),
    )
    etag = {"If-None-Match": svg.headers["ETag"]}
    revalidated = client.get(
        f"/v1/strava/athletes/{account}/card.svg?sport=run&theme=dark", headers=etag
    )
    assert revalidated.status_code == 304
    check(document, card, "get", revalidated)
    check(document, card, "get", client.get(f"/v1/strava/athletes/{account}/card.svg?units=x"))
    check(document, card, "get", client.get("/v1/strava/athletes/42/card.svg"))
    check(document, "/v1/strava/card.svg", "get", client.get("/v1/strava/card.svg?layout=compact"))

    other = h.connect(make_athlete(h.sandbox, photos_on_latest=0))
    h.sandbox.fault("/api/v3/*", status=502)
    unavailable = client.get(f"/v1/strava/athletes/{other}/summary")
    assert unavailable.status_code == 503
    check(document, by_id, "get", unavailable)
    unavailable_card = client.get(f"/v1/strava/athletes/{other}/card.svg")
    assert unavailable_card.status_code == 503
    check(document, card, "get", unavailable_card)
    h.clock.advance(h.runtime.settings.summary_fresh_seconds + 1)
    stale = client.get(f"/v1/strava/athletes/{account}/summary")
    assert stale.get_json()["meta"]["stale"] is True
    check(document, by_id, "get", stale)

    hook = "/webhooks/strava"
    params = {"hub.mode": "subscribe", "hub.challenge": "abc", "hub.verify_token": VERIFY_TOKEN}
    check(document, hook, "get", client.get(hook, query_string=params))
    check(document, hook, "get", client.get(hook, query_string={**params, "hub.verify_token": "x"}))
    check(document, hook, "get", client.get(hook, query_string={**params, "hub.challenge": ""}))
    event = {
        "object_type": "activity",
        "aspect_type": "create",
        "object_id": 1,
        "owner_id": int(account),
        "subscription_id": SUBSCRIPTION_ID,
        "event_time": 1,
        "updates": {},
    }
    check(document, hook, "post", client.post(hook, json=event))
    check(document, hook, "post", client.post(hook, json={**event, "owner_id": 5}))
    check(document, hook, "post", client.post(hook, json={**event, "subscription_id": 1}))
    check(document, hook, "post", client.post(hook, json={"nope": True}))
    check(document, "/healthz", "get", client.get("/healthz"))
    check(document, "/readyz", "get", client.get("/readyz"))


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_no_server_errors_and_no_mismatch(harness: Harness, mode: str) -> None:
    """Every operation, with generated valid (and invalid) requests, against an app with one
    connected athlete and a warm cache: no 5xx, and answers match the description."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    account = harness.connect(make_athlete(harness.sandbox))
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    schema = schemathesis.openapi.from_wsgi("/openapi.json", harness.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert (
        len(operations) == 11
    )  # the webhook callback twice: bare, and with its secret path segment

    exercised: list[str] = []
    for operation in operations:
        strategy = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE
            if mode == "positive"
            else GenerationMode.NEGATIVE,
            # the connected athlete sometimes, so cached answers are exercised too
            path_parameters={"athlete_id": account}
            if "{athlete_id}" in operation.path and mode == "positive"
            else None,
        )

        @given(case=strategy)
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate()

        try:
            run()
        except Unsatisfiable:
            # nothing invalid to generate (no parameters, or only free-form strings)
            assert mode == "negative", operation.label
            continue
        exercised.append(operation.label)
    # negative data exists for the athlete id, the limit and the webhook event at least
    assert len(exercised) >= (9 if mode == "positive" else 5), exercised
