"""The chart's contract with the services: commands, ports, environment, routing,
the CronJob, the sandbox, Redis (bundled and external), NetworkPolicies, HPA, PDB."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import (
    PROFILES,
    Helm,
    Manifest,
    containers,
    env_of,
    find,
    one,
    pod_spec,
    pod_template,
)

COMMON_ENV = {
    "PACELINE_SECRET_NAMESPACE",
    "PACELINE_REDIS_PASSWORD",
    "PACELINE_STRAVA_CLIENT_ID",
    "PACELINE_STRAVA_CLIENT_SECRET",
}
CONFIG_KEYS = {
    "PACELINE_REDIS_URL",
    "PACELINE_STRAVA_BASE_URL",
    "PACELINE_STRAVA_SCOPES",
    "PACELINE_SECRET_BACKEND",
    "PACELINE_SECRET_NAME",
    "PACELINE_LOG_LEVEL",
}


def _container(manifests: list[Manifest], kind: str, name: str) -> dict:
    (container,) = containers(one(manifests, kind, name))
    return container


def _config(manifests: list[Manifest]) -> dict[str, str]:
    return one(manifests, "ConfigMap", "paceline-config").obj["data"]


def test_activity_api_runs_gunicorn_on_8080_with_its_environment(render) -> None:
    manifests = render("default")
    container = _container(manifests, "Deployment", "paceline-activity-api")
    assert container["command"] == [
        "gunicorn",
        "--config",
        "python:activity_api.gunicorn_conf",
        "activity_api.app:create_app()",
    ]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    env = env_of(container)
    assert env.keys() >= COMMON_ENV
    assert env["PACELINE_PATH_PREFIX"]["value"] == "/api"
    assert env["GUNICORN_WORKERS"]["value"] == "2"
    assert env["GUNICORN_THREADS"]["value"] == "4"
    assert env["PROMETHEUS_MULTIPROC_DIR"]["value"] == "/tmp/prometheus"
    assert env["PACELINE_WEBHOOK_VERIFY_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-activity-api",
        "key": "webhook-verify-token",
    }
    assert env["PACELINE_SECRET_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert container["envFrom"] == [{"configMapRef": {"name": "paceline-config"}}]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/tmp/prometheus": "prometheus-multiproc"}
    volumes = pod_spec(one(manifests, "Deployment", "paceline-activity-api"))["volumes"]
    assert all("emptyDir" in v for v in volumes)


def test_gunicorn_services_drain_before_stopping(render) -> None:
    manifests = render("default")
    for name in ("paceline-activity-api", "paceline-auth-gateway"):
        deployment = one(manifests, "Deployment", name)
        container = _container(manifests, "Deployment", name)
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > 5
        strategy = deployment.obj["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0


def test_config_map_carries_the_shared_settings(render) -> None:
    config = _config(render("default"))
    assert config.keys() >= CONFIG_KEYS
    assert config["PACELINE_REDIS_URL"] == "redis://paceline-redis:6379/0"
    assert config["PACELINE_STRAVA_BASE_URL"] == "https://www.strava.com"
    assert config["PACELINE_STRAVA_SCOPES"] == "read,activity:read_all"
    assert "PACELINE_PRIMARY_ACCOUNT" not in config
    assert "PACELINE_PRIVATE_TOTALS_ACCOUNTS" not in config  # Strava's public totals
    everything = _config(render("everything"))
    assert everything["PACELINE_PRIMARY_ACCOUNT"] == "1234567"
    assert everything["PACELINE_PRIVATE_TOTALS_ACCOUNTS"] == "1234567,7654321"


def test_auth_gateway_gets_its_public_url_admin_hash_and_session_secret(render) -> None:
    manifests = render("default")
    container = _container(manifests, "Deployment", "paceline-auth-gateway")
    assert container["command"] == [
        "gunicorn",
        "--config",
        "python:auth_gateway.gunicorn_conf",
        "auth_gateway.app:create_app()",
    ]
    env = env_of(container)
    assert env.keys() >= COMMON_ENV
    assert env["PACELINE_PATH_PREFIX"]["value"] == "/auth"
    assert env["PACELINE_PUBLIC_URL"]["value"] == "http://localhost:8080"
    assert env["PACELINE_OPEN_SIGNUP"]["value"] == "false"
    assert env["PACELINE_ADMIN_USER"]["value"] == "admin"
    assert env["PACELINE_ALLOWED_ACCOUNTS"]["value"] == ""
    assert "PACELINE_TRUSTED_AUTH_HEADER" not in env
    assert env["PACELINE_ADMIN_PASSWORD_HASH"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-auth-gateway",
        "key": "admin-password-hash",
    }
    assert env["PACELINE_SESSION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-auth-gateway",
        "key": "session-secret",
    }


def test_public_url_follows_the_ingress_host_and_its_tls(render, helm: Helm) -> None:
    env = env_of(_container(render("everything"), "Deployment", "paceline-auth-gateway"))
    assert env["PACELINE_PUBLIC_URL"]["value"] == "https://fit.example.com"
    assert env["PACELINE_ALLOWED_ACCOUNTS"]["value"] == "1234567,7654321"
    assert "PACELINE_TRUSTED_AUTH_HEADER" not in env
    proxied = helm.render(
        "default",
        "--set",
        "gateway.trustedAuthHeader=X-Auth-Request-Email",
        "--set",
        "gateway.trustedProxy.existingSecret=oauth2-proxy-shared",
        "--set",
        "gateway.adminEmails={owner@example.com,ops@example.com}",
    )
    env = env_of(_container(proxied, "Deployment", "paceline-auth-gateway"))
    assert env["PACELINE_TRUSTED_AUTH_HEADER"]["value"] == "X-Auth-Request-Email"
    assert env["PACELINE_ADMIN_EMAILS"]["value"] == "owner@example.com,ops@example.com"
    assert env["PACELINE_TRUSTED_PROXY_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "oauth2-proxy-shared",
        "key": "proxy-secret",
    }
    assert env["PACELINE_TRUSTED_PROXY_SECRET_HEADER"]["value"] == "X-Paceline-Proxy-Secret"
    plain = helm.render(
        "default", "--set", "ingress.enabled=true", "--set", "ingress.hosts={fit.example.org}"
    )
    env = env_of(_container(plain, "Deployment", "paceline-auth-gateway"))
    assert env["PACELINE_PUBLIC_URL"]["value"] == "http://fit.example.org"
    explicit = helm.render("everything", "--set", "gateway.publicUrl=https://x.example/")
    env = env_of(_container(explicit, "Deployment", "paceline-auth-gateway"))
    assert env["PACELINE_PUBLIC_URL"]["value"] == "https://x.example"


def test_cors_origins_are_joined(render) -> None:
    env = env_of(_container(render("everything"), "Deployment", "paceline-activity-api"))
    assert env["PACELINE_CORS_ORIGINS"]["value"] == (
        "https://blog.example.com,https://www.example.com"
    )
    assert env["PACELINE_EXTRA"]["value"] == "1"
    assert env["PACELINE_WEBHOOK_SUBSCRIPTION_ID"]["value"] == "123456"


def test_token_refresher_is_a_bounded_forbid_cronjob(render) -> None:
    cronjob = one(render("default"), "CronJob", "paceline-token-refresher").obj
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/15 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 3
    job = spec["jobTemplate"]["spec"]
    # a failed run stays a failed Job; the next scheduled run retries (the refresher backs off)
    assert job["backoffLimit"] == 0
    assert job["ttlSecondsAfterFinished"] > 0
    assert job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == ["token-refresher"]
    assert env_of(container).keys() >= COMMON_ENV
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(container)


def test_token_refresher_time_zone_and_args(render) -> None:
    cronjob = one(render("everything"), "CronJob", "paceline-token-refresher")
    assert cronjob.obj["spec"]["timeZone"] == "Etc/UTC"
    (container,) = containers(cronjob)
    assert container["args"] == ["--verbose"]


def test_sandbox_replaces_strava_for_every_service(render) -> None:
    manifests = render("sandbox")
    sandbox = _container(manifests, "Deployment", "paceline-sandbox")
    assert sandbox["command"][:6] == [
        "provider-sandbox",
        "--host",
        "0.0.0.0",  # noqa: S104 (the container listens on all its interfaces)
        "--port",
        "8090",
        "--auto-approve",
    ]
    assert sandbox["ports"][0]["containerPort"] == 8090
    sandbox_env = env_of(sandbox)
    assert sandbox_env["SANDBOX_CLIENT_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-sandbox",
        "key": "client-id",
    }
    assert sandbox_env["SANDBOX_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-sandbox",
        "key": "client-secret",
    }
    assert _config(manifests)["PACELINE_STRAVA_BASE_URL"] == "http://paceline-sandbox:8090"
    for kind, name in (
        ("Deployment", "paceline-activity-api"),
        ("Deployment", "paceline-auth-gateway"),
        ("CronJob", "paceline-token-refresher"),
    ):
        env = env_of(_container(manifests, kind, name))
        assert env["PACELINE_STRAVA_CLIENT_ID"]["valueFrom"]["secretKeyRef"]["name"] == (
            "paceline-sandbox"
        )
        assert (
            env["PACELINE_STRAVA_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
            == (sandbox_env["SANDBOX_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"])
        )
    assert (
        pod_spec(one(manifests, "Deployment", "paceline-sandbox"))["automountServiceAccountToken"]
        is False
    )


def test_bundled_redis_is_persistent_authenticated_and_probed(render) -> None:
    manifests = render("default")
    statefulset = one(manifests, "StatefulSet", "paceline-redis").obj
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    # authenticated, with the password fed as configuration on stdin (see test_chart_redis)
    assert 'requirepass "${REDIS_PASSWORD}"' in container["command"][2]
    env = env_of(container)
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-redis",
        "key": "redis-password",
    }
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "redis-cli" in " ".join(container[probe]["exec"]["command"])
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    service = one(manifests, "Service", "paceline-redis").obj
    assert service["spec"]["ports"][0]["port"] == 6379
    services_env = env_of(_container(manifests, "Deployment", "paceline-activity-api"))
    assert services_env["PACELINE_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-redis",
        "key": "redis-password",
    }


def test_redis_without_persistence_uses_an_empty_dir(helm: Helm) -> None:
    manifests = helm.render("default", "--set", "redis.persistence.enabled=false")
    spec = one(manifests, "StatefulSet", "paceline-redis").obj["spec"]
    assert "volumeClaimTemplates" not in spec
    assert spec["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_external_redis_is_wired_from_url_and_existing_secret(render) -> None:
    manifests = render("external-redis")
    assert _config(manifests)["PACELINE_REDIS_URL"] == "rediss://redis.example.internal:6380/0"
    policy = one(manifests, "NetworkPolicy", "paceline-activity-api").obj
    redis_rules = [
        r
        for r in policy["spec"]["egress"]
        if {"port": 6380, "protocol": "TCP"} in r.get("ports", [])
    ]
    assert redis_rules == [
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            "ports": [{"port": 6380, "protocol": "TCP"}],
        }
    ]


def test_external_redis_without_password_sets_none(helm: Helm) -> None:
    manifests = helm.render(
        "default",
        "--set",
        "redis.enabled=false",
        "--set",
        "redis.external.url=redis://r:6379/0",
    )
    env = env_of(_container(manifests, "Deployment", "paceline-activity-api"))
    assert "PACELINE_REDIS_PASSWORD" not in env


def test_ingress_routes_api_and_webhooks_to_activity_api_and_auth_to_the_gateway(render) -> None:
    ingress = one(render("everything"), "Ingress", "paceline").obj
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"secretName": "fit-example-com-tls", "hosts": ["fit.example.com"]}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "fit.example.com"
    routes = {
        p["path"]: (
            p["pathType"],
            p["backend"]["service"]["name"],
            p["backend"]["service"]["port"]["number"],
        )
        for p in rule["http"]["paths"]
    }
    assert routes == {
        "/api": ("Prefix", "paceline-activity-api", 8080),
        "/webhooks": ("Prefix", "paceline-activity-api", 8080),
    }, "the gateway is not behind the public Ingress: it has its own"


def test_the_gateway_has_its_own_ingress_with_its_own_annotations(helm: Helm) -> None:
    manifests = helm.render(
        "everything",
        "--set-string",
        "gateway.ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/auth-url="
        "https://oauth2.example.com/oauth2/auth",
    )
    public = one(manifests, "Ingress", "paceline").obj
    gateway = one(manifests, "Ingress", "paceline-auth-gateway").obj
    assert gateway["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/auth-url": "https://oauth2.example.com/oauth2/auth"
    }
    assert "nginx.ingress.kubernetes.io/auth-url" not in public["metadata"]["annotations"]
    # Unset fields follow the shared ingress values: class, hosts, TLS.
    assert gateway["spec"]["ingressClassName"] == "nginx"
    assert gateway["spec"]["tls"] == public["spec"]["tls"]
    (rule,) = gateway["spec"]["rules"]
    assert rule["host"] == "fit.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/auth"
    assert path["backend"]["service"] == {"name": "paceline-auth-gateway", "port": {"number": 8080}}


def test_the_gateway_can_have_its_own_host_which_its_public_url_follows(helm: Helm) -> None:
    manifests = helm.render(
        "everything",
        "--set",
        "gateway.ingress.hosts={admin.example.com}",
        "--set",
        "gateway.ingress.tls[0].secretName=admin-tls",
        "--set",
        "gateway.ingress.tls[0].hosts={admin.example.com}",
    )
    gateway = one(manifests, "Ingress", "paceline-auth-gateway").obj
    assert [r["host"] for r in gateway["spec"]["rules"]] == ["admin.example.com"]
    public = one(manifests, "Ingress", "paceline").obj
    assert [r["host"] for r in public["spec"]["rules"]] == ["fit.example.com"]
    env = env_of(_container(manifests, "Deployment", "paceline-auth-gateway"))
    assert env["PACELINE_PUBLIC_URL"]["value"] == "https://admin.example.com"
    off = helm.render("everything", "--set", "gateway.ingress.enabled=false")
    assert not find(off, "Ingress", "paceline-auth-gateway")


@pytest.mark.parametrize("profile", PROFILES)
def test_services_select_their_pods_on_a_named_port(render, profile: str) -> None:
    manifests = render(profile)
    workloads = [m for m in manifests if m.kind in {"Deployment", "StatefulSet"}]
    for service in find(manifests, "Service"):
        selector = service.obj["spec"]["selector"]
        matches = [
            w
            for w in workloads
            if selector.items() <= pod_template(w)["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, f"Service {service.name} selects {len(matches)} workloads"
        port_names = {p["name"] for c in containers(matches[0]) for p in c["ports"]}
        for port in service.obj["spec"]["ports"]:
            assert port["targetPort"] in port_names


@pytest.mark.parametrize("profile", PROFILES)
def test_workload_selectors_match_their_pod_labels(render, profile: str) -> None:
    for workload in render(profile):
        if workload.kind not in {"Deployment", "StatefulSet"}:
            continue
        selector = workload.obj["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_template(workload)["metadata"]["labels"].items()


def test_redis_is_reachable_only_from_this_releases_pods(render) -> None:
    policy = one(render("everything"), "NetworkPolicy", "paceline-redis").obj["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["egress"] == []
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/instance": "paceline",
                    "app.kubernetes.io/part-of": "paceline",
                }
            }
        }
    ]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]


def test_service_policies_allow_dns_redis_https_and_the_api_only(render) -> None:
    manifests = render("everything")
    for name in ("paceline-activity-api", "paceline-auth-gateway", "paceline-token-refresher"):
        spec = one(manifests, "NetworkPolicy", name).obj["spec"]
        ports = sorted((p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"])
        assert ports == sorted(
            [(53, "UDP"), (53, "TCP"), (6379, "TCP"), (443, "TCP"), (6443, "TCP")]
        )
    for name in ("paceline-activity-api", "paceline-auth-gateway"):
        http, metrics = one(manifests, "NetworkPolicy", name).obj["spec"]["ingress"]
        assert http["ports"] == [{"port": "http", "protocol": "TCP"}]
        namespaces = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for peer in http["from"]
            if "namespaceSelector" in peer
        }
        assert namespaces == {"ingress-nginx"}, "Prometheus is not let onto the service port"
        assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert metrics["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ], "only Prometheus reaches the metrics port; the ingress controller does not"
    refresher = one(manifests, "NetworkPolicy", "paceline-token-refresher").obj["spec"]
    assert refresher["ingress"] == []


def test_hpa_scales_activity_api_and_takes_over_replicas(render) -> None:
    manifests = render("everything")
    hpa = one(manifests, "HorizontalPodAutoscaler", "paceline-activity-api").obj["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "paceline-activity-api",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    deployment = one(manifests, "Deployment", "paceline-activity-api").obj
    assert "replicas" not in deployment["spec"]


def test_pdbs_select_their_pods(render) -> None:
    manifests = render("everything")
    api = one(manifests, "PodDisruptionBudget", "paceline-activity-api").obj["spec"]
    assert api["maxUnavailable"] == 1 and "minAvailable" not in api
    gateway = one(manifests, "PodDisruptionBudget", "paceline-auth-gateway").obj["spec"]
    assert gateway["minAvailable"] == 1
    for name in ("paceline-activity-api", "paceline-auth-gateway"):
        pdb = one(manifests, "PodDisruptionBudget", name).obj["spec"]["selector"]["matchLabels"]
        labels = pod_template(one(manifests, "Deployment", name))["metadata"]["labels"]
        assert pdb.items() <= labels.items()


def test_topology_spread_defaults_to_the_components_own_pods(render) -> None:
    deployment = one(render("default"), "Deployment", "paceline-activity-api")
    (constraint,) = pod_spec(deployment)["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "kubernetes.io/hostname"
    assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "activity-api"
    )


def test_helm_test_pods_check_readyz_without_curl(render) -> None:
    pods = [
        m
        for m in find(render("default"), "Pod")
        if (m.obj["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"
    ]
    assert {p.name for p in pods} == {"paceline-activity-api-test", "paceline-auth-gateway-test"}
    for pod in pods:
        (container,) = containers(pod)
        assert container["image"] == "paceline/activity-api:0.1.0"
        assert container["command"][:2] == ["python3", "-c"]
        service = pod.name.removesuffix("-test")
        assert f"http://{service}:8080/readyz" in container["command"][2]
        assert pod.obj["spec"]["restartPolicy"] == "Never"


def test_default_policies_admit_common_ingress_controllers_and_monitoring_namespaces(
    render,
) -> None:
    policy = one(render("default"), "NetworkPolicy", "paceline-activity-api").obj["spec"]
    http, metrics = policy["ingress"]

    def namespaces(rule: dict[str, Any]) -> set[str]:
        return {
            name
            for peer in rule["from"]
            for expression in peer.get("namespaceSelector", {}).get("matchExpressions", [])
            for name in expression["values"]
        }

    assert {"ingress-nginx", "traefik", "kube-system"} <= namespaces(http)
    assert "monitoring" not in namespaces(http)
    assert "monitoring" in namespaces(metrics)
    assert "ingress-nginx" not in namespaces(metrics)


@pytest.mark.parametrize("component", ["activity-api", "auth-gateway"])
def test_metrics_have_their_own_port_on_the_pod_and_the_service(render, component: str) -> None:
    manifests = render("default")
    name = f"paceline-{component}"
    container = next(containers(one(manifests, "Deployment", name)))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == 8080 and ports["metrics"] not in (8080, None)
    assert env_of(container)["PACELINE_METRICS_PORT"]["value"] == str(ports["metrics"])
    service_ports = {p["name"]: p for p in one(manifests, "Service", name).obj["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    assert service_ports["metrics"]["port"] == ports["metrics"]
    # The ingress routes only the service port.
    ingress = one(render("everything"), "Ingress", "paceline").obj
    backends = {
        p["backend"]["service"]["port"]["number"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert ports["metrics"] not in backends
