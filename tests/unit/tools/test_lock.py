"""tools/lock.py: constraints.txt is written in one stable format, and a lock that is not the
resolution is caught with the packages named. (`make lock-check` runs the real resolution
against the index in CI; these tests need no network.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools import lock

REPO = Path(__file__).resolve().parents[3]


def _item(name: str, version: str, *, local: bool = False) -> dict[str, Any]:
    download = {"url": f"file:///src/{name}", "dir_info": {}} if local else {"url": "https://x"}
    return {"metadata": {"name": name, "version": version}, "download_info": download}


def test_the_same_pins_in_any_order_give_the_same_file() -> None:
    pins = {"Werkzeug": "3.1.9", "attrs": "26.1.0", "Flask": "3.1.3", "flask-limiter": "4.1.1"}
    shuffled = dict(reversed(list(pins.items())))
    text = lock.render(pins)
    assert text == lock.render(shuffled)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == ["attrs==26.1.0", "Flask==3.1.3", "flask-limiter==4.1.1", "Werkzeug==3.1.9"]


def test_the_report_gives_index_packages_without_the_project_or_pip() -> None:
    report = {
        "install": [
            _item("paceline", "0.1.0", local=True),
            _item("paceline-activity-api", "0.1.0", local=True),
            _item("redis", "8.1.0"),
            _item("pip", "25.0"),
            _item("setuptools", "80.0"),
            _item("Flask", "3.1.3"),
        ]
    }
    assert lock.pins_from_report(report) == {"redis": "8.1.0", "Flask": "3.1.3"}


def test_differences_name_missing_extra_and_moved_packages() -> None:
    written = {"flask": "3.1.3", "Old_Package": "1.0", "redis": "8.0.0"}
    resolved = {"Flask": "3.1.3", "redis": "8.1.0", "hiredis": "3.5.0"}
    assert lock.differences(written, resolved) == [
        "missing: hiredis==3.5.0 is installed but not pinned",
        "extra: old-package==1.0 is pinned but nothing installs it",
        "version: redis is pinned 8.0.0, installs 8.1.0",
    ]
    assert lock.differences(resolved, resolved) == []


def test_a_line_that_is_not_a_pin_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="requests>=2"):
        lock.parse("flask==3.1.3\nrequests>=2\n")


def test_check_fails_and_names_the_package_when_a_pin_is_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(lock.render({"Flask": "3.1.3", "leftover": "0.1"}), encoding="utf-8")
    monkeypatch.setattr(lock, "CONSTRAINTS", constraints)
    monkeypatch.setattr(lock, "resolve", lambda **_: {"Flask": "3.1.3"})
    assert lock.main(["check"]) == 1
    assert "extra: leftover==0.1" in capsys.readouterr().err

    lock.main(["write"])
    assert constraints.read_text(encoding="utf-8") == lock.render({"Flask": "3.1.3"})
    assert lock.main(["check"]) == 0


def test_committed_constraints_are_in_the_format_make_lock_writes() -> None:
    text = (REPO / "constraints.txt").read_text(encoding="utf-8")
    pins = dict(
        line.split("==", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert text == lock.render(pins)


def test_every_project_package_is_resolved() -> None:
    names = [path.relative_to(REPO).as_posix() for path in lock.local_packages(REPO)]
    assert names == [
        "libs/paceline",
        "libs/paceline-dev",
        "services/activity-api",
        "services/auth-gateway",
        "services/provider-sandbox",
        "services/token-refresher",
    ]
