#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `--tls calls` on a host where tracefs is not mounted (many containers and
# minimal hosts): l7top must attach and read HTTPS all the same. l7top runs
# in a private mount namespace with tracefs (and debugfs, which holds a
# second path to it) unmounted, so the host's own mounts never matter; the
# counts must equal NGINX's access log per endpoint.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl openssl unshare "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)
PT=$(it_free_port)
BT=https://127.0.0.1:$PT

it_nginx_conf "$P1" <<EOF
$(tls_nginx_listen "$PT")
        location /users/ { return 200 '{"user":"x"}\n'; }
        location = /health { return 204; }
        location = /boom { return 500; }
EOF
it_nginx_start

# l7top, in place (same pid), in a private mount namespace without tracefs.
cat >"$T/l7top-inner" <<EOF
#!/bin/sh
for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug; do
	umount -l "\$m" 2>/dev/null
done
if [ -n "\$(ls -A /sys/kernel/tracing 2>/dev/null)" ] || [ -e /sys/kernel/debug/tracing/events ]; then
	echo "tracefs still visible" >"$T/tracefs.state"
else
	echo "no tracefs" >"$T/tracefs.state"
fi
exec "$L7TOP" "\$@"
EOF
printf '#!/bin/sh\nexec unshare -m --propagation private %s "$@"\n' "$T/l7top-inner" >"$T/l7top-outer"
chmod 755 "$T/l7top-inner" "$T/l7top-outer"
L7TOP_REAL=$L7TOP
L7TOP=$T/l7top-outer
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" --tls calls
L7TOP=$L7TOP_REAL
[[ $(cat "$T/tracefs.state") == "no tracefs" ]] || it_fail "the test could not hide tracefs from l7top"
mapfile -t W0 < <(tls_workers)
tls_wait_probed "$NGINX_PID" "${W0[@]}"
grep -q 'mode calls' "$T/l7top.err" || it_fail "l7top is not in calls mode"

K=(curl -sSk --max-time 20)
for r in 1 2 3; do
	urls=()
	for i in $(seq 1 10); do urls+=("$BT/users/$((RANDOM % 100 + 1))"); done
	"${K[@]}" "${urls[@]}" "$BT/health" "$BT/boom" "$BT/missing" >/dev/null
	"${K[@]}" -H 'Connection: close' "$BT/users/$r" >/dev/null
done
sleep 2.5
it_l7top_stop
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --counts-only >"$T/cmp.txt" 2>&1 ||
	{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "l7top's counts do not match the access log"; }
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
it_log "no tracefs, calls mode: l7top $got requests, access log $(wc -l <"$T/access.log")"
[[ $got -eq $(wc -l <"$T/access.log") ]] || it_fail "totals differ"
