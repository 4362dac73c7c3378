#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that l7top's build, tests and demo need.
# Idempotent. With --if-missing, apt is touched only when a package is absent;
# --check-build only says (in one line) which build packages are missing.
set -euo pipefail

# What `make` needs to build ./l7top (checked by `deps.sh --check-build`).
BUILD_PKGS=(
	make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config
	libpcap-dev libsqlite3-dev libjansson-dev libcsv-dev
	libncurses-dev libmicrohttpd-dev libssl-dev node-llhttp libnghttp2-dev
)
# What the tests, the demo and the benchmarks add.
PKGS=(
	"${BUILD_PKGS[@]}" sqlite3
	libcmocka-dev libclang-rt-14-dev
	nginx wrk curl tmux python3 openssl iproute2 procps tcpdump jq bpftrace valgrind linux-perf
	prometheus python3-yaml nodejs nghttp2-client python3-h2 python3-grpcio apache2
)

# Prints the packages of "$@" that are not installed, one dpkg-query for all.
missing_of() {
	local installed
	# dpkg-query fails when any package is unknown; its output still counts.
	installed=$({ dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true; } |
		awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }')
	local p
	for p in "$@"; do
		grep -qx -- "$p" <<<"$installed" || echo "$p"
	done
}

# `make` alone: say in one line what to run instead of failing deep in the
# build (the Makefile's object lists come from installed files).
if [[ "${1:-}" == "--check-build" ]]; then
	mapfile -t missing < <(missing_of "${BUILD_PKGS[@]}")
	[[ ${#missing[@]} -eq 0 ]] && exit 0
	echo "l7top: build packages missing (${missing[*]}): run 'sudo make deps'" >&2
	exit 2
fi

mapfile -t missing < <(missing_of "${PKGS[@]}")
if [[ "${1:-}" == "--if-missing" && ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "l7top: installing packages needs root: run 'sudo make deps'" >&2
	exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
# Debian starts the packaged nginx/prometheus services on install; l7top's
# tests and demo run their own instances on loopback, so stop the system ones
# to keep their ports and load out of the measurements.
for svc in nginx prometheus prometheus-node-exporter; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
echo "l7top: dependencies installed"
