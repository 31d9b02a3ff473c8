#!/usr/bin/env bash
# Build paceline's container images: `make images` (and `make test-images`, which runs them).
#
#   tools/images.sh deps     install podman, runc and debootstrap (apt-get) where missing
#   tools/images.sh base     make python:3.11-slim available: the registry's image where a
#                            registry answers, else a stand-in built from Debian (debootstrap)
#   tools/images.sh build    deps + base + the four service images (one Dockerfile at the
#                            repository root, --build-arg SERVICE=<name>) and the test Redis image
#
# With a working `docker` daemon, docker builds the images and nothing is installed. Otherwise
# rootful podman does, configured by .tools/images/containers.conf (CONTAINERS_CONF): runc as
# the runtime (crun fails on hybrid cgroup hosts) and default ulimits low enough for hosts that
# refuse podman's own (nofile 1048576). Images are built with --pull=never (the base is local by
# then) and --format docker (OCI images drop HEALTHCHECK).
#
# The stand-in base: `debootstrap --variant=minbase bookworm` from the Debian mirror apt uses,
# plus Debian's python3 (3.11 on bookworm), venv and pip, tagged
# docker.io/library/python:3.11-slim in local storage only. The host's extra CA certificates
# and pip's index settings are copied in, so pip inside a build reaches the same package index
# as the host. The root filesystem is cached in .tools/images/, so a second run is fast.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${PACELINE_IMAGES_DIR:-$ROOT/.tools/images}
BASE_IMAGE=docker.io/library/python:3.11-slim
SERVICES=(activity-api auth-gateway token-refresher provider-sandbox)
TAG=${PACELINE_IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/paceline/Chart.yaml")}
REDIS_IMAGE=${PACELINE_REDIS_IMAGE:-localhost/paceline/redis:test}
# auto: the registry's python:3.11-slim if it can be pulled, else the stand-in;
# standin / registry force one of them.
BASE_SOURCE=${PACELINE_IMAGES_BASE:-auto}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

say() { echo "images: $*" >&2; }
die() { echo "images: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

use_docker() {
	[ "${PACELINE_CONTAINER_ENGINE:-}" != podman ] && command -v docker >/dev/null \
		&& docker info >/dev/null 2>&1
}

engine() {
	if use_docker; then echo docker; else echo podman; fi
}

write_containers_conf() {
	mkdir -p "$STATE"
	cat >"$STATE/containers.conf" <<-'EOF'
	# Written by tools/images.sh (CONTAINERS_CONF); see the comment at its top.
	[containers]
	default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

	[engine]
	runtime = "runc"
	EOF
}

deps() {
	use_docker && { say "using the docker daemon"; return; }
	local missing=""
	command -v podman >/dev/null || missing+=" podman"
	command -v runc >/dev/null || missing+=" runc"
	command -v debootstrap >/dev/null || missing+=" debootstrap"
	if [ -n "$missing" ]; then
		say "installing$missing (apt-get)"
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
	fi
	[ "$(id -u)" = 0 ] || die "podman runs rootful here: run as root (CI does)"
	write_containers_conf
	export CONTAINERS_CONF="$STATE/containers.conf"
	local out
	if ! out=$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' 2>&1); then
		die "podman cannot run on this machine: $out"
	fi
	say "podman $(podman --version | awk '{print $3}') (runtime, storage: $out)"
}

# The Debian mirror apt is configured with (deb822 .sources or a classic sources.list).
debian_mirror() {
	local mirror
	mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
		| awk '{print $2}' | grep -v -- '-security' | head -1 || true)
	[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -1 || true)
	echo "${mirror:-http://deb.debian.org/debian}"
}

# pip's settings on this host (index, certificate) for pip inside an image build.
pip_setting() {
	local key=$1 env=$2 value=${!2:-}
	if [ -z "$value" ]; then
		value=$(python3 -m pip config list 2>/dev/null \
			| sed -n "s/^global\.$key='\(.*\)'$/\1/p" | head -1 || true)
	fi
	echo "$value"
}

standin_rootfs() {
	local rootfs=$STATE/bookworm-python
	if [ -f "$rootfs/.paceline-complete" ]; then
		say "stand-in root filesystem cached in ${rootfs#"$ROOT"/}"
		echo "$rootfs"
		return
	fi
	local mirror started
	mirror=$(debian_mirror)
	started=$(now)
	say "debootstrap --variant=minbase bookworm from $mirror (once; cached afterwards)"
	rm -rf "$rootfs" && mkdir -p "$rootfs"
	# python3-venv brings ensurepip's pip wheel, which the Dockerfile's `python -m venv` uses;
	# python-is-python3 gives `python`, like the official image.
	debootstrap --variant=minbase \
		--include=python3,python3-venv,python-is-python3,ca-certificates \
		bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
		|| die "debootstrap failed; see $STATE/debootstrap.log"
	# Slim, like python:3.11-slim: no downloaded packages, apt lists, docs, translations.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
		"$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
		"$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
	touch "$rootfs/.paceline-complete"
	say "stand-in root filesystem ready in $(since "$started") s"
	echo "$rootfs"
}

import_standin() {
	local rootfs=$1 started
	started=$(now)
	# The host's extra CA certificates (a TLS-inspecting proxy, a company CA) and pip's index,
	# so that `pip install` inside a build reaches what the host's pip reaches.
	local certs=("$rootfs"/usr/local/share/ca-certificates)
	mkdir -p "${certs[0]}"
	find "${certs[0]}" -mindepth 1 -delete
	if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "${certs[0]}/"
	fi
	chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 \
		|| die "update-ca-certificates failed in the stand-in"
	local index_url
	index_url=$(pip_setting index-url PIP_INDEX_URL)
	{
		echo "# Written by paceline's tools/images.sh for the stand-in python:3.11-slim."
		echo "[global]"
		echo "cert = /etc/ssl/certs/ca-certificates.crt"
		[ -z "$index_url" ] || echo "index-url = $index_url"
	} >"$rootfs/etc/pip.conf"
	# LABEL: what it is, for whoever lists the local images.
	tar -C "$rootfs" --exclude=./.paceline-complete -c . | podman import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'CMD ["python3"]' \
		--change 'LABEL org.paceline.standin=debootstrap-bookworm' \
		- "$BASE_IMAGE" >/dev/null
	say "stand-in $BASE_IMAGE imported in $(since "$started") s"
}

base() {
	local eng
	eng=$(engine)
	if $eng image exists "$BASE_IMAGE" 2>/dev/null || $eng image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		say "$BASE_IMAGE is in local storage"
		return
	fi
	if [ "$BASE_SOURCE" != standin ]; then
		say "pulling $BASE_IMAGE"
		if timeout 120 "$eng" pull -q "$BASE_IMAGE" >/dev/null 2>"$STATE/pull.log"; then
			return
		fi
		[ "$BASE_SOURCE" = auto ] || die "cannot pull $BASE_IMAGE: $(tail -1 "$STATE/pull.log")"
		say "no registry answers ($(tail -1 "$STATE/pull.log" | cut -c1-120)): building a stand-in"
	fi
	[ "$eng" = podman ] || die "the stand-in base is made with podman (no registry for docker)"
	local rootfs
	rootfs=$(standin_rootfs)
	import_standin "$rootfs"
}

# build_one NAME DOCKERFILE LOG [BUILD-ARG...]
build_one() {
	local name=$1 dockerfile=$2 log=$STATE/build-$3.log eng started size
	shift 3
	eng=$(engine)
	started=$(now)
	local args=(build -f "$dockerfile" -t "$name" "$@")
	# podman: the base is local by now (never pull), and keep HEALTHCHECK (docker format);
	# docker uses a local base image as it is and always writes its own format.
	[ "$eng" = podman ] && args+=(--pull=never --format docker)
	"$eng" "${args[@]}" "$ROOT" >"$log" 2>&1 \
		|| { tail -30 "$log" >&2; die "building $name failed"; }
	size=$("$eng" image inspect --format '{{.Size}}' "$name")
	printf 'images: built %-44s in %6.1f s, %4d MB\n' "$name" "$(since "$started")" \
		"$((size / 1000000))" >&2
}

build() {
	deps
	mkdir -p "$STATE"
	use_docker || export CONTAINERS_CONF="$STATE/containers.conf"
	local started
	started=$(now)
	base
	say "base ready in $(since "$started") s"
	for service in "${SERVICES[@]}"; do
		build_one "localhost/paceline/$service:$TAG" "$ROOT/Dockerfile" "$service" \
			--build-arg "SERVICE=$service"
	done
	if [ "${PACELINE_IMAGES_REDIS:-1}" = 1 ]; then
		build_one "$REDIS_IMAGE" "$ROOT/tests/images/redis/Dockerfile" redis
	fi
	say "all images built in $(since "$started") s"
}

mkdir -p "$STATE"
case "${1:-build}" in
	deps) deps ;;
	base) deps; use_docker || export CONTAINERS_CONF="$STATE/containers.conf"; base ;;
	build) build ;;
	*) die "usage: tools/images.sh [deps|base|build]" ;;
esac
