#!/usr/bin/env bash
# Builds the web assets of the demo apps (package demo): installs the npm
# packages of demo/web (npm ci, only when node_modules is missing or older
# than the lockfile) and copies the official socket.io-client browser build
# into demo/assets/vendor/, which `go build` then embeds. Idempotent; the
# vendor files are not committed (.gitignore).
#
# Usage: ./scripts/build-web.sh [-optional]
#
# Without npm (or when npm ci fails) it says what to install and fails;
# with -optional (what `make run` uses) it says so and succeeds, and the
# server then serves the demo pages without the client: they show a banner
# saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

optional=false
case "${1:-}" in
-optional) optional=true ;;
"") ;;
*)
	echo "usage: $0 [-optional]" >&2
	exit 2
	;;
esac

web=demo/web
vendor=demo/assets/vendor
stamp="$web/node_modules/.package-lock.json"

# unavailable reports that the client could not be built: an error, or
# with -optional a warning after which the pages are served without it.
unavailable() {
	printf '\nbuild-web.sh: %s\n' "$1" >&2
	printf '  The demo pages need the socket.io browser client from npm (package socket.io-client).\n' >&2
	printf '  Install Node.js 18+ with npm (Debian: sudo apt-get install nodejs npm; macOS: brew install node;\n' >&2
	printf '  others: https://nodejs.org), then run this again (make run does).\n' >&2
	if $optional; then
		if [ -f "$vendor/socket.io.min.js" ]; then
			printf '  Going on with the client copied by an earlier run (%s).\n\n' "$vendor/socket.io.min.js" >&2
		else
			printf '  Going on without it: the demo pages show a banner instead of connecting.\n\n' >&2
		fi
		exit 0
	fi
	exit 1
}

if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
	command -v npm >/dev/null 2>&1 || unavailable "npm not found in PATH."
	printf '==> npm ci in %s\n' "$web" >&2
	(cd "$web" && npm ci --no-audit --no-fund --loglevel=error) ||
		unavailable "npm ci failed in $web (above); it needs the npm registry (registry.npmjs.org, or the one npm is configured with)."
fi

dist="$web/node_modules/socket.io-client/dist"
for f in socket.io.min.js socket.io.min.js.map; do
	if ! cmp -s "$dist/$f" "$vendor/$f"; then
		cp "$dist/$f" "$vendor/$f"
		printf '==> %s/%s\n' "$vendor" "$f" >&2
	fi
done
