"""The service images: one multi-stage Dockerfile, slim, non-root, and running what the chart
expects. The four images share every stage but a few lines (environment, port, health check,
command), so they cannot drift apart."""

from __future__ import annotations

import json
import re

import pytest

from tests.chart.conftest import REPO, containers, one

DOCKERFILE = REPO / "Dockerfile"
SERVICES = {
    "activity-api": ("Deployment", "paceline-activity-api"),
    "auth-gateway": ("Deployment", "paceline-auth-gateway"),
    "token-refresher": ("CronJob", "paceline-token-refresher"),
}
ALL_SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if p.is_dir())


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, grouped by FROM, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
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


def _stage(name: str) -> list[str]:
    (stage,) = [s for s in _stages() if s[0].endswith(f" AS {name}")]
    return stage


def _final(service: str) -> list[str]:
    """What the image of ``service`` is made of after the builder: the shared runtime stage,
    then the service's own stage."""
    return _stage("runtime") + _stage(service)


def test_one_dockerfile_builds_every_service() -> None:
    assert not list((REPO / "services").glob("*/Dockerfile")), "per-service Dockerfiles drift"
    assert ALL_SERVICES == ["activity-api", "auth-gateway", "provider-sandbox", "token-refresher"]
    for service in ALL_SERVICES:
        assert _stage(service)[0] == f"FROM runtime AS {service}"


def test_image_is_multi_stage_on_python_311_slim() -> None:
    stages = _stages()
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert stages[0][0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert stages[1][0] == "FROM ${PYTHON_IMAGE} AS runtime"
    # The image is the service's stage, picked by the build arg; nothing is added after it.
    assert stages[-1] == ["FROM ${SERVICE}"]
    assert "ARG SERVICE" in _stage("builder")


def test_builder_installs_the_service_with_pinned_versions_and_the_local_library() -> None:
    builder = " ".join(_stage("builder"))
    assert "python -m venv /opt/venv" in builder
    assert "COPY services/${SERVICE}/ services/${SERVICE}/" in builder
    assert "paceline @ file:///src/libs/paceline" in builder
    assert (
        "pip install -c constraints.txt -c local-constraints.txt ./services/${SERVICE}" in builder
    )
    assert "pip uninstall --yes pip setuptools" in builder


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_final_image_has_only_the_venv_and_a_non_root_user(service: str) -> None:
    final = _final(service)
    joined = " ".join(final)
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert [line for line in final if line.startswith("COPY")] == [
        "COPY --from=builder /opt/venv /opt/venv"
    ]
    assert [line for line in final if line.startswith("USER")] == ["USER 10001:10001"]
    assert final.index("USER 10001:10001") > final.index("COPY --from=builder /opt/venv /opt/venv")
    # A service's own stage only configures: it cannot run, add files or change the user.
    assert not [line for line in _stage(service) if line.split()[0] in ("RUN", "COPY", "ADD")]
    for forbidden in ("apt-get", "pip install", "gcc", "build-essential"):
        assert forbidden not in joined
    assert "PYTHONDONTWRITEBYTECODE=1" in joined
    assert "PYTHONUNBUFFERED=1" in joined
    assert "PATH=/opt/venv/bin:$PATH" in joined


@pytest.mark.parametrize("service", SERVICES)
def test_image_command_is_the_one_the_chart_runs(render, service: str) -> None:
    (cmd,) = [line for line in _stage(service) if line.startswith("CMD ")]
    kind, name = SERVICES[service]
    (container,) = containers(one(render("default"), kind, name))
    assert json.loads(cmd.removeprefix("CMD ")) == container["command"]


@pytest.mark.parametrize("service", ["activity-api", "auth-gateway"])
def test_gunicorn_images_expose_8080_and_set_the_multiprocess_dir(service: str) -> None:
    final = " ".join(_final(service))
    assert "EXPOSE 8080" in final
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in final
    assert "install -d -o 10001 -g 10001 -m 0700 /tmp/prometheus" in final


def test_only_the_sandbox_image_has_a_docker_healthcheck() -> None:
    (check,) = [line for line in _stage("provider-sandbox") if line.startswith("HEALTHCHECK")]
    assert "http://127.0.0.1:8090/_sandbox/healthz" in check
    assert "EXPOSE 8090" in _stage("provider-sandbox")
    for service in ("activity-api", "auth-gateway", "token-refresher"):
        assert not [line for line in _final(service) if line.startswith("HEALTHCHECK")]


def test_make_images_builds_each_service_from_the_one_dockerfile() -> None:
    script = (REPO / "tools" / "images.sh").read_text(encoding="utf-8")
    assert "SERVICES=(activity-api auth-gateway token-refresher provider-sandbox)" in script
    assert '"$ROOT/Dockerfile" "$service"' in script
    assert '--build-arg "SERVICE=$service"' in script
