"""The service images: multi-stage, slim, non-root, and running what the chart expects."""

from __future__ import annotations

import json
import re

import pytest

from tests.chart.conftest import REPO, containers, one

SERVICES = {
    "activity-api": ("Deployment", "paceline-activity-api"),
    "auth-gateway": ("Deployment", "paceline-auth-gateway"),
    "token-refresher": ("CronJob", "paceline-token-refresher"),
}


def _stages(service: str) -> list[list[str]]:
    """The Dockerfile's instructions, grouped by FROM, continuation lines joined."""
    text = (REPO / "services" / service / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_multi_stage_on_python_311_slim(service: str) -> None:
    stages = _stages(service)
    text = (REPO / "services" / service / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert len(stages) == 2
    assert stages[0][0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert stages[1][0] == "FROM ${PYTHON_IMAGE}"


@pytest.mark.parametrize("service", SERVICES)
def test_builder_installs_the_library_and_service_with_pinned_versions(service: str) -> None:
    builder = " ".join(_stages(service)[0])
    assert "python -m venv /opt/venv" in builder
    assert f"pip install -c constraints.txt ./libs/paceline ./services/{service}" in builder


@pytest.mark.parametrize("service", SERVICES)
def test_final_image_has_only_the_venv_and_a_non_root_user(service: str) -> None:
    final = _stages(service)[1]
    joined = " ".join(final)
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert [line for line in final if line.startswith("COPY")] == [
        "COPY --from=builder /opt/venv /opt/venv"
    ]
    assert "USER 10001:10001" in final
    assert final.index("USER 10001:10001") > final.index("COPY --from=builder /opt/venv /opt/venv")
    for forbidden in ("apt-get", "pip install", "gcc", "build-essential"):
        assert forbidden not in joined
    assert "PYTHONDONTWRITEBYTECODE=1" in joined
    assert "PYTHONUNBUFFERED=1" in joined
    assert "PATH=/opt/venv/bin:$PATH" in joined


@pytest.mark.parametrize("service", SERVICES)
def test_image_command_is_the_one_the_chart_runs(render, service: str) -> None:
    final = _stages(service)[1]
    (cmd,) = [line for line in final if line.startswith("CMD ")]
    kind, name = SERVICES[service]
    (container,) = containers(one(render("default"), kind, name))
    assert json.loads(cmd.removeprefix("CMD ")) == container["command"]


@pytest.mark.parametrize("service", ["activity-api", "auth-gateway"])
def test_gunicorn_images_expose_8080_and_set_the_multiprocess_dir(service: str) -> None:
    final = " ".join(_stages(service)[1])
    assert "EXPOSE 8080" in final
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in final
    assert "install -d -o 10001 -g 10001 -m 0700 /tmp/prometheus" in final
