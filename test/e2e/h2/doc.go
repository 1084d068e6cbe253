// Package h2e2e tests WebSockets over HTTP/2 (RFC 8441) against peers that
// are not ours: Debian's Chromium (through playwright-core), which loads a
// page from `tether serve` over HTTPS and opens Socket.IO WebSockets as
// streams of that page's HTTP/2 connection, and Node's own http2 module,
// whose extended CONNECT carries WebSocket frames written by hand to a
// Tether echo server. The npm packages come from this folder's
// package-lock.json (npm ci); the tests skip without them, or fail when
// TETHER_REQUIRE_PEERS is set.
package h2e2e
