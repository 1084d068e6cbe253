// Package redis spreads Socket.IO namespaces over several servers through
// Redis, wire-compatible with Node's adapters, so that Tether and Node
// servers can share one cluster:
//
//   - [NewClassicFactory]: @socket.io/redis-adapter 8.3's createAdapter
//     (Redis pub/sub, notepack MessagePack broadcasts, JSON requests); the
//     adapter @socket.io/redis-emitter publishes into, and [Emitter] its
//     Go counterpart. Channels (key "socket.io" by default): key#nsp# for
//     broadcasts, key#nsp#room# for a broadcast to one room,
//     key-request#nsp# for requests, key-response#nsp# and
//     key-response#nsp#uid# for answers; servers are counted with PUBSUB
//     NUMSUB of the request channel, to which each server's namespace
//     subscribes once. Where Node's adapter subscribes to every room with
//     a pattern, a Tether server subscribes to the channels of the rooms
//     it has sockets in (ClassicOptions.SubscribeAllRooms does as Node
//     does; [ClassicAdapter.Settle] waits for a new room's subscription);
//     it subscribes again to all of them after every reconnection; it
//     delivers locally before publishing, through a bounded queue, so a
//     slow Redis never holds up its clients; requests that miss answers
//     return what came with socketio.ErrPartialResult; [ClassicStats]
//     counts what it does. Redis pub/sub keeps nothing: what is published
//     while Redis (or a server's connection to it) is down is lost.
//   - [Sharded]: its createShardedAdapter (Redis 7 sharded pub/sub, the
//     ClusterAdapter protocol of package cluster). Like the streams
//     transport it publishes through cluster.Adapter's bounded queue, in
//     pipelined batches: a slow Redis never holds up local delivery.
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
