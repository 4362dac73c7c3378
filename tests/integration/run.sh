#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs l7top's integration tests: compare_selftest.py first (checks the
# checker), then every tests/integration/test_*.sh, each in its own bash with
# a time limit. Prints each one's output and result, and ends with
#   integration: N passed, M failed
# Exits non-zero if any failed or none ran.
#
#   bash tests/integration/run.sh              all tests
#   bash tests/integration/run.sh errors mix   only tests whose name contains a word
#
# Environment: L7TOP (binary, default ./l7top), IT_KEEP=1 (keep temp dirs),
# IT_TIMEOUT (seconds per test, default 300).
set -u
cd "$(dirname "$0")/../.." || exit 1

if [[ $(id -u) -ne 0 ]]; then
	echo "integration tests must run as root (they attach BPF and capture packets): run 'sudo make integration'" >&2
	echo "integration: 0 passed, 1 failed"
	exit 1
fi

PY=${PYTHON:-python3}
limit=${IT_TIMEOUT:-300}
pass=0 fail=0
failed=()

wanted() {
	local name=$1 w
	[[ ${#FILTER[@]} -eq 0 ]] && return 0
	for w in "${FILTER[@]}"; do
		[[ $name == *"$w"* ]] && return 0
	done
	return 1
}
FILTER=("$@")

run_one() {
	local name=$1
	shift
	local out start rc secs
	out=$(mktemp /tmp/l7top-it-out.XXXXXX)
	start=$(date +%s)
	printf '=== %s\n' "$name"
	timeout --signal=TERM --kill-after=15 "$limit" "$@" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	sed 's/^/    /' "$out"
	rm -f "$out"
	if [[ $rc -eq 0 ]]; then
		printf '=== PASS %s (%ds)\n\n' "$name" "$secs"
		pass=$((pass + 1))
	else
		[[ $rc -eq 124 ]] && printf '    (timed out after %ds)\n' "$limit"
		printf '=== FAIL %s (exit %d, %ds)\n\n' "$name" "$rc" "$secs"
		fail=$((fail + 1))
		failed+=("$name")
	fi
}

if wanted compare_selftest; then
	run_one compare_selftest "$PY" tests/integration/compare_selftest.py
fi

for t in tests/integration/test_*.sh; do
	[[ -e $t ]] || continue
	name=$(basename "$t" .sh)
	wanted "$name" || continue
	run_one "$name" bash "$t"
done

((fail > 0)) && echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed"
[[ $fail -eq 0 && $pass -gt 0 ]]
