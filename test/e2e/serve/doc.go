// Package servee2e tests the standalone server (package server, tether
// serve) against the official socket.io-client 4.x in Node: refused
// connections with their reasons, subscribe, presence, publish, the
// backend API and token refresh. The npm packages come from this folder's
// package-lock.json (npm ci); the tests skip without them, or fail when
// TETHER_REQUIRE_PEERS is set.
package servee2e
