#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, for FUZZTIME
# each (default 30s). Targets are found with `go test -list '^Fuzz'`, so a
# new Fuzz function is picked up without touching this script. A crash
# found is written by Go to the package's testdata/fuzz/<FuzzName>/, where
# plain `go test` replays it from then on.
#
# Usage: ./scripts/fuzz.sh [FUZZTIME] [packages...]
#   ./scripts/fuzz.sh              # every target, 30s each
#   ./scripts/fuzz.sh 5m ./websocket/...
# FUZZ_PARALLEL sets the number of fuzzing workers (default: GOMAXPROCS).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

fuzztime=${1:-30s}
[ $# -gt 0 ] && shift
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# `go test -list` prints each package's matching names, then "ok <package>".
list=$(go test -list '^Fuzz' "${pkgs[@]}")
targets=()
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	"ok "*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in ${names[@]+"${names[@]}"}; do targets+=("$pkg $n"); done
		names=()
		;;
	esac
done <<<"$list"

if [ ${#targets[@]} -eq 0 ]; then
	log "no fuzz targets in ${pkgs[*]}"
	exit 1
fi
log "${#targets[@]} fuzz targets, $fuzztime each"

parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")
failed=()
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	log "$name ($pkg)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" ${parallel[@]+"${parallel[@]}"} "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	log "fuzz targets that failed (inputs saved under testdata/fuzz/):"
	printf '    %s\n' "${failed[@]}" >&2
	exit 1
fi
log "all ${#targets[@]} fuzz targets ran for $fuzztime without failure"
