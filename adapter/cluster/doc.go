// Package cluster spreads Socket.IO namespaces over several servers with
// the protocol of Node's ClusterAdapter (socket.io-adapter 2.5), on which
// Node's sharded Redis adapter and Redis Streams adapter are built: each
// server of a namespace publishes its broadcasts, bulk operations and
// requests as [Message] values ({uid, nsp, type, data}), and answers the
// requests of the others.
//
// The protocol is carried by a [Transport]: Redis sharded pub/sub, Redis
// Streams (which also gives every broadcast an offset, so that connection
// state recovery works across servers), or the in-process [Bus] of tests
// and single-process clusters. A transport reaches the adapter through a
// [Handler] of two methods, and the adapter reaches the socket layer only
// through its socketio.AdapterHost.
//
// # What the adapter does
//
//   - Broadcast: delivered to this server's sockets and queued for the
//     others (publishing never waits for the broker; see
//     Options.MaxPendingBytes and Options.MaxOffsetWait); a broadcast from
//     another server is delivered here with the offset it got there.
//   - Broadcast with acknowledgements: each server reports its number of
//     receivers (BROADCAST_CLIENT_COUNT), then each acknowledgement
//     (BROADCAST_ACK), to the requester.
//   - SocketsJoin, SocketsLeave, DisconnectSockets: applied here and
//     published; FetchSockets and server-side emits with acknowledgements
//     are requests that every other server answers.
//   - The number of servers comes from the transport (as Redis' PUBSUB
//     NUMSUB counts subscribers) or, when it cannot tell, from heartbeats
//     (Node's ClusterAdapterWithHeartbeat).
//
// A request that some servers do not answer in time (RequestTimeout)
// returns what arrived, with an error wrapping socketio.ErrPartialResult
// that says how many answers were missing, instead of failing as Node's
// does.
package cluster
