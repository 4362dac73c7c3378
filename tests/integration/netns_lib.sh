# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Network namespaces for the integration tests, on top of lib.sh (source it
# after lib.sh and call ns_setup after it_setup):
#
#   ns_setup                      cleanup of everything below joins lib.sh's exit trap
#   ns_add NAME SUBNET            netns NAME, lo up, a veth pair NAME-h (host side,
#                                 SUBNET.1/24) <-> NAME-n (inside, SUBNET.2/24)
#   ns_nginx NAME DIR PORT        NGINX inside NAME from DIR (lib.sh's config and
#                                 log format, listening on every address at PORT);
#                                 sets NS_LAST_PID to the master's pid (call it
#                                 directly, not in $(...): the cleanup list is
#                                 kept in this shell)
#
# Names and subnets must carry the issue number (l7t16a, 10.216.1) so parallel
# runs never collide; everything made here is removed on exit.

NS_LIST=()
NS_NGINX_PIDS=()
NS_LAST_PID=""

ns_setup() {
	trap 'ns__on_exit $?' EXIT
}

ns__on_exit() {
	local rc=$1 p n
	set +e
	for p in "${NS_NGINX_PIDS[@]}"; do
		kill -QUIT "$p" 2>/dev/null
		it__wait_gone "$p" 50 || kill -KILL "$p" 2>/dev/null
	done
	for n in "${NS_LIST[@]}"; do
		ip link del "$n-h" 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	it__on_exit "$rc"
}

ns_add() {
	local name=$1 net=$2
	ip netns add "$name" || it_fail "cannot create netns $name"
	NS_LIST+=("$name")
	ip link add "$name-h" type veth peer name "$name-n" || it_fail "cannot create veth $name-h"
	ip link set "$name-n" netns "$name"
	ip addr add "$net.1/24" dev "$name-h"
	ip link set "$name-h" up
	ip netns exec "$name" ip addr add "$net.2/24" dev "$name-n"
	ip netns exec "$name" ip link set "$name-n" up
	ip netns exec "$name" ip link set lo up
}

# Server-block body on stdin, like it_nginx_conf.
ns_nginx() {
	local name=$1 dir=$2 port=$3 saved=$T n=50
	mkdir -p "$dir/html" "$dir/tmp"
	chmod 755 "$dir"
	T=$dir
	it_nginx_conf "$port"
	T=$saved
	sed -i "s/listen 127.0.0.1:$port;/listen $port;/" "$dir/nginx.conf"
	ip netns exec "$name" nginx -e "$dir/error.log" -c "$dir/nginx.conf" -p "$dir" \
		-g 'daemon on;' 2>"$dir/start.err" ||
		{ it_show "nginx in $name" "$dir/start.err"; it_fail "nginx did not start in $name"; }
	while ((n-- > 0)); do
		if [[ -s $dir/nginx.pid ]] && [[ $(pgrep -P "$(cat "$dir/nginx.pid")" | wc -l) -ge 2 ]]; then
			NS_LAST_PID=$(cat "$dir/nginx.pid")
			NS_NGINX_PIDS+=("$NS_LAST_PID")
			return 0
		fi
		sleep 0.1
	done
	it_fail "nginx in $name wrote no pid file"
}
