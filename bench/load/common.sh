# Sourced by the scripts of bench/load: what each of them sets up first.
# Needs OUT; sets OUT to its absolute path, tmp (a directory removed on
# exit), pids (processes killed on exit: add yours), TETHER (built from
# ./cmd/tether into tmp unless given), and the functions log and npm_ci.

log() { printf '==> %s\n' "$*" >&2; }

# npm_ci installs the npm packages of the test folder $1 if it has none.
npm_ci() {
	(cd "$1" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error >&2; })
}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${TETHER:-}" ]; then
	go build -o "$tmp/tether" ./cmd/tether
	TETHER=$tmp/tether
fi
