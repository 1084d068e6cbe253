#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, staticcheck, and every Go test
# (with the race detector), including the interop and browser tests against
# real peers. Installs what the tests need when it is missing: Debian's
# Chromium and redis-server, the npm packages of each test folder, and
# staticcheck. Servers the tests need are started by the tests themselves on
# loopback, on free ports.
#
# Usage: ./scripts/test.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

# Debian packages the tests drive as real peers.
need_pkgs=()
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# npm packages of every test folder that has a lockfile.
# (bench/ is not part of the test suite: its npm peers are installed by
# bench/run.sh.)
for lock in $(git ls-files '*package-lock.json' | grep -v -e node_modules -e '^bench/' || true); do
	dir=$(dirname "$lock")
	stamp="$dir/node_modules/.package-lock.json"
	if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
		log "npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

log "go vet"
go vet ./...

log "staticcheck"
STATICCHECK_VERSION=v0.8.2
if ! command -v staticcheck >/dev/null 2>&1; then
	GOBIN="$(go env GOPATH)/bin" go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
	export PATH="$(go env GOPATH)/bin:$PATH"
fi
staticcheck ./...

# The benchmark module is separate (it imports our competitors); it must
# at least build and vet.
if [ -f bench/go.mod ]; then
	log "go vet (bench module)"
	# -mod=mod: when the root module's requirements move (bench replaces it
	# with ../), bench/go.mod follows instead of failing the run; commit it.
	(cd bench && go vet -mod=mod ./...)
fi

# Tests that need a peer (Node, Chromium, redis-server) fail instead of
# skipping when TETHER_REQUIRE_PEERS is set: this script has installed them.
export TETHER_REQUIRE_PEERS=1
log "go test -race"
go test -race -count=1 -timeout 15m "$@" ./...
# The frame layer's assembly has a pure-Go twin: test that one too.
log "go test -tags purego (frame layer)"
go test -count=1 -tags purego "$@" ./websocket/frame
log "all tests passed"
