"""The chart's side of issue 12: the webhook consumer runs as its own Deployment, the callback
path secret is generated and kept, and the bundled Redis is bounded (maxmemory, noeviction)
without its password on any command line."""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
from pathlib import Path

from tests.chart.conftest import Helm, containers, env_of, find, one, pod_spec


def _container(manifests, kind: str, name: str) -> dict:
    (container,) = containers(one(manifests, kind, name))
    return container


def test_the_consumer_runs_as_its_own_deployment_and_not_in_api_workers(render) -> None:
    manifests = render("default")
    consumer = one(manifests, "Deployment", "paceline-webhook-consumer")
    container = _container(manifests, "Deployment", "paceline-webhook-consumer")
    assert container["command"][:3] == ["paceline", "webhook", "consume"]
    assert consumer.obj["spec"]["replicas"] == 1
    assert "ports" not in container  # it serves nothing
    api = env_of(_container(manifests, "Deployment", "paceline-activity-api"))
    assert api["PACELINE_WEBHOOK_CONSUMER"]["value"] == "false"
    env = env_of(container)
    for name in (
        "PACELINE_REDIS_PASSWORD",
        "PACELINE_STRAVA_CLIENT_SECRET",
        "PACELINE_WEBHOOK_VERIFY_TOKEN",
        "PACELINE_WEBHOOK_PATH_SECRET",
        "PACELINE_WEBHOOK_COOLDOWN_SECONDS",
    ):
        assert env[name] == api[name], name  # the same settings as the API
    # The same locked-down pod as the others, under activity-api's ServiceAccount.
    spec = pod_spec(consumer)
    assert spec["serviceAccountName"] == "paceline-activity-api"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "webhook-consumer.alive" in " ".join(container[probe]["exec"]["command"])
    assert "/tmp/webhook-consumer.alive" in container["command"]


def test_without_the_consumer_deployment_api_workers_consume(helm: Helm) -> None:
    manifests = helm.render("default", "--set", "webhookConsumer.enabled=false")
    assert not [d for d in find(manifests, "Deployment") if d.name.endswith("webhook-consumer")]
    api = env_of(_container(manifests, "Deployment", "paceline-activity-api"))
    assert api["PACELINE_WEBHOOK_CONSUMER"]["value"] == "true"


def test_the_callback_path_secret_is_generated_and_kept(render) -> None:
    secret = one(render("default"), "Secret", "paceline-webhook-path").obj
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    value = base64.b64decode(secret["data"]["webhook-path-secret"]).decode()
    assert len(value) >= 32 and re.fullmatch(r"[A-Za-z0-9]+", value)
    api = env_of(_container(render("default"), "Deployment", "paceline-activity-api"))
    assert api["PACELINE_WEBHOOK_PATH_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-webhook-path",
        "key": "webhook-path-secret",
    }


def test_the_path_secret_template_reuses_the_value_in_the_cluster() -> None:
    """`helm template` has no cluster, so the lookup branch is checked in the template text:
    an existing Secret's value is written back unchanged, a new one only when none exists."""
    text = (
        Path(__file__).parents[2] / "charts/paceline/templates/webhook-path-secret.yaml"
    ).read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in text
    assert 'dig "data" "webhook-path-secret" "" $existing' in text


def test_redis_is_bounded_with_noeviction(render, helm: Helm) -> None:
    args = _container(render("default"), "StatefulSet", "paceline-redis")["args"]
    assert args[args.index("--maxmemory") + 1] == "160mb"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    bigger = helm.render("default", "--set", "redis.maxmemory=400mb")
    args = _container(bigger, "StatefulSet", "paceline-redis")["args"]
    assert args[args.index("--maxmemory") + 1] == "400mb"


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * {"Mi": 1, "Gi": 1024, "mb": 1e6 / 2**20, "gb": 1e9 / 2**20}[unit]


def test_maxmemory_leaves_headroom_under_the_memory_limit(render) -> None:
    container = _container(render("default"), "StatefulSet", "paceline-redis")
    args = container["args"]
    maxmemory = _mebibytes(args[args.index("--maxmemory") + 1])
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    assert maxmemory <= 0.7 * limit  # AOF rewrite (fork) and client buffers need the rest


def test_the_redis_password_is_on_no_command_line(render) -> None:
    container = _container(render("default"), "StatefulSet", "paceline-redis")
    argv = container["command"] + container["args"]
    assert "--requirepass" not in argv
    assert not any("$(REDIS_PASSWORD)" in part for part in argv)  # Kubernetes would expand it
    script = container["command"][2]
    # The shell's script names the variable; it is expanded only inside the here-document.
    assert "exec redis-server - " in script
    assert 'requirepass "${REDIS_PASSWORD}"' in script.split("<<EOF", 1)[1]


def test_the_redis_start_script_reads_its_password_from_stdin(render, tmp_path: Path) -> None:
    """Run the rendered script with a stand-in redis-server: the password arrives on stdin,
    and is not in the stand-in's arguments."""
    container = _container(render("default"), "StatefulSet", "paceline-redis")
    fake = tmp_path / "redis-server"
    fake.write_text('#!/bin/sh\necho "ARGS: $*"\necho "STDIN: $(cat)"\n')
    fake.chmod(0o755)
    result = subprocess.run(
        [*container["command"], *container["args"]],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "REDIS_PASSWORD": "hunter2-secret"},
        capture_output=True,
        text=True,
        check=True,
    )
    args_line, stdin_line = result.stdout.strip().splitlines()
    assert "hunter2-secret" not in args_line
    assert shlex.split(args_line.removeprefix("ARGS: "))[:1] == ["-"]
    assert stdin_line == 'STDIN: requirepass "hunter2-secret"'
