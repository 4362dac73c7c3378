#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped Prometheus files (packaging/prometheus/): the example config
# and every rule file pass promtool's checks, and the rules' unit tests
# (tests/*.yml, one or more cases for every rule) pass. No root needed.
set -u
cd "$(dirname "$0")/../packaging/prometheus" || exit 1

if ! command -v promtool >/dev/null 2>&1; then
	echo "prom-rules: no promtool (Debian package prometheus): run 'sudo make deps'" >&2
	exit 1
fi
fail=0
run() {
	local out
	if out=$("$@" 2>&1); then
		printf 'ok    %s\n' "$*"
	else
		printf 'FAIL  %s\n%s\n' "$*" "$out"
		fail=1
	fi
}
run promtool check config prometheus.yml
run promtool check rules ./*.rules.yml ./*.alerts.yml
# Every rule has a test of its own: each recorded series is the expr of a
# promql_expr_test, each alert the alertname of an alert_rule_test.
for name in $(sed -n 's/^ *- record: *//p' ./*.rules.yml | sort -u); do
	grep -qE -- "expr: *$name(\{|\s*$)" tests/*.yml || { echo "FAIL  no promql_expr_test of $name"; fail=1; }
done
for name in $(sed -n 's/^ *- alert: *//p' ./*.alerts.yml | sort -u); do
	grep -qE -- "alertname: *$name\s*$" tests/*.yml || { echo "FAIL  no alert_rule_test of $name"; fail=1; }
done
for t in tests/*.yml; do
	run promtool test rules "$t"
done
((fail)) && { echo "prom-rules: failed"; exit 1; }
echo "prom-rules: all passed"
