"""skaffold.yaml: valid for its apiVersion, builds the four images from the repository
root, and wires values that the chart accepts.

Validated against Skaffold's published schema for the apiVersion, vendored as a fixture
(schemas/README.md gives its source and licence).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.conftest import CHART, REPO, Helm, containers, one

SKAFFOLD = REPO / "skaffold.yaml"
SCHEMA = Path(__file__).parent / "schemas" / "skaffold-v4beta13.schema.json"
IMAGES = {
    "paceline/activity-api": ("activity-api", "activityApi"),
    "paceline/auth-gateway": ("auth-gateway", "gateway"),
    "paceline/token-refresher": ("token-refresher", "tokenRefresher"),
    "paceline/provider-sandbox": ("provider-sandbox", "sandbox"),
}


@pytest.fixture(scope="module")
def skaffold() -> dict[str, Any]:
    return yaml.safe_load(SKAFFOLD.read_text(encoding="utf-8"))


def _errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _apply_patches(document: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-patch `add` operations Skaffold applies for a profile."""
    result = copy.deepcopy(document)
    for patch in patches:
        assert patch["op"] == "add", "only add patches are used"
        parts = patch["path"][1:].split("/")
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in parts]
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list) and last == "-":
            target.append(patch["value"])
        elif isinstance(target, list):
            target.insert(int(last), patch["value"])
        else:
            target[last] = patch["value"]
    return result


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_vendored_schema_is_skaffolds_published_draft7_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "GoogleContainerTools/skaffold" in schema["$comment"]
    assert "Apache License, Version 2.0" in schema["$comment"]
    # the published schema, not a subset: every part of a Skaffold config is described
    for definition in ("SkaffoldConfig", "Artifact", "DockerArtifact", "HelmRelease", "Profile"):
        assert definition in schema["definitions"]


def test_skaffold_yaml_is_the_apiversion_of_the_vendored_schema(skaffold: dict[str, Any]) -> None:
    assert SCHEMA.name == f"skaffold-{skaffold['apiVersion'].split('/')[1]}.schema.json"


def test_skaffold_yaml_validates_against_the_schema(
    schema: dict[str, Any], skaffold: dict[str, Any]
) -> None:
    assert _errors(schema, skaffold) == []
    for profile in skaffold.get("profiles", []):
        assert _errors(schema, _apply_patches(skaffold, profile.get("patches", []))) == []


def test_schema_rejects_a_misspelt_skaffold_key(
    schema: dict[str, Any], skaffold: dict[str, Any]
) -> None:
    for path, key in [
        (("deploy", "helm", "releases", 0), "chartPth"),
        (("build", "artifacts", 0, "docker"), "buildArg"),
    ]:
        broken = copy.deepcopy(skaffold)
        target: Any = broken
        for part in path:
            target = target[part]
        target[key] = "x"
        assert _errors(schema, broken), key


def test_skaffold_uses_a_current_v4beta_api(skaffold: dict[str, Any]) -> None:
    match = re.fullmatch(r"skaffold/v4beta(\d+)", skaffold["apiVersion"])
    assert match and int(match.group(1)) >= 11
    assert skaffold["kind"] == "Config"


def test_skaffold_builds_the_four_images_from_the_repository_root(
    skaffold: dict[str, Any],
) -> None:
    artifacts = {a["image"]: a for a in skaffold["build"]["artifacts"]}
    assert set(artifacts) == set(IMAGES)
    for image, (service, _values_key) in IMAGES.items():
        artifact = artifacts[image]
        assert artifact["context"] == "."
        # the one Dockerfile, its service named by the build arg
        assert artifact["docker"]["dockerfile"] == "Dockerfile"
        assert artifact["docker"]["buildArgs"] == {"SERVICE": service}
        assert (REPO / "services" / service).is_dir()
    assert (REPO / "Dockerfile").is_file()


def test_chart_default_repositories_are_the_built_images(skaffold: dict[str, Any]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    for image, (_service, key) in IMAGES.items():
        assert values[key]["image"]["repository"] == image


def test_set_value_templates_wire_every_built_image(skaffold: dict[str, Any]) -> None:
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert release["chartPath"] == "charts/paceline"
    templates = release["setValueTemplates"]
    for image, (_service, key) in IMAGES.items():
        variable = re.sub(r"[/-]", "_", image)
        assert templates[f"{key}.image.repository"] == f"{{{{.IMAGE_REPO_{variable}}}}}"
        assert templates[f"{key}.image.tag"].startswith(f"{{{{.IMAGE_TAG_{variable}}}}}")


def test_the_chart_accepts_what_skaffold_sets(helm: Helm, skaffold: dict[str, Any]) -> None:
    sandbox = next(p for p in skaffold["profiles"] if p["name"] == "sandbox")
    (release,) = _apply_patches(skaffold, sandbox["patches"])["deploy"]["helm"]["releases"]
    args = []
    for key, template in release["setValueTemplates"].items():
        value = "scrypt:32768:8:1$salt$abc" if "PASSWORD_HASH" in template else ""
        if "IMAGE_REPO" in template:
            value = "localhost:5000/" + key.split(".")[0]
        if "IMAGE_TAG" in template:
            value = "v1-dirty@sha256:" + "b" * 64
        args += ["--set", f"{key}={value}"]
    for key, value in release["setValues"].items():
        args += ["--set", f"{key}={value}"]
    manifests = helm.render("default", *args)
    (container,) = containers(one(manifests, "Deployment", "paceline-sandbox"))
    assert container["image"] == f"localhost:5000/sandbox:v1-dirty@sha256:{'b' * 64}"
