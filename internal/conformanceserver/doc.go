// Package conformanceserver builds the reference configuration that the
// official Engine.IO and Socket.IO protocol test suites expect of a server
// (github.com/socketio/engine.io-protocol and socket.io-protocol), as served
// by "tether conformance":
//
//   - an Engine.IO echo server at /engine.io/: every message is sent back
//     as received (text as text, binary as binary);
//   - a Socket.IO server at /socket.io/: on connection it emits "auth" with
//     the handshake's auth payload (after [AuthDelay]), answers "message"
//     with "message-back" and the same arguments, and acknowledges
//     "message-with-ack" with its arguments, binary attachments included;
//     the namespace "/custom" emits "auth" too;
//   - pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000 bytes,
//     connectTimeout 1,000 ms, CORS for any origin (and WebSocket upgrades
//     from any origin, as the suites run from a browser page too), no
//     WebSocket compression (Node's default).
//
// Engine.IO v3 clients are refused unless [Options.AllowEIO3] is set.
package conformanceserver
