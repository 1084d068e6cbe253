// Package cluster holds the end-to-end tests of Tether servers in a Redis
// cluster with Node socket.io servers: a mixed cluster of Tether and Node
// servers on the same adapter, the official socket.io-client connected to
// every server, and Node's @socket.io/redis-emitter next to Tether's.
//
// The Go tests start redis-server (internal/peertest.StartRedis), the
// Tether servers in-process, and the Node scripts of this folder:
// node_server.mjs (a socket.io 4.8 server with @socket.io/redis-adapter,
// its sharded adapter or @socket.io/redis-streams-adapter, optionally
// instrumented by @socket.io/admin-ui, driven by commands on its standard
// input) and node_client.mjs (official clients that report what they
// receive and emit what they are told). Both print JSON lines. They need `node`,
// this folder's node_modules (`npm ci`) and redis-server; without them the
// tests skip, unless TETHER_REQUIRE_PEERS is set (as ./scripts/test.sh
// does), and then they fail.
package cluster
