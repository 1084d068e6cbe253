// Package interop holds the interoperability tests of the WebSocket engine
// against real peers: Node's `ws` as client of our server and as server for
// our client, Chromium (driven by playwright-core) against our server, and
// the `tether echo` command as a subprocess.
//
// The Go tests start our side in-process on loopback and run the Node
// scripts of this folder, which report what they saw as JSON lines on
// stdout. They need `node`, this folder's node_modules (`npm ci`) and
// /usr/bin/chromium; without them the tests skip, unless
// TETHER_REQUIRE_PEERS is set (as ./scripts/test.sh does), and then they
// fail.
package interop
