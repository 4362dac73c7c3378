#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad files never hang, never fill the disk, always say what happened.
#
# A real capture (tcpdump on lo while curl and a pipelining client talk to
# NGINX) is turned by hostile_pcaps.py into ~630 hostile files: truncations
# at many offsets, 300 single-bit flips in record headers and 120 in
# payloads, huge and zero lengths, clocks going back, years ahead and
# alternating, bad timestamp fractions, a snaplen of 0xffffffff, empty
# files, pcapng (good, empty, flipped). Each replay (`--read F --no-db
# --json`) runs under `timeout 10` and must end with exit 0 or 1 (as
# expect.tsv says), at most one line on stderr (matching its pattern), no
# more requests than the real file holds (exactly as many where nothing was
# damaged), and never a crash. Every 4th file is also replayed by the
# ASan+UBSan build (make l7top-asan). Then: a directory and a missing path
# (exit 2, one line), SIGTERM in the middle of a long replay (exit 0 at once,
# the last interval shown), --keylog-in /dev/zero and a 100 MB line (exit 1,
# one line, within 5 s).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl tcpdump "$PY" timeout
it_require_l7top
ASAN_L7TOP=$IT_ROOT/build/asan/l7top
[[ -x $ASAN_L7TOP ]] || make -s -C "$IT_ROOT" l7top-asan >/dev/null ||
	it_fail "cannot build $ASAN_L7TOP (make l7top-asan)"
it_setup

# --- a real capture -------------------------------------------------------------
P=$(it_free_port)
it_gen_text "$T/html/page.txt" 6000
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /boom { return 500; }
        location = /api/events { set $l7_discard 1; return 204; }
        location /page.txt { }
EOF
it_nginx_start
json_requests() { sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$1" | awk '{s += $1} END {print s + 0}'; }

# One capture of this test's traffic into $T/real.pcap; sets logged and all.
capture_real() {
	: >"$T/access.log"
	rm -f "$T/tcpdump.err"
	tcpdump -i lo -n -U --immediate-mode -B 32768 -Z root -w "$T/lo.pcap" 2>"$T/tcpdump.err" &
	local td=$! n=100 i urls=() B=http://127.0.0.1:$P
	IT_BG_PIDS+=("$td")
	until grep -q 'listening on' "$T/tcpdump.err" 2>/dev/null; do
		((n-- > 0)) || it_fail "tcpdump did not start"
		sleep 0.1
	done
	for i in $(seq 1 12); do urls+=("$B/users/$i"); done
	curl -sS --max-time 10 "${urls[@]}" "$B/boom" "$B/page.txt" "$B/nope" >/dev/null
	curl -sS --max-time 10 --data-binary @"$T/html/page.txt" "$B/api/events" >/dev/null
	"$PY" "$IT_DIR/client.py" pipeline "$P" "GET /users/40" "GET /users/41" "GET /boom" >/dev/null
	it_wait_log_lines 19 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 19"
	sleep 1                     # tcpdump writes what it read; give it the CPU
	kill -INT "$td"
	wait "$td" 2>/dev/null || true
	# Other agents' loopback traffic is in lo.pcap too: keep this test's port.
	tcpdump -r "$T/lo.pcap" -w "$T/real.pcap" "tcp port $P" 2>/dev/null
	rm -f "$T/lo.pcap"
	logged=$(wc -l <"$T/access.log")
	"$L7TOP" --read "$T/real.pcap" --no-db --json >"$T/real.out" 2>"$T/real.err" ||
		{ it_show "l7top" "$T/real.err"; it_fail "l7top cannot read the real capture"; }
	all=$(json_requests "$T/real.out")
	it_log "real capture: $(stat -c %s "$T/real.pcap") bytes, NGINX logged $logged requests, l7top reads $all ($(grep -h 'dropped by kernel' "$T/tcpdump.err"))"
}
# tcpdump itself may lose packets on a loaded machine: a capture that does
# not hold every request is taken again (l7top reading it is checked below).
for attempt in 1 2 3; do
	capture_real
	[[ $all -eq $logged ]] && break
done
[[ $all -eq $logged ]] || it_fail "the real capture replays to $all requests, NGINX logged $logged (3 tries)"

# --- the corpus ------------------------------------------------------------------
C=$T/corpus
nfiles=$("$PY" "$IT_DIR/hostile_pcaps.py" "$T/real.pcap" "$C")
it_log "$nfiles hostile files"

# check BIN NAME RC PATTERN REQUESTS: one replay, judged (it_fail on a bad
# one). Sets CHK_MS and CHK_RC.
check() {
	local bin=$1 name=$2 want_rc=$3 pat=$4 want_req=$5 rc=0 t0 ms lines got
	t0=$(date +%s%N)
	timeout -k 2 10 "$bin" --read "$C/$name" --no-db --json >"$T/one.out" 2>"$T/one.err" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	lines=$(wc -l <"$T/one.err")
	got=$(json_requests "$T/one.out")
	local bad=""
	((rc == 124 || rc == 137)) && bad="did not end within 10 s"
	((rc >= 128 && rc != 137)) && bad="died of signal $((rc - 128))"
	[[ -z $bad && $want_rc != *$rc* ]] && bad="exit $rc, want $want_rc"
	[[ -z $bad ]] && grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$T/one.err" && bad="sanitizer report"
	[[ -z $bad && $lines -gt 1 ]] && bad="$lines lines on stderr"
	[[ -z $bad && $pat == "-" && $lines -ne 0 ]] && bad="a line on stderr where none is due"
	if [[ -z $bad && $pat != "-" && $pat != "*" ]] && ! grep -qE "$pat" "$T/one.err"; then
		bad="stderr does not match /$pat/"
	fi
	case $want_req in
	all) [[ -z $bad && $got -ne $all ]] && bad="$got requests, want $all" ;;
	-) [[ -z $bad && $got -gt $all ]] && bad="$got requests, more than the $all in the file" ;;
	*) [[ -z $bad && $got -ne $want_req ]] && bad="$got requests, want $want_req" ;;
	esac
	if [[ -n $bad ]]; then
		it_show "$name stderr" "$T/one.err" 5
		it_fail "$(basename "$bin") --read $name: $bad"
	fi
	CHK_MS=$ms CHK_RC=$rc
	# A few cases, as the closing note wants them: what was printed, how long.
	case $name in
	orig.pcap | swapped.pcap | ng.pcapng | ng-empty.pcapng | empty-0.pcap | empty-hdr.pcap | \
		snaplen-ffffffff.pcap | huge-caplen.pcap | huge-wirelen.pcap | zero-all.pcap | \
		time-back.pcap | time-ahead.pcap | time-alternate.pcap | time-frac.pcap | \
		ng-huge-block.pcapng | trunc-000100.pcap | flip-hdr-000.pcap)
		[[ $bin == "$L7TOP" ]] &&
			it_log "$name: exit $rc, $ms ms, $got requests: $(cat "$T/one.err")" ;;
	esac
	return 0
}

max=0 total=0 runs=0 exit0=0 exit1=0 slowest=""
while IFS=$'\t' read -r name rc pat req; do
	check "$L7TOP" "$name" "$rc" "$pat" "$req"
	ms=$CHK_MS got_rc=$CHK_RC
	((ms > max)) && { max=$ms; slowest=$name; }
	total=$((total + ms)) runs=$((runs + 1))
	if ((got_rc == 0)); then exit0=$((exit0 + 1)); else exit1=$((exit1 + 1)); fi
done <"$C/expect.tsv"
it_log "l7top: $runs replays, $exit0 exit 0, $exit1 exit 1, total $total ms, slowest $max ms ($slowest)"

amax=0 aruns=0
while IFS=$'\t' read -r name rc pat req; do
	((aruns++ % 4 == 0)) || continue
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		check "$ASAN_L7TOP" "$name" "$rc" "$pat" "$req"
	((CHK_MS > amax)) && amax=$CHK_MS
done <"$C/expect.tsv"
it_log "ASan+UBSan l7top: $(((aruns + 3) / 4)) replays clean, slowest $amax ms"

# --- paths that are not capture files ----------------------------------------------------
for path in "$T" "$T/no-such.pcap" "$IT_DIR/lib.sh"; do
	rc=0
	"$L7TOP" --read "$path" --no-db --no-tui >/dev/null 2>"$T/one.err" || rc=$?
	[[ $rc -eq 2 && $(wc -l <"$T/one.err") -eq 1 ]] ||
		{ it_show stderr "$T/one.err"; it_fail "--read $path: exit $rc, want 2 and one line"; }
	it_log "--read $path: exit $rc: $(cat "$T/one.err")"
done

# --- SIGTERM in the middle of a long replay -------------------------------------------------
make -s -C "$IT_ROOT" build/bench/pcapgen >/dev/null || it_fail "cannot build bench/pcapgen"
"$IT_ROOT/build/bench/pcapgen" "$T/long.pcap" 3000000 >/dev/null
"$L7TOP" --read "$T/long.pcap" --port 8080 --no-db --json >"$T/long.out" 2>"$T/long.err" &
L=$!
sleep 0.8
t0=$(date +%s%N)
kill -TERM "$L"
rc=0
wait "$L" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
got=$(json_requests "$T/long.out")
it_log "SIGTERM during --read: exit $rc after $ms ms, $got of 3000000 requests shown: $(cat "$T/long.err")"
[[ $rc -eq 0 ]] || it_fail "exit $rc after SIGTERM, want 0"
((ms < 1000)) || it_fail "took $ms ms to stop"
((got > 0 && got < 3000000)) || it_fail "$got requests shown: the replay was not interrupted, or nothing flushed"
grep -q 'stopped by Terminated after [0-9]* packets' "$T/long.err" || it_fail "no 'stopped by' line"
rm -f "$T/long.pcap"

# --- --keylog-in: /dev/zero, a 100 MB line ----------------------------------------------------
head -c 100000000 /dev/zero | tr '\0' 'a' >"$T/bigline.log"
for kl in /dev/zero "$T/bigline.log"; do
	rc=0
	t0=$(date +%s%N)
	timeout -k 1 5 "$L7TOP" --read "$T/real.pcap" --keylog-in "$kl" --no-db --no-tui >/dev/null \
		2>"$T/one.err" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	it_log "--keylog-in $kl: exit $rc after $ms ms: $(cat "$T/one.err")"
	[[ $rc -eq 1 && $(wc -l <"$T/one.err") -eq 1 ]] || it_fail "want exit 1 and one line"
	grep -q 'longer than 4096 bytes' "$T/one.err" || it_fail "the line does not say what is wrong"
done
rm -f "$T/bigline.log"
echo "PASS"
