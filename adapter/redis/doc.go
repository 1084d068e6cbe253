// Package redis spreads Socket.IO namespaces over several servers through
// Redis, wire-compatible with Node's adapters, so that Tether and Node
// servers can share one cluster:
//
//   - [NewClassicFactory]: @socket.io/redis-adapter 8.3's createAdapter
//     (Redis pub/sub, notepack MessagePack broadcasts, JSON requests); the
//     adapter @socket.io/redis-emitter publishes into.
//   - [Sharded]: its createShardedAdapter (Redis 7 sharded pub/sub, the
//     ClusterAdapter protocol of package cluster).
//   - [Streams]: @socket.io/redis-streams-adapter 0.3 (a Redis stream for
//     broadcasts and bulk operations, pub/sub for requests): a Redis blip
//     loses nothing the stream still holds, and connection state recovery
//     works across servers — a client that reconnects to another server
//     gets every packet it missed.
//
// Every server of a cluster, Node or Tether, must use the same adapter
// family with the same key prefix: the families share channel names but
// not their formats.
//
// The Redis client is github.com/redis/rueidis: it pipelines the commands
// of concurrent goroutines on one connection (every broadcast is a PUBLISH
// or an XADD), speaks RESP3, supports sharded pub/sub on Redis Cluster, and
// reconnects and resubscribes on its own.
package redis
