"""The command as the CronJob runs it: exit codes, JSON logs without tokens, run status metrics."""

from __future__ import annotations

import re
from collections.abc import Callable

from paceline.runstatus import read_run_status
from paceline_dev.launch import free_port

from tests.integration.refresher.conftest import StravaSetup, finish, scrape_metrics, spawn


def test_one_json_line_per_credential_and_a_summary_and_never_a_token(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    refreshed = setup.seed(runtime, 30 * 60)
    refused = setup.seed(runtime, 30 * 60)
    runtime.store.save(refused.replace(refresh_token="f" * 40), expected_version=refused.version)
    not_due = setup.seed(runtime, 5 * 3600)

    run = finish(spawn(setup.env(PACELINE_LOG_LEVEL="DEBUG")))

    assert run.code == 1
    lines = run.log_lines()
    assert len(lines) == len(run.stderr.splitlines())  # every line is JSON
    handled = [line for line in lines if line["msg"] == "credential handled"]
    assert sorted(line["account"] for line in handled) == sorted(
        [refreshed.account_id, refused.account_id]
    )
    assert {line["result"] for line in handled} == {"refreshed", "needs_reauth"}
    summary = lines[-1]
    assert summary["msg"] == "refresher pass finished"
    assert summary["counts"] == {"needs_reauth": 1, "refreshed": 1, "skipped": 1}
    assert summary["ok"] is False and summary["duration_seconds"] > 0
    assert set(summary["answer_to_save_ms"]) == {"n", "p50", "p99", "max"}

    stored = [runtime.store.get("strava", c.account_id) for c in (refreshed, refused, not_due)]
    secrets = {setup.sandbox.client_secret, "f" * 40}
    for credential in [refreshed, refused, not_due, *stored]:
        assert credential is not None
        secrets |= {credential.access_token, credential.refresh_token}
    output = run.stdout + run.stderr
    leaked = [s for s in secrets if s in output]
    assert leaked == []


def test_run_status_and_refresh_totals_reach_the_web_services_metrics(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    setup.seed(runtime, 30 * 60)
    refused = setup.seed(runtime, 30 * 60)
    runtime.store.save(refused.replace(refresh_token="f" * 40), expected_version=refused.version)

    assert finish(spawn(setup.env())).code == 1  # one needs re-auth: no success yet
    failed_status = read_run_status(runtime.redis)
    assert failed_status is not None and failed_status.last_success_at is None
    assert "paceline_refresher_last_success_timestamp_seconds" not in scrape_metrics(runtime)

    setup.seed(runtime, 30 * 60)
    assert finish(spawn(setup.env())).code == 0

    status = read_run_status(runtime.redis)
    assert status is not None and status.ok and status.last_success_at is not None
    text = scrape_metrics(runtime)
    samples = dict(re.findall(r"^(paceline_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.MULTILINE))
    assert float(samples["paceline_refresher_last_success_timestamp_seconds"]) == (
        status.last_success_at
    )
    refresh = 'paceline_token_refresh_total{provider="strava",result="%s"}'
    assert float(samples[refresh % "refreshed"]) == 2
    assert float(samples[refresh % "needs_reauth"]) == 1
    assert float(samples['paceline_tokens{provider="strava",state="active"}']) == 2
    assert float(samples['paceline_tokens{provider="strava",state="needs_reauth"}']) == 1
    assert float(samples["paceline_refresher_last_run_failures"]) == 0
    assert (
        text.count("# TYPE paceline_token_refresh_total ")
        + text.count("# TYPE paceline_token_refresh counter")
        == 1
    ), "the refresh counter is exported twice"
    assert not re.search(r'account(_id)?="', text)  # no per-account labels


def test_paceline_refresh_runs_the_same_pass(strava_setup: Callable[..., StravaSetup]) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)

    dry = finish(spawn(setup.env(), "refresh", "--dry-run", command="paceline"))
    assert dry.code == 0 and f"would refresh strava:{due.account_id}" in dry.stdout
    assert setup.token_posts() == 0

    run = finish(spawn(setup.env(), "refresh", command="paceline"))

    assert run.code == 0
    assert runtime.store.get("strava", due.account_id).version == due.version + 1  # type: ignore[union-attr]
    assert run.log_lines()[-1]["msg"] == "refresher pass finished"


def test_bad_configuration_exits_2_naming_the_variable(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    run = finish(spawn(setup.env(PACELINE_REFRESHER_WORKERS="0")))
    assert run.code == 2
    assert run.stderr.strip().splitlines() == [
        "token-refresher: configuration error: PACELINE_REFRESHER_WORKERS: "
        "Input should be greater than or equal to 1"
    ]


def test_unreachable_redis_fails_the_run_with_one_clear_line(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    run = finish(spawn(setup.env(PACELINE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")))
    assert run.code == 1
    assert "token-refresher: Redis unreachable" in run.stderr
    assert "Traceback" not in run.stderr
