"""`make demo`: the whole of paceline on localhost, offline, in one command.

Starts Redis (the machine's redis-server, else an embedded Python Redis server), the provider
sandbox with a seeded athlete, auth-gateway and activity-api under gunicorn, connects the demo
athlete through the real OAuth flow (the sandbox auto-approves), runs one refresher pass and
prints what to open. With PACELINE_STRAVA_CLIENT_ID and PACELINE_STRAVA_CLIENT_SECRET set it
uses real Strava instead and asks you to connect in the gateway. Ctrl-C stops everything it
started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis
from paceline_dev import launch
from paceline_dev.sandbox import SandboxClient

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("PACELINE_DEMO_DIR", ROOT / ".paceline" / "demo"))


def say(message: str) -> None:
    print(f"paceline demo: {message}", flush=True)


P = TypeVar("P", bound=launch.Process)


def wait_http(url: str, what: str, timeout: float = 30.0) -> None:
    try:
        launch.wait_until(lambda: launch.http_ok(url), what, timeout, interval=0.2)
    except launch.LaunchError:
        raise SystemExit(
            f"paceline demo: {what} did not become healthy at {url} within {timeout:g}s"
        ) from None


class Supervisor:
    """What the demo started (by :mod:`paceline_dev.launch`, each in its own process group),
    stopped all together on exit."""

    def __init__(self) -> None:
        self.children: list[launch.Process] = []
        self.embedded: Any = None

    def started(self, start: Callable[[], P]) -> P:
        """Keep a process ``start()`` launched; a start that fails ends the demo."""
        try:
            process = start()
        except launch.LaunchError as error:
            raise SystemExit(f"paceline demo: {error}") from None
        self.children.append(process)
        with open(STATE / "pids", "a") as pids:  # lets tests check that nothing is left over
            pids.write(f"{process.pid} {process.name}\n")
        return process

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> launch.Process:
        return self.started(lambda: launch.spawn(name, argv, STATE / f"{name}.log", env))

    def check_alive(self) -> None:
        for process in self.children:
            try:
                process.check_alive()
            except launch.LaunchError:
                raise SystemExit(
                    f"paceline demo: {process.name} exited with {process.popen.returncode}; "
                    f"see {process.log_path}"
                ) from None

    def stop(self) -> None:
        # Reverse start order, one at a time: the services drain before Redis goes away.
        for process in reversed(self.children):
            process.stop(10)
        if self.embedded is not None:
            self.embedded.shutdown()
            self.embedded.server_close()


def start_redis(supervisor: Supervisor, port: int) -> str:
    if shutil.which("redis-server"):
        redis_server = supervisor.started(lambda: launch.start_redis(STATE, port))
        say(f"redis-server on 127.0.0.1:{port}")
        return redis_server.url
    from fakeredis import TcpFakeServer

    embedded = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=embedded.serve_forever, daemon=True).start()
    supervisor.embedded = embedded
    say(f"no redis-server found: embedded Python Redis server on 127.0.0.1:{port}")
    url = f"redis://127.0.0.1:{port}/0"
    try:
        launch.wait_until(redis.Redis.from_url(url).ping, "the embedded Redis server", 10)
    except launch.LaunchError:
        raise SystemExit("paceline demo: Redis did not start") from None
    return url


def encryption_key() -> str:
    """The demo's Fernet key, made once and kept beside its mirror (a new key each run would
    leave the mirror's sealed tokens unreadable), as the Helm chart keeps its own."""
    from cryptography.fernet import Fernet

    path = STATE / "encryption.key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(Fernet.generate_key().decode())
    return path.read_text().strip()


def start_service(supervisor: Supervisor, service: str, port: int, env: dict[str, str]) -> str:
    """``service`` under gunicorn with its production configuration (two workers unless
    GUNICORN_WORKERS says otherwise); its URL once ``/healthz`` answers."""
    env.setdefault("GUNICORN_WORKERS", "2")
    server = supervisor.started(lambda: launch.start_gunicorn(service, env, STATE, port=port))
    say(f"{service} on {server.url}")
    return server.url


def connect_demo_athlete(gateway_url: str, password: str) -> str:
    """Walk the real OAuth flow as the admin's browser would: gateway -> sandbox -> callback."""
    import requests

    with requests.Session() as browser:
        browser.auth = ("admin", password)
        response = browser.get(f"{gateway_url}/connect/strava", timeout=15)
        if response.status_code != 200 or "/callback/strava" not in response.url:
            raise SystemExit(
                f"paceline demo: connecting the demo athlete failed (HTTP {response.status_code}); "
                f"see {STATE}/auth-gateway.log"
            )
        status = browser.get(f"{gateway_url}/accounts", timeout=15)
    accounts = [a.get("account_id") or a.get("account") for a in _accounts(status)]
    return ", ".join(str(a) for a in accounts if a) or "(see the gateway)"


def _accounts(response: Any) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    items = body.get("accounts", []) if isinstance(body, dict) else body
    return [a for a in items if isinstance(a, dict)]


def run_refresher(env: dict[str, str]) -> None:
    say("running one token-refresher pass")
    result = subprocess.run(
        [str(launch.VENV_BIN / "token-refresher")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    counts = "no summary line"
    for line in reversed(result.stderr.splitlines()):
        if "refresher pass finished" in line:
            try:
                counts = json.dumps(json.loads(line).get("counts", {}))
            except ValueError:
                counts = line
            break
    say(f"token-refresher exited {result.returncode}: {counts}")


def subscribe_webhooks(env: dict[str, str], api_url: str) -> None:
    """Ask the sandbox to push activity events to activity-api, as Strava would; the command
    builds the callback URL with its secret path segment (PACELINE_WEBHOOK_PATH_SECRET)."""
    result = subprocess.run(
        [str(launch.VENV_BIN / "paceline"), "webhook", "subscribe"],
        env={**env, "PACELINE_PUBLIC_URL": api_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"paceline demo: webhook subscription failed: {result.stderr.strip()}")
    say(result.stdout.strip() or "webhooks subscribed")


def render_alert_rules(password_hash: str) -> Path:
    """The chart's PrometheusRule, rendered by helm, as a plain Prometheus rules file."""
    import yaml

    helm = ROOT / ".tools" / "bin" / "helm"
    if not helm.exists():
        raise SystemExit(
            "paceline demo: helm is missing; run `make tools` (make demo-monitoring does)"
        )
    rendered = subprocess.run(
        [
            str(helm),
            "template",
            "paceline",
            str(ROOT / "charts" / "paceline"),
            "--namespace",
            "paceline",
            "--set",
            "sandbox.enabled=true",
            "--set-string",
            f"gateway.admin.passwordHash={password_hash}",
            "--set",
            "monitoring.prometheusRule.enabled=true",
            # rendered only where the prometheus-operator API is served
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rule = yaml.safe_load(rendered)
    path = STATE / "prometheus" / "rules.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def start_prometheus(
    supervisor: Supervisor, port: int, targets: dict[str, int], password_hash: str
) -> str:
    """Debian's prometheus, scraping the services with the chart's alert rules loaded. The
    targets carry the labels a ServiceMonitor would give them, so the rules' selectors match."""
    import yaml

    binary = ROOT / ".tools" / "bin" / "prometheus"
    if not binary.exists():
        raise SystemExit("paceline demo: prometheus is missing; run `make tools`")
    rules = render_alert_rules(password_hash)
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": f"paceline-{name}",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{target_port}"],
                        "labels": {"namespace": "paceline", "service": f"paceline-{name}"},
                    }
                ],
            }
            for name, target_port in targets.items()
        ],
    }
    config_path = STATE / "prometheus" / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    supervisor.start(
        "prometheus",
        [
            str(binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={STATE / 'prometheus' / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", "prometheus")
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--gateway-port", type=int, default=8081)
    parser.add_argument("--sandbox-port", type=int, default=8090)
    parser.add_argument("--api-metrics-port", type=int, default=9181)
    parser.add_argument("--gateway-metrics-port", type=int, default=9182)
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument(
        "--monitoring",
        action="store_true",
        help="also run a local Prometheus with the chart's alert rules",
    )
    args = parser.parse_args()

    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "pids").unlink(missing_ok=True)
    real_strava = bool(
        os.environ.get("PACELINE_STRAVA_CLIENT_ID")
        and os.environ.get("PACELINE_STRAVA_CLIENT_SECRET")
    )
    supervisor = Supervisor()

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        redis_url = start_redis(supervisor, launch.pick_port(args.redis_port))
        password = secrets.token_urlsafe(12)
        from werkzeug.security import generate_password_hash

        password_hash = generate_password_hash(password)

        env = {
            **os.environ,
            "PACELINE_REDIS_URL": redis_url,
            "PACELINE_SECRET_BACKEND": "file",
            "PACELINE_SECRET_DIR": str(STATE / "secrets"),
            "PACELINE_LOG_FORMAT": os.environ.get("PACELINE_LOG_FORMAT", "json"),
            "PACELINE_ADMIN_PASSWORD_HASH": password_hash,
            "PACELINE_SESSION_SECRET": secrets.token_urlsafe(32),
            "PACELINE_ENCRYPTION_KEY": os.environ.get("PACELINE_ENCRYPTION_KEY")
            or encryption_key(),
            "PACELINE_WEBHOOK_VERIFY_TOKEN": secrets.token_urlsafe(16),
            "PACELINE_WEBHOOK_PATH_SECRET": secrets.token_urlsafe(32),
            # a yearly goal, so the widget shows its progress bar
            "PACELINE_SUMMARY_GOALS": os.environ.get(
                "PACELINE_SUMMARY_GOALS", '{"run": {"distance_m": 2000000}}'
            ),
        }
        if not real_strava:
            client_id, client_secret = "12345", secrets.token_hex(16)
            sandbox_env = {
                **os.environ,
                "SANDBOX_CLIENT_ID": client_id,
                "SANDBOX_CLIENT_SECRET": client_secret,
            }
            sandbox = supervisor.started(
                lambda: launch.start_sandbox(
                    STATE,
                    sandbox_env,
                    port=launch.pick_port(args.sandbox_port),
                    extra_args=["--auto-approve"],
                )
            )
            sandbox_url = sandbox.url
            say(f"provider sandbox (Strava emulator) on {sandbox_url}")
            env.update(
                PACELINE_STRAVA_BASE_URL=sandbox_url,
                PACELINE_STRAVA_CLIENT_ID=client_id,
                PACELINE_STRAVA_CLIENT_SECRET=client_secret,
                # The sandbox's athlete opts in to honest totals (private activities counted,
                # only sums shown), unless PACELINE_PRIVATE_TOTALS_ACCOUNTS says otherwise.
                PACELINE_PRIVATE_TOTALS_ACCOUNTS=os.environ.get(
                    "PACELINE_PRIVATE_TOTALS_ACCOUNTS",
                    str(SandboxClient.connect(sandbox_url).default_athlete_id),
                ),
            )
        api_port = launch.pick_port(args.api_port)
        gateway_port = launch.pick_port(args.gateway_port)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        api_url = f"http://127.0.0.1:{api_port}"
        api_metrics_port = launch.pick_port(args.api_metrics_port)
        gateway_metrics_port = launch.pick_port(args.gateway_metrics_port)
        # Each service's own external URL (on one host behind an ingress they share one).
        # Webhook events are processed by their own process, as the chart's Deployment does.
        api_env = dict(
            env,
            PACELINE_METRICS_PORT=str(api_metrics_port),
            PACELINE_PUBLIC_URL=api_url,
            PACELINE_WEBHOOK_CONSUMER="false",
        )
        start_service(supervisor, "activity-api", api_port, api_env)
        supervisor.start(
            "webhook-consumer",
            [str(launch.VENV_BIN / "paceline"), "webhook", "consume"],
            dict(env, PACELINE_PUBLIC_URL=api_url),
        )
        gateway_env = dict(
            env, PACELINE_METRICS_PORT=str(gateway_metrics_port), PACELINE_PUBLIC_URL=gateway_url
        )
        start_service(supervisor, "auth-gateway", gateway_port, gateway_env)

        if not real_strava:
            account = connect_demo_athlete(gateway_url, password)
            say(f"connected the sandbox's demo athlete {account} through the OAuth flow")
            run_refresher(env)
            subscribe_webhooks(env, api_url)

        prometheus_url = ""
        if args.monitoring:
            prometheus_url = start_prometheus(
                supervisor,
                launch.pick_port(args.prometheus_port),
                {"activity-api": api_metrics_port, "auth-gateway": gateway_metrics_port},
                password_hash,
            )
            say(f"prometheus on {prometheus_url} with the chart's alert rules")

        print(flush=True)
        print(f"  widget demo   : {api_url}/widget/demo", flush=True)
        print(f"  summary JSON  : {api_url}/v1/strava/summary", flush=True)
        print(f"  auth-gateway  : {gateway_url}/  (user admin, password {password})", flush=True)
        print(
            f"  metrics       : http://127.0.0.1:{api_metrics_port}/metrics  "
            f"http://127.0.0.1:{gateway_metrics_port}/metrics",
            flush=True,
        )
        if prometheus_url:
            print(
                f"  prometheus    : {prometheus_url}/alerts  (rate-limit budget: "
                f"{prometheus_url}/graph?g0.expr=paceline_ratelimit_usage)",
                flush=True,
            )
        if real_strava:
            print("  real Strava: open the gateway, sign in and connect your account", flush=True)
        print(f"  logs          : {STATE}/*.log", flush=True)
        print("\npaceline demo: running; press Ctrl-C to stop", flush=True)
        while True:
            supervisor.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping")
    finally:
        supervisor.stop()
        say("stopped every process it started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
