#!/usr/bin/env bash
# Install `promtool` (and `prometheus`, for `make demo-monitoring`) into $(repo)/.tools/bin
# without installing the Prometheus service.
#
# Debian's `prometheus` package carries /usr/bin/promtool and /usr/bin/prometheus. We only download the
# .deb (apt-get download) and unpack it with dpkg-deb -x into a temp dir, so no
# service is installed or started. Runs `apt-get update` once when apt has no
# package lists yet (root is needed for that; otherwise set up apt yourself).
#
# Idempotent: does nothing when promtool is already installed and runs.
# Usage: tools/install-promtool.sh        (TOOLS_BIN overrides the target dir)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="${TOOLS_BIN:-$repo/.tools/bin}"
case "$tools_bin" in /*) ;; *) tools_bin="$repo/$tools_bin" ;; esac

die() { echo "install-promtool: $*" >&2; exit 1; }

if [[ -x "$tools_bin/promtool" ]] && "$tools_bin/promtool" --version >/dev/null 2>&1 \
    && [[ -x "$tools_bin/prometheus" ]]; then
    echo "install-promtool: $("$tools_bin/promtool" --version 2>&1 | head -n1) already in $tools_bin"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this installer needs a Debian/Ubuntu machine"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

sudo_cmd=()
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null; then sudo_cmd=(sudo); fi

if ! apt-cache show prometheus >/dev/null 2>&1; then
    echo "install-promtool: apt has no entry for 'prometheus', running apt-get update"
    "${sudo_cmd[@]}" apt-get update -qq || die "apt-get update failed"
    apt-cache show prometheus >/dev/null 2>&1 || die "apt knows no package 'prometheus' even after apt-get update"
fi

work="$(mktemp -d)"
chmod 0755 "$work"   # apt's _apt sandbox user must be able to write the .deb here
trap 'rm -rf "$work"' EXIT

download() { (cd "$work" && apt-get download -o APT::Sandbox::User=root prometheus >/dev/null); }
if ! download; then
    # Stale package lists point at a .deb the mirror no longer has: refresh them once.
    echo "install-promtool: apt-get download failed, running apt-get update and retrying"
    "${sudo_cmd[@]}" apt-get update -qq || die "apt-get update failed"
    download || die "apt-get download prometheus failed"
fi
deb="$(find "$work" -maxdepth 1 -name 'prometheus_*.deb' | head -n1)"
[[ -n "$deb" ]] || die "no prometheus .deb was downloaded"

dpkg-deb -x "$deb" "$work/root"
[[ -x "$work/root/usr/bin/promtool" ]] || die "$(basename "$deb") has no usr/bin/promtool"

mkdir -p "$tools_bin"
install -m 0755 "$work/root/usr/bin/promtool" "$tools_bin/promtool.new"
mv -f "$tools_bin/promtool.new" "$tools_bin/promtool"
if [[ -x "$work/root/usr/bin/prometheus" ]]; then
    install -m 0755 "$work/root/usr/bin/prometheus" "$tools_bin/prometheus.new"
    mv -f "$tools_bin/prometheus.new" "$tools_bin/prometheus"
fi

"$tools_bin/promtool" --version >/dev/null 2>&1 || die "installed promtool does not run"
echo "install-promtool: $("$tools_bin/promtool" --version 2>&1 | head -n1) installed in $tools_bin (from $(basename "$deb"))"
