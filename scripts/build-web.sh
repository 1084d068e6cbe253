#!/usr/bin/env bash
# Builds the web assets of the demo apps (package demo): installs the npm
# packages of demo/web (npm ci, only when node_modules is missing or older
# than the lockfile) and copies the official socket.io-client browser build
# into demo/assets/vendor/, which `go build` then embeds. Idempotent; the
# vendor files are not committed (.gitignore).
#
# Usage: ./scripts/build-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."

web=demo/web
vendor=demo/assets/vendor
stamp="$web/node_modules/.package-lock.json"

if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
	printf '==> npm ci in %s\n' "$web" >&2
	(cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
fi

dist="$web/node_modules/socket.io-client/dist"
for f in socket.io.min.js socket.io.min.js.map; do
	if ! cmp -s "$dist/$f" "$vendor/$f"; then
		cp "$dist/$f" "$vendor/$f"
		printf '==> %s/%s\n' "$vendor" "$f" >&2
	fi
done
