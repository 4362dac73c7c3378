#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each cmocka binary given; prints one closing tally line and fails if
# any binary failed or no test ran at all.
set -u
pass=0 fail=0
for bin in "$@"; do
	out=$("$bin" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0}))
	if [[ $rc -ne 0 && ${f:-0} -eq 0 ]]; then fail=$((fail + 1)); echo "FAILED: $bin exited $rc"; fi
done
echo "unit: $pass passed, $fail failed"
[[ $fail -eq 0 && $pass -gt 0 ]]
