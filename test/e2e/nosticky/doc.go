// Package nostickye2e tests a cluster of tether serve nodes without sticky
// sessions: three nodes (separate processes, so one can be killed) behind
// a round-robin proxy, and 100 official socket.io-client clients in Node,
// over polling only and with the default upgrade to WebSocket. The npm
// packages come from this folder's package-lock.json (npm ci); the test
// skips without them, or fails when TETHER_REQUIRE_PEERS is set.
package nostickye2e
