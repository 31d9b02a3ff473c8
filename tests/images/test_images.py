"""`make test-images`: the four service images, run as containers the way the chart runs them.

`tools/images.sh build` (the make target runs it first) builds the images with podman; here
the whole stack runs on one private podman network, each container with the chart's security
settings: read-only root, uid 10001, every capability dropped, no-new-privileges, and tmpfs
where the chart mounts an emptyDir. An athlete connects through the gateway's real OAuth flow
against the sandbox (which auto-approves, as in the chart's sandbox profile), the token-refresher
runs once as a one-shot container, and the summary and /widget.js are read from activity-api.

Never skipped: when podman cannot run, every test fails and says why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import pytest
import requests
from paceline_dev.launch import free_port

pytestmark = pytest.mark.images

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("PACELINE_IMAGES_DIR", ROOT / ".tools" / "images"))
SERVICES = ("activity-api", "auth-gateway", "token-refresher", "provider-sandbox")
REDIS_IMAGE = os.environ.get("PACELINE_REDIS_IMAGE", "localhost/paceline/redis:test")
ADMIN_PASSWORD = secrets.token_urlsafe(16)
# The chart's pod and container security settings, as podman flags.
RESTRICTED = [
    "--read-only",
    "--user",
    "10001:10001",
    "--cap-drop=ALL",
    "--security-opt",
    "no-new-privileges",
]


def tmpfs(path: str) -> list[str]:
    """The chart's emptyDir (sizeLimit 64Mi) as a tmpfs; U=true gives it to the container's
    user, as the pod's fsGroup (10001) does for an emptyDir."""
    return ["--mount", f"type=tmpfs,destination={path},tmpfs-size=64m,U=true"]


TMP = tmpfs("/tmp")
PROMETHEUS_TMP = tmpfs("/tmp/prometheus")


def app_version() -> str:
    for line in (ROOT / "charts" / "paceline" / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError("Chart.yaml has no appVersion")


TAG = os.environ.get("PACELINE_IMAGE_TAG") or app_version()


def image(service: str) -> str:
    return f"localhost/paceline/{service}:{TAG}"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if (STATE / "containers.conf").is_file():  # written by tools/images.sh (runc, ulimits)
        env["CONTAINERS_CONF"] = str(STATE / "containers.conf")
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result


def wait_http(url: str, timeout: float = 60.0) -> float:
    """Seconds until ``url`` answers 200; fails with the last error."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return time.monotonic() - started
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f}s ({last})")


@dataclass
class Stack:
    prefix: str
    network: str
    ports: dict[str, int] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)
    client_id: str = "12345"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(16))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def run(self, name: str, *args: str, port: int | None = None) -> None:
        container = f"{self.prefix}-{name}"
        publish = ["-p", f"127.0.0.1:{self.ports[name]}:{port}"] if port else []
        podman(
            "run",
            "--detach",
            "--name",
            container,
            "--network",
            self.network,
            "--network-alias",
            name,
            *RESTRICTED,
            *publish,
            *args,
        )
        self.containers.append(container)

    def env(self) -> list[str]:
        """What the chart's ConfigMap and Secrets give activity-api, auth-gateway and the
        token-refresher (PACELINE_SECRET_BACKEND=none: no Kubernetes API here)."""
        values = {
            "PACELINE_REDIS_URL": "redis://redis:6379/0",
            "PACELINE_STRAVA_BASE_URL": "http://sandbox:8090",
            "PACELINE_STRAVA_CLIENT_ID": self.client_id,
            "PACELINE_STRAVA_CLIENT_SECRET": self.client_secret,
            "PACELINE_SECRET_BACKEND": "none",
            "PACELINE_LOG_FORMAT": "json",
            "PACELINE_WEBHOOK_VERIFY_TOKEN": secrets.token_urlsafe(16),
            "GUNICORN_WORKERS": "2",
        }
        return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]

    def logs(self) -> str:
        out = []
        for container in self.containers:
            result = podman("logs", "--tail", "40", container, check=False)
            out.append(f"--- {container}\n{result.stdout}{result.stderr}")
        return "\n".join(out)


@pytest.fixture(scope="module")
def engine() -> None:
    if shutil.which("podman") is None:
        pytest.fail(
            "podman is not installed: run `make test-images` (tools/images.sh installs it)",
            pytrace=False,
        )
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        pytest.fail(f"podman cannot run here: {info.stderr.strip()}", pytrace=False)
    missing = [
        name
        for name in (*map(image, SERVICES), REDIS_IMAGE)
        if podman("image", "exists", name, check=False).returncode != 0
    ]
    if missing:
        pytest.fail(f"images missing ({', '.join(missing)}): run `make images`", pytrace=False)


@pytest.fixture(scope="module")
def stack(engine: None) -> Iterator[Stack]:
    prefix = f"paceline-test-{secrets.token_hex(3)}"
    s = Stack(prefix=prefix, network=prefix)
    s.ports = {name: free_port() for name in ("sandbox", "activity-api", "auth-gateway")}
    podman("network", "create", s.network)
    try:
        started = time.monotonic()
        s.run("redis", *tmpfs("/data"), REDIS_IMAGE)
        s.run(
            "sandbox",
            *TMP,
            "-e",
            f"SANDBOX_CLIENT_ID={s.client_id}",
            "-e",
            f"SANDBOX_CLIENT_SECRET={s.client_secret}",
            image("provider-sandbox"),
            # the chart's command (sandbox-deployment.yaml)
            "provider-sandbox",
            "--host",
            "0.0.0.0",  # noqa: S104 - inside the container, published on 127.0.0.1 only
            "--port",
            "8090",
            "--auto-approve",
            port=8090,
        )
        s.started["sandbox"] = wait_http(f"{s.url('sandbox')}/_sandbox/healthz")
        started_services = time.monotonic()
        s.run("activity-api", *TMP, *PROMETHEUS_TMP, *s.env(), image("activity-api"), port=8080)
        s.run(
            "auth-gateway",
            *TMP,
            *PROMETHEUS_TMP,
            *s.env(),
            "-e",
            f"PACELINE_PUBLIC_URL={s.url('auth-gateway')}",
            # the plain password, as the chart's generated admin Secret gives it
            "-e",
            f"PACELINE_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            image("auth-gateway"),
            port=8080,
        )
        for name in ("activity-api", "auth-gateway"):
            wait_http(f"{s.url(name)}/readyz")
            s.started[name] = time.monotonic() - started_services
        s.started["whole stack"] = time.monotonic() - started
        yield s
    except BaseException:
        print(s.logs())
        raise
    finally:
        report(s)
        for container in reversed(s.containers):
            podman("rm", "--force", "--time", "5", container, check=False)
        podman("network", "rm", "--force", s.network, check=False)


def report(s: Stack) -> None:
    """Start times and image sizes (build times are printed by tools/images.sh)."""
    print("\n== image sizes")
    for name in (*map(image, SERVICES), REDIS_IMAGE):
        size = podman("image", "inspect", "--format", "{{.Size}}", name, check=False).stdout
        print(f"  {name:48} {int(size or 0) / 1e6:7.1f} MB")
    print("== start times (podman run until healthy/ready)")
    for name, seconds in s.started.items():
        print(f"  {name:48} {seconds:7.1f} s")


def follow(session: requests.Session, url: str, hosts: dict[str, str]) -> requests.Response:
    """Follow redirects as a browser whose /etc/hosts maps the sandbox's in-network name to
    its published port (what the chart's NOTES ask for: port-forward plus an /etc/hosts line)."""
    for _ in range(10):
        parts = urlsplit(url)
        if parts.netloc in hosts:
            url = urlunsplit(parts._replace(netloc=hosts[parts.netloc]))
        response = session.get(url, allow_redirects=False, timeout=20)
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"too many redirects, last {url}")


def test_services_answer_health_and_readiness(stack: Stack) -> None:
    for name in ("activity-api", "auth-gateway"):
        for path in ("/healthz", "/readyz"):
            response = requests.get(f"{stack.url(name)}{path}", timeout=5)
            assert response.status_code == 200, (name, path, response.text)
    assert requests.get(f"{stack.url('sandbox')}/_sandbox/healthz", timeout=5).ok


def test_gateway_refuses_the_admin_pages_without_the_password(stack: Stack) -> None:
    anonymous = requests.get(f"{stack.url('auth-gateway')}/accounts", timeout=5)
    wrong = requests.get(
        f"{stack.url('auth-gateway')}/accounts", auth=("admin", "not-the-password"), timeout=5
    )
    assert anonymous.status_code == 401
    assert wrong.status_code == 401


def test_athlete_connects_and_the_api_serves_the_summary_and_widget(stack: Stack) -> None:
    gateway = stack.url("auth-gateway")
    hosts = {"sandbox:8090": f"127.0.0.1:{stack.ports['sandbox']}"}
    with requests.Session() as browser:
        browser.auth = ("admin", ADMIN_PASSWORD)
        landed = follow(browser, f"{gateway}/connect/strava", hosts)
        assert landed.status_code == 200, landed.text[:500]
        assert "/callback/strava" in landed.url
        accounts = browser.get(f"{gateway}/accounts", timeout=10)
    assert accounts.status_code == 200
    assert "strava" in accounts.text

    summary = requests.get(f"{stack.url('activity-api')}/v1/strava/summary", timeout=30)
    assert summary.status_code == 200, summary.text[:500]
    body = summary.json()
    assert body.get("athlete"), body
    widget = requests.get(f"{stack.url('activity-api')}/widget.js", timeout=10)
    assert widget.status_code == 200
    assert "javascript" in widget.headers["Content-Type"]
    assert "paceline-activity" in widget.text


def test_token_refresher_runs_once_and_exits_zero(stack: Stack) -> None:
    # After the connection above there is a credential; --force refreshes it although it is
    # not due, so the one-shot container really talks to the sandbox and to Redis.
    started = time.monotonic()
    result = podman(
        "run",
        "--rm",
        "--network",
        stack.network,
        *RESTRICTED,
        *TMP,
        *stack.env(),
        image("token-refresher"),
        "token-refresher",
        "--force",
        check=False,
        timeout=180,
    )
    stack.started["token-refresher (one pass, exit)"] = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    finished = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if line.startswith("{") and "refresher pass finished" in line
    ]
    assert finished, result.stderr[-2000:]
    counts = finished[-1].get("counts", {})
    assert counts.get("refreshed", 0) >= 1, counts


def test_containers_run_as_10001_on_a_read_only_root(stack: Stack) -> None:
    container = f"{stack.prefix}-activity-api"
    probe = podman(
        "exec",
        container,
        "python",
        "-c",
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    open('/opt/venv/x', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n",
    )
    assert probe.stdout.split("\n")[:2] == ["10001 10001", "ro 30"]  # 30: EROFS


@pytest.mark.parametrize("service", SERVICES)
def test_images_are_non_root_without_build_tools_or_pip(engine: None, service: str) -> None:
    user = podman("image", "inspect", "--format", "{{.Config.User}}", image(service)).stdout
    assert user.strip() == "10001:10001"
    found = podman(
        "run",
        "--rm",
        *RESTRICTED,
        image(service),
        "python",
        "-c",
        "import importlib.util, shutil\n"
        "print([t for t in ('gcc', 'cc', 'make', 'pip', 'pip3') if shutil.which(t)],"
        " [m for m in ('pip', 'setuptools') if importlib.util.find_spec(m)])",
    ).stdout.strip()
    # (apt-get is part of Debian's base, as in python:3.11-slim, but cannot run as 10001)
    assert found == "[] []", found


def test_the_four_images_share_every_layer_but_their_virtualenv(engine: None) -> None:
    # One Dockerfile: the base and the runtime stage (user, directories) are the same layers in
    # every image, so the images cannot drift; only the service's virtualenv differs.
    layers = {
        service: json.loads(
            podman("image", "inspect", "--format", "{{json .RootFS.Layers}}", image(service)).stdout
        )
        for service in SERVICES
    }
    shared = layers[SERVICES[0]][:-1]
    assert shared
    for service in SERVICES:
        assert layers[service][:-1] == shared, service
    assert len({layers[service][-1] for service in SERVICES}) == len(SERVICES)


def test_gunicorn_starts_without_control_socket_errors(stack: Stack) -> None:
    for name in ("activity-api", "auth-gateway"):
        logs = podman("logs", f"{stack.prefix}-{name}")
        text = logs.stdout + logs.stderr
        assert "Booting worker" in text or "booting worker" in text.lower(), text[-1000:]
        assert "Control server error" not in text, text[-2000:]
        assert ADMIN_PASSWORD not in text
