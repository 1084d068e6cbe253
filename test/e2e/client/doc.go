// Package cliente2e tests Tether's Go clients against Node: the Socket.IO
// client (socketio/client, its behaviour suite) and the Engine.IO client
// (engineio/client) against Node's socket.io 4.8 and engine.io 6.6
// servers (node_server.mjs), and tether load against both Node and
// tether serve. The npm packages come from this folder's
// package-lock.json (npm ci); the tests skip without them, or fail when
// TETHER_REQUIRE_PEERS is set.
package cliente2e
