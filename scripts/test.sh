#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, staticcheck, and every Go test
# (with the race detector), including the interop and browser tests against
# real peers. Installs what the tests need when it is missing: Debian's
# Chromium, redis-server, Node.js and npm, the npm packages of each test
# folder, and staticcheck. Servers the tests need are started by the tests themselves on
# loopback, on free ports.
#
# Usage: ./scripts/test.sh [extra go test flags]
#        ./scripts/test.sh setup    only install what the tests need, then stop
#
# Needs Go, and for what it installs: Debian or Ubuntu (apt-get), root or
# sudo, and the package registries (Debian's, npm's, Go's module proxy).
# When it cannot install something it stops at once and says what to do;
# on other systems, install the peers yourself (see the README's
# Prerequisites) and it installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# fail stops with a message saying what could not be done and what to do.
fail() {
	printf '\ntest.sh: %s\n' "$1" >&2
	shift
	for line in "$@"; do printf '  %s\n' "$line" >&2; done
	exit 1
}

setup_only=false
if [ "${1:-}" = setup ]; then
	setup_only=true
	shift
fi

command -v go >/dev/null 2>&1 ||
	fail "go not found in PATH." "Install Go 1.26 or newer (https://go.dev/dl/) and run again."

# The peers the tests drive: Chromium (TETHER_CHROMIUM, or Debian's
# /usr/bin/chromium, which the browser tests look for), Node.js and npm
# (the e2e and interop tests run the official clients), redis-server.
chromium=${TETHER_CHROMIUM:-/usr/bin/chromium}
if [ -n "${TETHER_CHROMIUM:-}" ] && [ ! -x "$chromium" ]; then
	fail "TETHER_CHROMIUM is $chromium, which is not an executable file." "Point it at the Chromium or Chrome binary, or unset it to use Debian's chromium."
fi
need_pkgs=()
[ -x "$chromium" ] || need_pkgs+=(chromium)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	missing="${need_pkgs[*]}"
	yourself=(
		"install them yourself and run again: Node.js 18+ with npm, redis-server, and"
		"  Chromium or Chrome with TETHER_CHROMIUM=/path/to/its/binary (macOS: brew install node redis,"
		"  TETHER_CHROMIUM=\"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome\")."
		"Or run only the Go tests: go test -race ./... (a test whose peer is missing skips)."
	)
	command -v apt-get >/dev/null 2>&1 ||
		fail "missing: $missing (Debian package names), and apt-get was not found: this script installs them with apt on Debian or Ubuntu only." "To do: ${yourself[0]}" "${yourself[@]:1}"
	if [ "$(id -u)" = 0 ]; then
		as_root=()
	elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
		as_root=(sudo) # asks for the password on a terminal
	else
		fail "missing: $missing, and installing them needs root: this is not root and sudo is not available (or needs a password without a terminal)." \
			"To do: run as root, or first: sudo apt-get install $missing" "Or ${yourself[@]}"
	fi
	log "installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	${as_root[@]+"${as_root[@]}"} apt-get update -qq ||
		fail "apt-get update failed (above): the Debian package registry (deb.debian.org or your mirror) must be reachable to install $missing." "To do: run again once it is, or ${yourself[@]}"
	${as_root[@]+"${as_root[@]}"} apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
		fail "apt-get install $missing failed (above)." "To do: fix what apt-get reported and run again, or ${yourself[@]}"
	[ -x "$chromium" ] ||
		fail "the chromium package was installed but $chromium is not there (on Ubuntu, chromium is a snap)." "Set TETHER_CHROMIUM to the browser's binary and run again."
fi

# npm packages of every test folder that has a lockfile.
# (bench/ is not part of the test suite: its npm peers are installed by
# bench/run.sh.)
for lock in $(git ls-files '*package-lock.json' | grep -v -e node_modules -e '^bench/' || true); do
	dir=$(dirname "$lock")
	stamp="$dir/node_modules/.package-lock.json"
	if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
		log "npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
			fail "npm ci failed in $dir (above): the npm registry (registry.npmjs.org, or the one npm is configured with) must be reachable." \
				"Run it again once it is; the tests that need these packages skip with go test ./..."
	fi
done

STATICCHECK_VERSION=v0.8.2
if ! command -v staticcheck >/dev/null 2>&1; then
	log "installing staticcheck $STATICCHECK_VERSION"
	GOBIN="$(go env GOPATH)/bin" go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ||
		fail "failed to install staticcheck (above): Go's module proxy (proxy.golang.org, or GOPROXY) must be reachable." \
			"Or install staticcheck $STATICCHECK_VERSION on PATH yourself."
	export PATH="$(go env GOPATH)/bin:$PATH"
fi

if $setup_only; then
	log "everything the tests need is installed"
	exit 0
fi

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
staticcheck ./...

# The library and the binary build everywhere Go does, not only on Linux
# (the direct writes and the poller have Linux and Unix paths, and a
# fallback elsewhere); the test suites themselves need Linux.
for target in windows/amd64 darwin/arm64; do
	log "go build for $target"
	GOOS=${target%/*} GOARCH=${target#*/} go build ./...
done

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
