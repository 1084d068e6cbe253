// Package socketioe2e holds the end-to-end tests of package socketio
// against the official socket.io-client (4.8.x): in Node (client.mjs) for
// every transport, reconnection, namespaces, middlewares, rooms, acks both
// ways, binary, connection state recovery and the payload limit, and in
// Chromium (browser.mjs, through playwright-core) with the client's browser
// build.
//
// The Go tests start the server in-process on loopback and run the Node
// scripts of this folder, which report as JSON lines on stdout. They need
// `node`, this folder's node_modules (`npm ci`) and /usr/bin/chromium;
// without them the tests skip, unless TETHER_REQUIRE_PEERS is set (as
// ./scripts/test.sh does), and then they fail.
package socketioe2e
