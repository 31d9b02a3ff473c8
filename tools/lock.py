"""Write or check constraints.txt: the exact set of Python packages paceline installs.

    python tools/lock.py write            `make lock`: keep today's pins, pin what is new, drop
                                          what nothing needs any more
    python tools/lock.py write --upgrade  `make lock UPGRADE=1`: resolve afresh (new releases)
    python tools/lock.py check            `make lock-check` (CI): the file is what `write`
                                          would write, byte for byte

Both ask pip what it would install (`pip install --dry-run --ignore-installed --report`) for the
top-level requirements (requirements-dev.txt and the packages under libs/ and services/), with
constraints.txt as constraints unless --upgrade. Nothing is installed, and with the pins as
constraints the answer does not change when new releases appear, so `make lock` reproduces the
file as long as it is exact and complete; when it is not, `check` names the packages missing,
extra or at another version. The lock is for the interpreter that runs this script (CPython
3.11 on Linux, as the images and CI).

Written with the standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
REQUIREMENTS = ROOT / "requirements-dev.txt"
HEADER = (
    "# Pinned versions of every Python package paceline installs. Written by `make lock`; do not\n"
    "# edit by hand. `make lock-check` (CI) proves it exact: installing the requirements and\n"
    "# packages with these constraints installs exactly these versions, nothing more or less.\n"
)
# pip's own tools are not pinned (pip freeze leaves them out too): the virtualenv brings them.
UNPINNED = frozenset({"pip", "setuptools", "wheel", "distribute"})


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Flask_Limiter`` == ``flask-limiter``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def local_packages(root: Path = ROOT) -> list[Path]:
    """The project's own packages: the libraries (the core, the dev harness), then every
    service."""
    return [
        *sorted(path.parent for path in (root / "libs").glob("*/pyproject.toml")),
        *sorted(path.parent for path in (root / "services").glob("*/pyproject.toml")),
    ]


def pins_from_report(report: Mapping[str, object]) -> dict[str, str]:
    """``{name: version}`` of what pip would install from the index, from its JSON report:
    the project's own packages (installed from a directory) and pip's tools left out."""
    pins: dict[str, str] = {}
    install = report.get("install", [])
    assert isinstance(install, list)
    for item in install:
        metadata, download = item["metadata"], item.get("download_info", {})
        if "dir_info" in download or canonical(metadata["name"]) in UNPINNED:
            continue
        pins[metadata["name"]] = metadata["version"]
    return pins


def render(pins: Mapping[str, str]) -> str:
    """The file's text: the header, then ``Name==version`` sorted by canonical name."""
    lines = [f"{name}=={pins[name]}" for name in sorted(pins, key=canonical)]
    return HEADER + "".join(f"{line}\n" for line in lines)


def parse(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of a constraints file's ``name==version`` lines."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"not a name==version pin: {raw!r}")
        pins[canonical(name.strip())] = version.strip()
    return pins


def differences(written: Mapping[str, str], resolved: Mapping[str, str]) -> list[str]:
    """Why a lock file is not the resolution: packages missing, extra or at another version."""
    have = {canonical(name): version for name, version in written.items()}
    want = {canonical(name): version for name, version in resolved.items()}
    problems = []
    for name in sorted(want.keys() - have.keys()):
        problems.append(f"missing: {name}=={want[name]} is installed but not pinned")
    for name in sorted(have.keys() - want.keys()):
        problems.append(f"extra: {name}=={have[name]} is pinned but nothing installs it")
    for name in sorted(have.keys() & want.keys()):
        if have[name] != want[name]:
            problems.append(f"version: {name} is pinned {have[name]}, installs {want[name]}")
    return problems


def resolve(
    *, upgrade: bool, constraints: Path = CONSTRAINTS, python: str = sys.executable
) -> dict[str, str]:
    """What pip would install for the top-level requirements (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="paceline-lock-") as tmp:
        report = Path(tmp) / "report.json"
        command = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--quiet", "--report", str(report)]
        if not upgrade:
            command += ["-c", str(constraints)]
        command += ["-r", str(REQUIREMENTS), *map(str, local_packages())]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"lock: pip could not resolve the requirements:\n{result.stderr}")
        return pins_from_report(json.loads(report.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--upgrade", action="store_true", help="resolve without today's pins")
    args = parser.parse_args(argv)
    if args.action == "write":
        pins = resolve(upgrade=args.upgrade)
        CONSTRAINTS.write_text(render(pins), encoding="utf-8")
        print(f"lock: wrote {CONSTRAINTS.name} ({len(pins)} packages)")
        return 0
    written = CONSTRAINTS.read_text(encoding="utf-8")
    pins = resolve(upgrade=False)
    if written == render(pins):
        print(f"lock: {CONSTRAINTS.name} is exact ({len(pins)} packages)")
        return 0
    problems = differences(parse(written), pins) or ["the file is not in `make lock`'s format"]
    print(f"lock: {CONSTRAINTS.name} is not what `make lock` writes:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print("lock: run `make lock` and commit constraints.txt", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
