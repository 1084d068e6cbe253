#!/usr/bin/env bash
# Runs the hardening battery (test/attack): every attack on `tether echo`
# and `tether serve` as shipped, at the size of the outside battery that
# found them, and prints the summary table (SECURITY.md explains the
# limits it checks). The regular test suite runs the same tests at a
# smaller size.
#
# Usage: ./scripts/attack.sh [-small] [go test flags...]
#   ./scripts/attack.sh                      # full size
#   ./scripts/attack.sh -small               # the test suite's size
#   ./scripts/attack.sh -run 'Attack[12]'    # some attacks only
set -euo pipefail
cd "$(dirname "$0")/.."

args=(-attack.full)
if [ "${1:-}" = "-small" ]; then
	args=()
	shift
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
go test -count=1 -timeout 30m -v -run '^TestAttack' "$@" ./test/attack -args "${args[@]}" >"$out" 2>&1 || status=$?
# The attacks' own lines, then the table TestMain prints.
grep -E '^(=== RUN|--- (PASS|FAIL)|\s+item[0-9]+_test\.go)' "$out" || true
sed -n '/^Hardening battery/,/^$/p; /^|/p' "$out" | awk '!seen[$0]++'
if [ "$status" -ne 0 ]; then
	echo "attack battery FAILED (go test exit $status); full output:" >&2
	grep -vE '^\|' "$out" | tail -50 >&2
fi
exit "$status"
