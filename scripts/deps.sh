#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that l7top's build, tests and demo need.
# Idempotent. With --if-missing, apt is touched only when a package is absent.
set -euo pipefail

PKGS=(
	make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config
	libpcap-dev libsqlite3-dev sqlite3 libjansson-dev libcsv-dev
	libncurses-dev libmicrohttpd-dev libssl-dev node-llhttp
	libcmocka-dev libclang-rt-14-dev
	nginx wrk curl tmux python3 openssl iproute2 procps tcpdump jq bpftrace valgrind linux-perf
	prometheus nodejs
	libnghttp2-dev nghttp2-client python3-h2 python3-grpcio
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

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
