#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Refusals: a PID that does not exist, a process that listens on nothing and
# --pidfile files that are missing, empty, not a PID, too long or name no process
# must each end l7top with exit 2 and one line on stderr.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_l7top
it_setup

# Runs l7top (10 s at most) and checks: exit 2, exactly one non-empty line on
# stderr starting with "l7top".
expect_refusal() {
	local what=$1
	shift
	local rc=0
	timeout 10 "$L7TOP" "$@" >"$T/out" 2>"$T/err" || rc=$?
	local lines
	lines=$(grep -c . "$T/err" || true)
	it_log "$what: exit $rc, stderr: $(head -c 200 "$T/err" | tr '\n' '|')"
	[[ $rc -ne 124 ]] || it_fail "$what: l7top still running after 10 s (want exit 2)"
	[[ $rc -eq 2 ]] || { it_show "stderr" "$T/err"; it_fail "$what: exit $rc, want 2"; }
	[[ $lines -eq 1 ]] || { it_show "stderr" "$T/err"; it_fail "$what: $lines lines on stderr, want 1"; }
	grep -q '^l7top' "$T/err" || it_fail "$what: the message does not start with 'l7top'"
}

# A PID that does not exist.
nopid=999999
while kill -0 "$nopid" 2>/dev/null; do nopid=$((nopid + 1)); done
expect_refusal "--pid $nopid (no such process)" --pid "$nopid" --no-tui --interval 1 --db "$T/a.db"

# A process that exists and listens on no TCP port.
sleep 30 &
sleeper=$!
IT_BG_PIDS+=("$sleeper")
expect_refusal "--pid $sleeper (sleep, listens on nothing)" --pid "$sleeper" --no-tui --interval 1 --db "$T/b.db"

# --pidfile: missing, empty, not a PID, too long, a PID that does not exist.
expect_refusal "--pidfile missing" --pidfile "$T/none.pid" --no-tui --no-db
: >"$T/empty.pid"
expect_refusal "--pidfile empty" --pidfile "$T/empty.pid" --no-tui --no-db
echo "nginx" >"$T/word.pid"
expect_refusal "--pidfile not a PID" --pidfile "$T/word.pid" --no-tui --no-db
head -c 100000 /dev/zero | tr '\0' '1' >"$T/long.pid"
expect_refusal "--pidfile too long" --pidfile "$T/long.pid" --no-tui --no-db
echo "$nopid" >"$T/gone.pid"
expect_refusal "--pidfile names no process" --pidfile "$T/gone.pid" --no-tui --no-db
grep -q "no process with PID $nopid, as $T/gone.pid" "$T/err" || it_fail "the line does not name the pidfile"
