#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: what l7top costs the server, side by side with its peers.
# A benchmark, not a test: it prints figures and ratios and writes
# bench/RESULTS.md; it asserts nothing.
#
# NGINX with one worker and wrk share this 2-core machine over loopback.
# Configurations alternate (A B C A B C ...) for BENCH_PAIRS rounds; medians
# and round-by-round ratios against the unobserved run of the same round.
#
#   BENCH_PAIRS=3 BENCH_SECONDS=5 make bench
#   BENCH_ONLY="h2 offline" make bench    only these sections (plain, proxy, tls,
#                                         h2, offline, memory, scale), into bench/RESULTS.<sections>.md
#
# Per configuration it prints the ratio to unobserved req/s, the observer's
# CPU time per request (all its threads, /proc/PID/task/*/schedstat, over
# the load run only: loading BPF is not counted), the share of the machine
# left idle during the run and the host's steal (both /proc/stat: steal is
# time a hypervisor gave these CPUs to other guests; a round with it ran on
# a busier machine than its neighbours), and for l7top the bytes that
# crossed to user space per request (packets, plus TLS plaintext in calls mode).
set -uo pipefail
cd "$(dirname "$0")/.."

PAIRS=${BENCH_PAIRS:-3}
SECS=${BENCH_SECONDS:-5}
AUTO_WARMUP=${BENCH_AUTO_WARMUP:-4}   # s of load before --tls auto's measured run
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-bench/RESULTS${ONLY:+.${ONLY// /-}}.md}
section() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }
L7TOP=${BENCH_L7TOP:-$PWD/l7top}   # BENCH_L7TOP: another build, for a before/after
PCAPGEN=$PWD/build/bench/pcapgen
TAP_IN=$PWD/build/bench/tap_in
VIEW_HEAP=$PWD/build/bench/view_heap
LIBDIR=/usr/lib/x86_64-linux-gnu

[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (BPF, uprobes): sudo make bench" >&2; exit 1; }
for t in nginx wrk tcpdump openssl python3; do
	command -v $t >/dev/null || { echo "bench: missing $t (sudo make deps)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/l7top-bench.XXXXXX)
chmod 755 "$T"
NGINX_PID=""
BACKEND_PID=""
OBS_PID=""
cleanup() {
	[[ -n $OBS_PID ]] && kill -INT "$OBS_PID" 2>/dev/null
	[[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null
	[[ -n $BACKEND_PID ]] && kill -QUIT "$BACKEND_PID" 2>/dev/null
	sleep 0.3
	# BENCH_KEEP=1 leaves the run's files (DBs, l7top's stderr) to read
	if [[ -n ${BENCH_KEEP:-} ]]; then echo "bench: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- the server -----------------------------------------------------------
# Ports free right now (the machine may be shared): ask the kernel.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
TPORT=$(free_port)
H2PORT=$(free_port)    # h2c, prior knowledge
H2TPORT=$(free_port)   # h2 over TLS (ALPN)
BPORT=$(free_port)     # the reverse proxy case's backend
mkdir -p "$T/html" "$T/tmp"
head -c 1048576 /dev/urandom >"$T/html/1m.bin"
head -c 102400 /dev/urandom >"$T/html/100k.bin"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
cat >"$T/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 40000;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 30000; }
http {
    client_body_temp_path $T/tmp/b; proxy_temp_path $T/tmp/p;
    fastcgi_temp_path $T/tmp/f; uwsgi_temp_path $T/tmp/u; scgi_temp_path $T/tmp/s;
    log_format bench '\$request_method \$request_uri \$status';
    access_log $T/access.log bench;
    sendfile on;
    keepalive_requests 1000000;
    upstream bench_backend { server 127.0.0.1:$BPORT; keepalive 32; }
    server {
        listen 127.0.0.1:$PORT;
        listen 127.0.0.1:$TPORT ssl;
        listen 127.0.0.1:$H2PORT http2;
        listen 127.0.0.1:$H2TPORT ssl http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        root $T/html;
        location = /small { return 200 "ok\n"; }
        location ~ ^/ep/ { return 200 "ok\n"; }
        location /px/ {
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
mkdir -p "$T/backend/tmp"
cat >"$T/backend/nginx.conf" <<EOF
worker_processes 1;
pid $T/backend/nginx.pid;
error_log $T/backend/error.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $T/backend/tmp/b; proxy_temp_path $T/backend/tmp/p;
    fastcgi_temp_path $T/backend/tmp/f; uwsgi_temp_path $T/backend/tmp/u; scgi_temp_path $T/backend/tmp/s;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$BPORT;
        location / { return 200 "ok\n"; }
    }
}
EOF
nginx -c "$T/backend/nginx.conf" -p "$T/backend" || { echo "bench: backend nginx did not start" >&2; exit 1; }
nginx -c "$T/nginx.conf" -p "$T" || { echo "bench: nginx did not start" >&2; exit 1; }
sleep 0.5
NGINX_PID=$(cat "$T/nginx.pid")
BACKEND_PID=$(cat "$T/backend/nginx.pid")
worker() { pgrep -P "$NGINX_PID" | head -1; }

# wrk gets private copies of libssl/libcrypto: uprobes live on the library
# file's inode, so wrk's own SSL calls never hit a breakpoint, whichever
# way a configuration attaches.
WRK_EXTRA=()
mkdir -p "$T/wrklib"
cp "$LIBDIR/libssl.so.3" "$LIBDIR/libcrypto.so.3" "$T/wrklib/"
run_wrk() {   # url conns -> "req_per_s p99_ms"
	local url=$1 c=$2 out
	out=$(LD_LIBRARY_PATH=$T/wrklib wrk -t1 -c"$c" -d"${SECS}s" --latency "${WRK_EXTRA[@]}" "$url" 2>&1)
	local rps p99
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
	echo "${rps:-0} ${p99:-0}"
}

# h2load for HTTP/2 URLs ("h2load:URL"): 10 concurrent streams per
# connection. It prints no percentiles, so p99 is its max request time.
run_h2load() {   # url conns -> "req_per_s max_ms"
	local url=$1 c=$2 out
	out=$(LD_LIBRARY_PATH=$T/wrklib h2load -c "$c" -m 10 -t 1 -D "$SECS" "$url" 2>&1)
	local rps mx
	rps=$(awk '/^finished in/ {print $4}' <<<"$out")
	mx=$(awk '$1 == "time" && $3 == "request:" {v=$5; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
	echo "${rps:-0} ${mx:-0}"
}
run_load() {
	if [[ $1 == h2load:* ]]; then run_h2load "${1#h2load:}" "$2"; else run_wrk "$@"; fi
}

# ---- observers ------------------------------------------------------------
L7_RUN=0
start_observer() {   # name
	OBS_PID=""
	case $1 in
	none) ;;
	l7top|l7top-calls|l7top-keys|l7top-auto)
		local mode=""
		[[ $1 == l7top-calls ]] && mode="--tls calls"
		[[ $1 == l7top-keys ]] && mode="--tls keys"
		[[ $1 == l7top-auto ]] && mode="--tls auto"
		L7_RUN=$((L7_RUN + 1))
		# shellcheck disable=SC2086
		"$L7TOP" --pid "$NGINX_PID" --no-tui --interval 1 $mode \
			--db "$T/run$L7_RUN.db" >/dev/null 2>"$T/run$L7_RUN.err" &
		OBS_PID=$!
		for _ in $(seq 100); do grep -q '^l7top: watching' "$T/run$L7_RUN.err" && break; sleep 0.05; done
		sleep 1    # attaching to every worker goes on after the line: not per-request cost
		;;
	tcpdump)
		tcpdump -i lo -w /dev/null -s 262144 "tcp port $PORT" 2>"$T/tcpdump.err" &
		OBS_PID=$!
		sleep 1
		;;
	tap)
		# A packet socket whose filter matches nothing: the kernel's tap
		# alone (on lo, a clone of every packet sent), the ceiling of a
		# packet capture that sees packets on their way out, as tcpdump's.
		tcpdump -i lo -w /dev/null "tcp port 1" 2>"$T/tcpdump.err" &
		OBS_PID=$!
		sleep 1
		;;
	tap-in)
		# The same ignoring packets on their way out: the ceiling of
		# l7top's loopback-only capture (bench/tap_in.c).
		"$TAP_IN" &
		OBS_PID=$!
		sleep 1
		;;
	floor)
		# Empty uprobes on exactly what the calls mode probes, worker only.
		local w lib=$LIBDIR/libssl.so.3
		w=$(worker)
		bpftrace -p "$w" -e "uprobe:$lib:SSL_read {} uretprobe:$lib:SSL_read {}
			uprobe:$lib:SSL_write {} uretprobe:$lib:SSL_write {}" >/dev/null 2>&1 &
		OBS_PID=$!
		sleep 3
		;;
	bpftrace-copy)
		local w lib=$LIBDIR/libssl.so.3
		w=$(worker)
		bpftrace -p "$w" -e "uprobe:$lib:SSL_write { printf(\"%s\\n\", str(arg1, 64)); }
			uprobe:$lib:SSL_read { @buf[tid] = arg1; }
			uretprobe:$lib:SSL_read /@buf[tid] && retval > 0/ { printf(\"%s\\n\", str(@buf[tid], 64)); delete(@buf[tid]); }" \
			>/dev/null 2>&1 &
		OBS_PID=$!
		sleep 3
		;;
	esac
}

stop_observer() {
	[[ -n $OBS_PID ]] || return 0
	kill -INT "$OBS_PID" 2>/dev/null
	wait "$OBS_PID" 2>/dev/null
	OBS_PID=""
}

# CPU time of every thread of pid, ns.
cpu_ns() {
	local f sum=0 ns
	for f in /proc/"$1"/task/*/schedstat; do
		read -r ns _ <"$f" 2>/dev/null && sum=$((sum + ns))
	done
	echo "$sum"
}
# Context switches of pid so far: "voluntary involuntary". How often an
# observer's wake-ups push the NGINX worker off its CPU.
ctx_switches() { awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v+0, n+0}' /proc/"$1"/status 2>/dev/null; }
# "idle total" jiffies of the whole machine (idle + iowait, all).
# idle, all, and steal (time the hypervisor gave this VM's CPUs to others):
# a round with steal ran on a busier host than its neighbours.
cpu_jiffies() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit}' /proc/stat; }

# Bytes l7top run N copied to user space: packets, plus TLS plaintext
# from the calls-mode probes (its exit line says both).
copied_bytes() {
	local line b t
	line=$(grep -m1 'packets captured' "$T/run$1.err")
	b=$(sed -n 's/.*captured (\([0-9]*\) bytes).*/\1/p' <<<"$line")
	t=$(sed -n 's/.*TLS plaintext \([0-9]*\) bytes.*/\1/p' <<<"$line")
	echo $((${b:-0} + ${t:-0}))
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# l7top's own count of one run vs the access log lines of that run.
loss_line() {   # run-number log-lines
	local db=$T/run$1.db seen drops
	seen=$("$L7TOP" query --db "$db" --format csv 2>/dev/null | awk -F, 'NR>1 {s+=$3} END {print s+0}')
	# Requests on the wire l7top did not count as requests: unpaired. For
	# h2 that is the streams reset or cut without a response (h2load -D
	# closes its connections with streams open; NGINX logs them 200, their
	# answers never reached the wire). Not h2_reset: it also counts the
	# reset streams whose response headers were in, which are requests
	# (seen), so seen + h2_reset overshot the log by those (2 of 249,189).
	drops=$(sqlite3 "$db" "select coalesce(sum(kernel_drops),0) + coalesce(sum(tls_drops),0) + coalesce(sum(unpaired),0) from intervals" 2>/dev/null ||
		sqlite3 "$db" "select coalesce(sum(kernel_drops),0) from intervals" 2>/dev/null)
	echo "${seen:-0} ${drops:-0} $2"
}

# bench_series TITLE URL CONNS CONFIG...: alternating rounds, one table.
RESULT_MD=""
bench_series() {
	local title=$1 url=$2 conns=$3
	shift 3
	local configs=("$@") round c
	declare -A rps p99 ratios cpu idle steal bytes csw
	local w
	w=$(worker)
	local losses="" autos=""
	log "$title: ${configs[*]} x $PAIRS rounds of ${SECS}s"
	for round in $(seq "$PAIRS"); do
		local base=""
		for c in "${configs[@]}"; do
			start_observer "$c"
			local before after r c0=0 c1=0 j0 j1 s0 s1 t0 t1 wbefore
			wbefore=$(wc -l <"$T/access.log")
			# --tls auto decides once per run from what it measures in its
			# first seconds: its steady state is what a long watch costs,
			# so it gets the same load, unmeasured, first.
			[[ $c == l7top-auto ]] && SECS=$AUTO_WARMUP run_load "$url" "$conns" >/dev/null
			before=$(wc -l <"$T/access.log")
			[[ -n $OBS_PID ]] && c0=$(cpu_ns "$OBS_PID")
			j0=$(cpu_jiffies)
			s0=$(ctx_switches "$w")
			t0=$(date +%s%N)
			r=$(run_load "$url" "$conns")
			t1=$(date +%s%N)
			s1=$(ctx_switches "$w")
			j1=$(cpu_jiffies)
			[[ -n $OBS_PID ]] && c1=$(cpu_ns "$OBS_PID")
			after=$(wc -l <"$T/access.log")
			sleep 1.2          # let the last interval close before stopping
			stop_observer
			local nreq=$((after - before)) logged=$(($(wc -l <"$T/access.log") - wbefore))
			csw[$c]+="$(awk -v a="$s0" -v b="$s1" -v ns=$((t1 - t0)) 'BEGIN {split(a, x, " "); split(b, y, " "); s = ns / 1e9; printf "%.0f/%.0f", (s > 0 ? (y[1] - x[1]) / s : 0), (s > 0 ? (y[2] - x[2]) / s : 0)}') "
			idle[$c]+="$(awk -v a="$j0" -v b="$j1" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.1f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0)}') "
			steal[$c]+="$(awk -v a="$j0" -v b="$j1" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.1f", (t > 0 ? 100 * (y[3] - x[3]) / t : 0)}') "
			if [[ $c != none ]]; then
				cpu[$c]+="$(awk -v d=$((c1 - c0)) -v n="$nreq" 'BEGIN {printf "%.3f", (n > 0 ? d / n / 1000 : 0)}') "
			fi
			if [[ $c == l7top* ]]; then
				bytes[$c]+="$(awk -v b="$(copied_bytes "$L7_RUN")" -v n="$logged" 'BEGIN {printf "%.0f", (n > 0 ? b / n : 0)}') "
			fi
			rps[$c]+="${r%% *} "
			p99[$c]+="${r##* } "
			[[ $c == none ]] && base=${r%% *}
			if [[ $c != none && -n $base ]]; then
				ratios[$c]+="$(awk -v a="${r%% *}" -v b="$base" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}') "
			fi
			if [[ $c == l7top* ]]; then
				losses+="| $c round $round | $(loss_line "$L7_RUN" "$logged" | awk '{printf "%d | %d | %d | %s", $1, $2, $3, ($1 + $2 == $3 ? "yes" : $1 <= $3 && $3 <= $1 + $2 ? "within the drops" : "NO")}') |"$'\n'
			fi
			log "  round $round $c: ${r%% *} req/s, p99 ${r##* } ms, observer $(awk -v d=$((c1 - c0)) -v n="$nreq" 'BEGIN {printf "%.3f", (n > 0 ? d / n / 1000 : 0)}') µs/request"
			if [[ $c == l7top-auto ]]; then
				autos+="- round $round: $(grep -m1 -o 'tls auto: .*' "$T/run$L7_RUN.err" || echo 'no choice said')"$'\n'
				log "    $(grep -m1 -o 'tls auto: .*' "$T/run$L7_RUN.err")"
			fi
		done
	done
	local md="### $title"$'\n\n'"| configuration | median req/s | median p99 ms | ratio to unobserved, per round | median ratio | observer CPU µs/request | machine idle % | host steal %, per round | bytes to user space/request | NGINX worker switches/s, voluntary/involuntary, per round |"$'\n'"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"$'\n'
	for c in "${configs[@]}"; do
		local mr mp ra mc mi mb
		mr=$(tr ' ' '\n' <<<"${rps[$c]}" | grep . | median)
		mp=$(tr ' ' '\n' <<<"${p99[$c]}" | grep . | median)
		ra=$(tr ' ' '\n' <<<"${ratios[$c]:-}" | grep . | median)
		mc=$(tr ' ' '\n' <<<"${cpu[$c]:-}" | grep . | median)
		mi=$(tr ' ' '\n' <<<"${idle[$c]:-}" | grep . | median)
		mb=$(tr ' ' '\n' <<<"${bytes[$c]:-}" | grep . | median)
		[[ $c == none ]] && ra=1 && mc=-
		[[ $c == l7top* ]] || mb=-
		md+="| $c | $mr | $mp | ${ratios[$c]:-1} | ${ra:-1} | $mc | $mi | ${steal[$c]:-} | $mb | ${csw[$c]:-} |"$'\n'
	done
	if [[ " ${configs[*]} " == *" tap "* ]]; then
		md+=$'\n'"tap: tcpdump on lo with a filter that matches nothing (\`tcp port 1\`): the cost of the kernel's packet tap alone, before any filter keeps a packet, so the best ratio a packet capture that sees packets on their way out (tcpdump's) can reach here. tap-in: the same socket ignoring packets on their way out (\`PACKET_IGNORE_OUTGOING\`, bench/tap_in.c), the best l7top's loopback-only capture (on here: NGINX listens on 127.0.0.1) can reach."$'\n'
	fi
	if [[ -n $autos ]]; then
		md+=$'\n'"l7top-auto is measured after ${AUTO_WARMUP} s of the same load, unmeasured (its choice is made once per run, from its first seconds; its loss check counts them too). What it chose:"$'\n\n'"$autos"
	fi
	if [[ -n $losses ]]; then
		md+=$'\n'"Counted drops: packets the capture ring lost, TLS records lost, and requests l7top saw whose answers never reached the wire (unpaired: for h2, streams cut by the client's close; NGINX logs those it had read, so the log may fall between seen and seen + drops)."$'\n\n'"| l7top run | requests seen | counted drops | access log | seen + drops = log |"$'\n'"| --- | --- | --- | --- | --- |"$'\n'"$losses"
	fi
	RESULT_MD+="$md"$'\n'
	printf '%s\n' "$md"
}

# Bytes l7top copied to user space per request, in its run number $1.
bytes_per_request() {
	local line n b
	line=$(grep '^l7top: .*packets captured' "$T/run$1.err")
	n=$("$L7TOP" query --db "$T/run$1.db" --format csv | awk -F, 'NR>1 {s+=$3} END {print s+0}')
	b=$(sed -n 's/.*(\([0-9]*\) bytes).*/\1/p' <<<"$line")
	awk -v b="${b:-0}" -v n="${n:-0}" 'BEGIN {printf "%.0f", n ? b / n : 0}'
}

write_report() {
	{
		echo "# l7top benchmark results"
		echo
		echo "One run of \`make bench\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
		echo "NGINX $(nginx -v 2>&1 | sed 's/.*\///') with 1 worker, wrk on loopback; $PAIRS alternating rounds of ${SECS} s."
		echo "Ratios compare each observed run with the unobserved run of the same round."
		echo
		printf '%s' "$RESULT_MD"
	} >"$OUT"
	log "wrote $OUT"
}

# ---- 1 and 2: server cost ----------------------------------------------------
if section plain; then
bench_series "Plaintext, small responses (return 200), 16 connections" \
	"http://127.0.0.1:$PORT/small" 16 none l7top tcpdump tap tap-in
small_bytes=$(bytes_per_request "$L7_RUN")

bench_series "Plaintext, 1 MB static file (sendfile), 4 connections" \
	"http://127.0.0.1:$PORT/1m.bin" 4 none l7top tcpdump
# The TLS 100 KB case's counterpart: the 1 MB one is not CPU-bound here
# (a third of the machine idle unobserved), so no observer can cost it.
bench_series "Plaintext, 100 KB static file (sendfile), 4 connections" \
	"http://127.0.0.1:$PORT/100k.bin" 4 none l7top

# bytes copied to user space per request for the 1 MB file
start_observer l7top
r=$(run_wrk "http://127.0.0.1:$PORT/1m.bin" 4)
sleep 1.2
stop_observer
sumline=$(grep '^l7top: .*packets captured' "$T/run$L7_RUN.err")
nreq=$("$L7TOP" query --db "$T/run$L7_RUN.db" --format csv | awk -F, 'NR>1 {s+=$3} END {print s+0}')
bytes=$(sed -n 's/.*(\([0-9]*\) bytes).*/\1/p' <<<"$sumline")
cut=$(sed -n 's/.*(\([0-9]*\) payload bytes not copied).*/\1/p' <<<"$sumline")
per_req=$(awk -v b="${bytes:-0}" -v n="${nreq:-0}" 'BEGIN {printf "%.0f", n ? b / n : 0}')
RESULT_MD+="### Bytes copied to user space, 1 MB file"$'\n\n'"$nreq requests: ${bytes:-?} bytes copied (${per_req} per request); ${cut:-?} payload bytes cut in the kernel. l7top: \`$sumline\`"$'\n\n'
log "1 MB file: $per_req bytes copied per request"
fi

# ---- the reverse proxy ----------------------------------------------------------
# Every request crosses the frontend twice (client side, backend side), and
# l7top follows both (the backend calls are learnt at connect, beside the
# listening port).
if section proxy; then
bench_series "Reverse proxy: NGINX -> NGINX backend (keep-alive upstream), small responses, 16 connections" \
	"http://127.0.0.1:$PORT/px/small" 16 none l7top
proxy_bytes=$(bytes_per_request "$L7_RUN")
proxy_calls=$(sqlite3 "$T/run$L7_RUN.db" "select coalesce(sum(requests),0) from upstream_stats" 2>/dev/null)
proxy_links=$(sqlite3 "$T/run$L7_RUN.db" "select coalesce(sum(linked),0) || ' linked, ' || coalesce(sum(unlinked),0) || ' unlinked, ' || coalesce(sum(by_order),0) || ' by order' from upstream_links" 2>/dev/null)
extra=""
[[ -n ${small_bytes:-} ]] && extra=" (${small_bytes} without the proxy: $((proxy_bytes - small_bytes)) more for the upstream exchange)"
RESULT_MD+="Bytes copied to user space per request through the proxy: ${proxy_bytes}${extra}. Last proxied l7top run: ${proxy_calls:-?} upstream calls seen, ${proxy_links:-?}."$'\n\n'
log "proxy: ${proxy_bytes} bytes copied per request${extra}; $proxy_calls calls, $proxy_links"
fi

# ---- 3: TLS ---------------------------------------------------------------------
# grep reads the whole help (no -q): an early exit would SIGPIPE l7top.
if section tls && "$L7TOP" --help | grep -- '--tls' >/dev/null; then
	modes=(none floor l7top-calls bpftrace-copy)
	"$L7TOP" --help | grep 'keys' >/dev/null && modes+=(l7top-keys)
	command -v bpftrace >/dev/null || modes=(none l7top-calls)
	# --tls auto measures keys mode for a few seconds before it chooses
	# (it says which in its stderr, kept in the run's .err file).
	bench_series "TLS, small responses, keep-alive, 16 connections" \
		"https://127.0.0.1:$TPORT/small" 16 "${modes[@]}" l7top-auto
	bench_series "TLS, 100 KB file, 4 connections" \
		"https://127.0.0.1:$TPORT/100k.bin" 4 "${modes[@]}"
	# One handshake per request: where keys mode pays (a derivation
	# probe hit per secret) and calls mode pays least.
	WRK_EXTRA=(-H 'Connection: close')
	bench_series "TLS, small responses, Connection: close, 8 connections" \
		"https://127.0.0.1:$TPORT/small" 8 none l7top-calls l7top-keys l7top-auto
	WRK_EXTRA=()
fi

# ---- 3b: HTTP/2 (h2load, 10 streams per connection) ------------------------------
if section h2 && command -v h2load >/dev/null; then
	bench_series "HTTP/2 over TLS (h2), small responses, 4 connections x 10 streams" \
		"h2load:https://127.0.0.1:$H2TPORT/small" 4 none l7top-keys
	bench_series "HTTP/2 cleartext (h2c), small responses, 4 connections x 10 streams" \
		"h2load:http://127.0.0.1:$H2PORT/small" 4 none l7top
fi

# ---- 4: collector speed offline ---------------------------------------------------
# best_read PCAP PORTS REQUESTS -> "best_wall_s requests_per_s"
best_read() {
	local best=999 s wall
	for _ in 1 2 3; do
		s=$( { /usr/bin/time -f '%e %U' "$L7TOP" --read "$1" ${2:+--port "$2"} --no-db --interval 3600 >/dev/null; } 2>&1 | tail -1)
		wall=${s%% *}
		best=$(awk -v a="$wall" -v b="$best" 'BEGIN {print (a < b ? a : b)}')
	done
	echo "$best $(awk -v n="$3" -v t="$best" 'BEGIN {printf "%.0f", n / t}')"
}
# An h2c pcap: h2load against NGINX, recorded by tcpdump (bounded: 300k requests).
if section offline && command -v h2load >/dev/null; then
	H2N=${BENCH_H2_REQUESTS:-300000}
	tcpdump -i lo -s 0 -B 32768 -w "$T/h2c.pcap" "tcp port $H2PORT" 2>/dev/null &
	tdp=$!
	sleep 1
	h2load -c 4 -m 20 -t 1 -n "$H2N" "http://127.0.0.1:$H2PORT/small" >/dev/null 2>&1
	sleep 1
	kill -INT "$tdp"
	wait "$tdp" 2>/dev/null
	read -r best rate < <(best_read "$T/h2c.pcap" "$H2PORT" "$H2N")
	psize=$(du -m "$T/h2c.pcap" | cut -f1)
	RESULT_MD+="### Collector speed offline, HTTP/2 (\`l7top --read\`)"$'\n\n'"$H2N h2c requests from h2load (${psize} MB pcap, 4 connections x 20 streams): best of 3 = ${best} s, **${rate} requests/s** on one core."$'\n\n'
	log "offline h2c: $rate requests/s"
fi
if section offline && [[ -x $PCAPGEN ]]; then
	NREQ=${BENCH_PCAP_REQUESTS:-3000000}
	"$PCAPGEN" "$T/offline.pcap" "$NREQ" 100 2>/dev/null
	best=999
	for _ in 1 2 3; do
		s=$( { /usr/bin/time -f '%e %U' "$L7TOP" --read "$T/offline.pcap" --no-db --interval 3600 >/dev/null; } 2>&1 | tail -1)
		wall=${s%% *}
		best=$(awk -v a="$wall" -v b="$best" 'BEGIN {print (a < b ? a : b)}')
	done
	rate=$(awk -v n="$NREQ" -v t="$best" 'BEGIN {printf "%.0f", n / t}')
	psize=$(du -m "$T/offline.pcap" | cut -f1)
	prof=""
	# perf record falls back to a software clock where the PMU is hidden
	# (as on this VM, where perf stat -e instructions is not supported).
	if command -v perf >/dev/null && perf record -q -o "$T/perf.probe" true >/dev/null 2>&1; then
		perf record -q -o "$T/perf.data" -g "$L7TOP" --read "$T/offline.pcap" --no-db --interval 3600 >/dev/null 2>&1
		prof=$(perf report -q -i "$T/perf.data" --no-children --sort symbol -g none 2>/dev/null |
			grep -v '^$' | head -15)
	else
		head -c 20000000 "$T/offline.pcap" >"$T/small.pcap"
		valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$L7TOP" --read "$T/small.pcap" \
			--no-db --interval 3600 >/dev/null 2>&1
		prof=$(callgrind_annotate "$T/cg.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -12)
	fi
	RESULT_MD+="### Collector speed offline (\`l7top --read\`)"$'\n\n'"$NREQ keep-alive requests (${psize} MB pcap, 100 per connection, 8 routes): best of 3 = ${best} s, **${rate} requests/s** on one core (target >= 1,000,000)."$'\n\n''Top costs:'$'\n\n''```'$'\n'"$prof"$'\n''```'$'\n\n'
	log "offline: $rate requests/s"
fi

# ---- 5: memory --------------------------------------------------------------------
# Issue 19's goal workload: 10,000 endpoints that no folding rule merges (the
# leaves of a fan-out-10 path tree four levels deep) x 10,000 connections,
# together; live (wrk -c10000) and offline (the same shape from pcapgen).
# Goal: peak RSS <= 64 MB. The load average goes with every figure: the
# machine may be shared, and a loaded l7top holds more in flight.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# The leaves of a fan-out-10 tree DEPTH levels deep (10^DEPTH endpoints)
# under /ep/ (answered 200), letter words only: no folding rule (ids,
# learned {*} past 16 values) merges them.
tree_lua() {   # depth
	cat <<EOF
local words = {"alpha", "bravo", "charlie", "delta", "echo",
               "foxtrot", "golf", "hotel", "india", "juliet"}
local n, leaves = 0, 10 ^ $1
request = function()
  local i = n % leaves
  n = n + 1
  local p, span = "/ep", leaves / 10
  while span >= 1 do
    p = p .. "/" .. words[math.floor(i / span) % 10 + 1]
    span = span / 10
  end
  return wrk.format("GET", p)
end
EOF
}
if section memory || section scale; then
	# wrk and l7top with enough open files for 10,000 connections (ask
	# for 65536, settle for the hard limit)
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	for d in 1 2 3 4; do tree_lua "$d" >"$T/tree$d.lua"; done
	# the 10 endpoints with a query string never sent twice (a search box,
	# a cache-buster): the route depends on the path alone
	sed 's|return wrk.format("GET", p)|return wrk.format("GET", p .. "?q=" .. n)|' \
		"$T/tree1.lua" >"$T/tree1q.lua"
fi

if section memory; then
peak_rss() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
MEM_ROWS=""
mem_row() {   # title kb [goal]
	local verdict=-
	[[ -n ${3:-} ]] && verdict=$(awk -v k="$2" 'BEGIN {print (k / 1024 <= 64 ? "met" : "NOT met")}')
	MEM_ROWS+="| $1 | $(awk -v k="$2" 'BEGIN {printf "%.1f", k / 1024}') MB | $verdict | $(loadavg) |"$'\n'
	log "memory, $1: $(($2 / 1024)) MB (load $(loadavg))"
}
mem_run() {   # title goal(0/1) l7top-args... ; traffic from $MEM_TRAFFIC
	local title=$1 goal=$2
	shift 2
	L7_RUN=$((L7_RUN + 1))
	"$L7TOP" --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/run$L7_RUN.db" "$@" \
		>/dev/null 2>"$T/run$L7_RUN.err" &
	local pid=$!
	for _ in $(seq 100); do grep -q '^l7top: watching' "$T/run$L7_RUN.err" && break; sleep 0.05; done
	eval "$MEM_TRAFFIC"
	sleep 1.5
	local rss
	rss=$(peak_rss "$pid")
	kill -INT "$pid"
	wait "$pid" 2>/dev/null
	mem_row "$title" "$rss" "$([[ $goal == 1 ]] && echo goal)"
}
MEM_TRAFFIC='LD_LIBRARY_PATH=$T/wrklib wrk -t2 -c10000 -d10s -s "$T/tree4.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1'
mem_run "**goal**: 10,000 endpoints x 10,000 connections together, live (wrk -c10000 over the path tree, 10 s)" 1 --max-endpoints 10000
# The same with the live view (the default): l7top in a detached 120x40
# tmux pane of its own server, quit with q.
mem_run_tui() {   # title goal(0/1) l7top-args... ; traffic from $MEM_TRAFFIC
	local title=$1 goal=$2 sock="l7bench$$" pid="" rss
	shift 2
	L7_RUN=$((L7_RUN + 1))
	# the pane's shell writes its pid, then becomes l7top (exec)
	tmux -L "$sock" new-session -d -x 120 -y 40 \
		"echo \$\$ >'$T/run$L7_RUN.pid'; LANG=C.UTF-8 TERM=tmux-256color exec '$L7TOP' --pid $NGINX_PID --interval 1 --db '$T/run$L7_RUN.db' $* 2>'$T/run$L7_RUN.err'"
	for _ in $(seq 100); do
		pid=$(cat "$T/run$L7_RUN.pid" 2>/dev/null)
		[[ -n $pid && $(tmux -L "$sock" display -p '#{alternate_on}' 2>/dev/null) == 1 ]] && break
		sleep 0.1
	done
	[[ -n $pid ]] || { log "memory, $title: l7top did not start ($(cat "$T/run$L7_RUN.err" 2>/dev/null))"; tmux -L "$sock" kill-server 2>/dev/null; return; }
	sleep 1                # attaching goes on after the screen opens
	eval "$MEM_TRAFFIC"
	sleep 1.5
	rss=$(peak_rss "$pid" 2>/dev/null)
	[[ -n $rss ]] || { log "memory, $title: l7top exited early ($(cat "$T/run$L7_RUN.err" 2>/dev/null))"; tmux -L "$sock" kill-server 2>/dev/null; return; }
	tmux -L "$sock" send-keys q
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	tmux -L "$sock" kill-server 2>/dev/null
	mem_row "$title" "$rss" "$([[ $goal == 1 ]] && echo goal)"
}
mem_run_tui "**goal**: the same with the live view (default, no --no-tui)" 1 --max-endpoints 10000
# The same shape offline, deterministic: every connection open at once,
# each round one request per connection over the 10,000 leaves.
if [[ -x $PCAPGEN ]]; then
	"$PCAPGEN" -e 10000 -c 10000 "$T/ep10k.pcap" 200000 2>/dev/null
	/usr/bin/time -o "$T/ep10k.time" -f '%M' "$L7TOP" --read "$T/ep10k.pcap" --no-tui \
		--interval 1 --max-endpoints 10000 --db "$T/ep10k.db" >/dev/null 2>&1
	mem_row "**goal**: 10,000 endpoints x 10,000 connections together, offline (--read of \`pcapgen -e 10000 -c 10000\`, 200,000 requests, DB on)" \
		"$(tail -1 "$T/ep10k.time")" goal
fi
# The two halves apart, and the endpoint cap under URL scans.
MEM_TRAFFIC='LD_LIBRARY_PATH=$T/wrklib wrk -t2 -c10000 -d8s "http://127.0.0.1:$PORT/small" >/dev/null 2>&1'
mem_run "10,000 concurrent keep-alive connections, one endpoint" 0
MEM_TRAFFIC='wrk -t1 -c32 -d8s -s "$T/tree4.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1'
mem_run "10,000 endpoints (the path tree), 32 connections" 0 --max-endpoints 10000
cat >"$T/paths.lua" <<'EOF'
-- Each request a new path of letters only (digits would fold to {id}).
local n = 0
local function word(i)
  local s = ""
  repeat
    s = s .. string.char(97 + i % 26)
    i = math.floor(i / 26)
  until i == 0
  return s
end
request = function()
  n = n + 1
  return wrk.format("GET", "/ep/" .. word(n % LIMIT + LIMIT))
end
EOF
sed 's/LIMIT/100000/g' "$T/paths.lua" >"$T/p100k.lua"
MEM_TRAFFIC='wrk -t1 -c32 -d4s -s "$T/p100k.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1'
mem_run "URL scan, 100,000 unique paths (cap 2000)" 0
sed 's/LIMIT/1000000/g' "$T/paths.lua" >"$T/p1m.lua"
MEM_TRAFFIC='wrk -t1 -c32 -d20s -s "$T/p1m.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1'
mem_run "URL scan, ~1,000,000 unique paths (cap 2000)" 0
RESULT_MD+="### Memory (peak RSS of l7top, --no-tui unless the row says live view, DB on)"$'\n\n'"Goal (issue 19): <= 64 MB with 10,000 endpoints x 10,000 connections together."$'\n\n''| workload | peak RSS | goal | load average |'$'\n''| --- | --- | --- | --- |'$'\n'"$MEM_ROWS"$'\n'
# The live runs above last seconds; the view's windows grow for 5 minutes.
# view_heap pushes 10,000 endpoints' intervals into the view itself (no
# terminal, no capture): its heap after 12 intervals, 320 (the 5 min window full) and 900
# (15 min: slots out of every window are given back, so no growth).
if [[ -x $VIEW_HEAP ]]; then
	log "memory: live view heap, 10,000 endpoints over 900 intervals (~2 min)"
	VH=$("$VIEW_HEAP" 10000 12 320 900 2>&1)
	log "$VH"
	RESULT_MD+="Live view heap alone (\`build/bench/view_heap\`: 10,000 endpoints, 5 requests of 0.2-20 ms each per 1 s interval, pushed into the view without a terminal):"$'\n\n'"$(sed 's/^/    /' <<<"$VH")"$'\n\n'
fi
fi

# ---- 6: CPU per request against scale ---------------------------------------------
# l7top's CPU (utime + stime of the process, all threads, over the load run
# and the second after it) per request NGINX logged, at 10..10,000
# connections on one endpoint and at 10..10,000 endpoints on 16
# connections. Flat is the goal: no cost grows with either.
if section scale; then
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
SCALE_SECS=${BENCH_SCALE_SECONDS:-4}
SCALE_ROWS=""
HZ=$(getconf CLK_TCK)
scale_run() {   # label wrk-args...
	local label=$1
	shift
	L7_RUN=$((L7_RUN + 1))
	"$L7TOP" --pid "$NGINX_PID" --no-tui --interval 1 --max-endpoints 10000 \
		--db "$T/run$L7_RUN.db" >/dev/null 2>"$T/run$L7_RUN.err" &
	local pid=$! t0 t1 b a seen drops us
	for _ in $(seq 100); do grep -q '^l7top: watching' "$T/run$L7_RUN.err" && break; sleep 0.05; done
	sleep 1                # attaching goes on after the line: not per-request cost
	b=$(wc -l <"$T/access.log")
	t0=$(proc_ticks "$pid")
	LD_LIBRARY_PATH=$T/wrklib wrk -d"${SCALE_SECS}s" "$@" >/dev/null 2>&1
	sleep 1                # what was captured during the run is parsed by now
	t1=$(proc_ticks "$pid")
	a=$(wc -l <"$T/access.log")
	sleep 0.5
	kill -INT "$pid"
	wait "$pid" 2>/dev/null
	read -r seen drops _ < <(loss_line "$L7_RUN" 0)
	us=$(awk -v t=$((t1 - t0)) -v n=$((a - b)) -v hz="$HZ" 'BEGIN {printf "%.2f", n ? t * 1e6 / hz / n : 0}')
	SCALE_ROWS+="| $label | $((a - b)) | $us | $seen | $drops | $(loadavg) |"$'\n'
	log "scale, $label: $((a - b)) requests, $us µs/request (load $(loadavg))"
}
for c in 10 100 1000 10000; do
	scale_run "$c connections, 1 endpoint" -t2 -c"$c" "http://127.0.0.1:$PORT/small"
done
for d in 1 2 3 4; do
	scale_run "$((10 ** d)) endpoints, 16 connections" -t1 -c16 -s "$T/tree$d.lua" "http://127.0.0.1:$PORT/"
done
scale_run "10 endpoints, a new query string each request" -t1 -c16 -s "$T/tree1q.lua" \
	"http://127.0.0.1:$PORT/"
RESULT_MD+="### CPU per request against scale (l7top utime + stime / requests logged)"$'\n\n'"${SCALE_SECS} s of wrk per row. Requests seen by l7top and its counted drops (capture ring, TLS ring, unpaired) say whether it kept up: a run that dropped packets did less work per logged request."$'\n\n''| workload | requests logged | l7top CPU µs/request | requests seen | counted drops | load average |'$'\n''| --- | --- | --- | --- | --- | --- |'$'\n'"$SCALE_ROWS"$'\n'
fi

# ---- write the report ---------------------------------------------------------------
write_report
