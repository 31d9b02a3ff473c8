"""The fault suite (``make test-faults``): fixtures, and the one table printed at the end.

Each test records what it measured with ``fault_report.add(check, figure, passed)`` *before*
asserting, so the table shows the figure of a failing check too. ``pytest_terminal_summary``
prints the table after every run that collected fault tests, whatever the verbosity (``-q``
included); a fault test that failed before recording anything gets an ``error`` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.faults.stack import services  # noqa: F401  (fixture)
from tests.integration.activity_api.conftest import harness, harness_factory  # noqa: F401
from tests.integration.auth_gateway.conftest import gateway, gateway_factory  # noqa: F401
from tests.integration.refresher.conftest import strava_setup  # noqa: F401  (fixture)


@dataclass(frozen=True)
class Check:
    check: str
    figure: str
    passed: bool


@dataclass
class FaultReport:
    checks: list[Check] = field(default_factory=list)
    recorded_by: set[str] = field(default_factory=set)
    failed_without_record: list[str] = field(default_factory=list)
    faults_ran: bool = False


REPORT = pytest.StashKey[FaultReport]()


class Recorder:
    """What a test uses: ``add`` one row per check."""

    def __init__(self, report: FaultReport, nodeid: str) -> None:
        self._report = report
        self._nodeid = nodeid

    def add(self, check: str, figure: str, passed: bool) -> bool:
        self._report.checks.append(Check(check, figure, bool(passed)))
        self._report.recorded_by.add(self._nodeid)
        print(f"[fault check] {check}: {figure} -> {'pass' if passed else 'FAIL'}")
        return bool(passed)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT] = FaultReport()


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Recorder:
    return Recorder(request.config.stash[REPORT], request.node.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if item.get_closest_marker("faults") is not None:
        state = item.config.stash[REPORT]
        state.faults_ran = True
        new = item.nodeid not in (state.recorded_by | set(state.failed_without_record))
        if report.failed and new:
            state.failed_without_record.append(item.nodeid)
    return report


def render(state: FaultReport) -> list[str]:
    rows = [(c.check, c.figure, "pass" if c.passed else "FAIL") for c in state.checks]
    rows += [
        (nodeid.split("::")[-1], "error before measuring", "FAIL")
        for nodeid in state.failed_without_record
    ]
    headers = ("check", "figure", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, str, str]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "-+-".join("-" * width for width in widths)
    return [line(headers), rule, *(line(r) for r in rows)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(REPORT, None)
    if state is None or not (state.checks or state.failed_without_record):
        return
    failed = sum(not c.passed for c in state.checks) + len(state.failed_without_record)
    terminalreporter.write_sep("=", "paceline fault suite")
    for text in render(state):
        terminalreporter.write_line(text)
    total = len(state.checks) + len(state.failed_without_record)
    terminalreporter.write_line(f"{total - failed} of {total} checks passed")
