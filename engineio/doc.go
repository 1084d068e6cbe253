// Package engineio implements an Engine.IO server: protocol v4, and v3 when
// Options.AllowEIO3 is set, so that the official clients (engine.io-client,
// and socket.io-client on top of it, in browsers, Node and mobile apps)
// work unchanged. Engine.IO is the transport layer under Socket.IO (package
// socketio): it gives each client a session that carries messages both
// ways over HTTP long-polling or WebSocket, keeps it alive with heartbeats,
// and moves it from polling to WebSocket without losing a message.
//
// # Using it
//
//	srv := engineio.NewServer(nil) // Node's defaults
//	srv.OnConnection(func(s *engineio.Socket) {
//		s.OnMessage(func(p engineio.Packet) {
//			s.Send(p) // echo
//		})
//		s.OnClose(func(reason string, err error) {
//			log.Printf("%s closed: %s", s.ID(), reason)
//		})
//	})
//	http.Handle("/engine.io/", srv)
//
// A [Socket]'s callbacks run one at a time: OnConnection, then OnMessage for
// each message in the order it arrived, then OnClose once. [Socket.Send]
// never blocks: it queues, and a transport writes the queue in order.
//
// # The protocol
//
// A packet is a type digit and optional data:
//
//	0 open     server -> client, the handshake: {"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}
//	1 close    the transport can be closed
//	2 ping     heartbeat (v4: sent by the server; v3: by the client), "2probe" during an upgrade
//	3 pong     the answer, "3probe" during an upgrade
//	4 message  application data: "4hello", or binary
//	5 upgrade  client -> server: switch to the probed WebSocket
//	6 noop     server -> client: ends a pending poll during an upgrade
//
// All requests go to one path, with the query parameters EIO (4 or 3),
// transport ("polling" or "websocket") and, once the session exists, sid.
//
// Handshake. A GET without sid opens a session. Over polling, the response
// body is the open packet. Over WebSocket (a GET with Upgrade: websocket),
// the open packet is the first message. The session ID is random,
// URL-safe and unique. The client then uses the timings it was told: the
// server pings every pingInterval and closes the session ("ping timeout")
// when the pong has not come within pingTimeout. In v3 it is the other way
// round: the client pings, the server answers, and closes the session when
// no ping has come for pingInterval + pingTimeout.
//
// Long-polling. The client keeps one GET pending; the server answers it as
// soon as it has packets, all the queued packets at once in one payload.
// The client sends its packets in POST bodies, answered "ok". A payload
// joins packets with the record separator \x1e in v4 ("4a\x1e4b"), binary
// data being base64 after a "b" ("bAQID"); v3 prefixes each packet with its
// length in UTF-16 code units ("2:4a2:4b", binary as "b4AQID"), or uses a
// binary format when the client supports it (see package
// [github.com/tether-rt/tether/engineio/parser]). A second GET, or POST,
// while one is pending breaks the order of packets: the session is closed
// ("transport error"), the first GET gets a close packet and the second a
// 400.
//
// WebSocket. Each packet is one message: text for text data ("4hello"),
// binary for binary data (as is in v4; with a leading type byte 4 in v3).
//
// Upgrade. A client that started with polling opens a WebSocket with its
// sid and sends "2probe"; the server answers "3probe" on it and, as Node,
// ends the pending GET with a noop within 100 ms (and so every 100 ms),
// so that the client can pause polling; the client waits for its last GET
// and POST to complete, then sends "5" on the WebSocket. From then on the
// session runs on the WebSocket: packets the server queued meanwhile go out
// there, in order, after everything that polling carried; a GET still
// pending and later polling requests get a 400. An upgrade that is not
// completed within UpgradeTimeout is dropped, and the session goes on over
// polling.
//
// Close. A client closes by sending a close packet (polling) or closing
// the WebSocket: the reason is "transport close". [Socket.Close] ("forced
// close") and [Server.Close] ("server shutting down") send what is queued
// first, then a close packet (polling) or a close frame (WebSocket).
// Server.Close, as Node's engine.io, does not wait for a polling client
// with no request pending: what is queued for it is lost. [Server.Shutdown]
// waits for that client's next poll, within its context's deadline, to give
// it what is queued and the close packet (with nothing queued, for two
// seconds at most: a live client polls again at once). WebSocket close
// handshakes that the peer leaves unanswered are cut at the deadline.
//
// Slow clients. What one client can hold is bounded: the send queue in
// packets (SendQueue) and bytes (SendQueueBytes); a POST body must arrive,
// and a poll response be taken, within TransferTimeout (the body's buffer
// grows with what arrives, and the response streams the packets' data,
// which a broadcast shares between its receivers); a WebSocket whose writer
// has waited longer than PingInterval + PingTimeout is cut off even if the
// client keeps its heartbeat. OnClose's error then wraps [ErrSlowPoll],
// [ErrSlowPost] or [ErrStalledWriter] (or is [ErrSendQueueFull]).
//
// Errors. Refused requests get HTTP 400 (403 when AllowRequest refuses)
// with a JSON body, as Node's engine.io writes it:
//
//	{"code":0,"message":"Transport unknown"}
//	{"code":1,"message":"Session ID unknown"}
//	{"code":2,"message":"Bad handshake method"}
//	{"code":3,"message":"Bad request"}
//	{"code":4,"message":"Forbidden"}
//	{"code":5,"message":"Unsupported protocol version"}
//
// A POST body larger than MaxPayload gets a 413, a WebSocket message larger
// than it closes the WebSocket with 1009; the session closes with
// "transport error" either way. A packet that cannot be decoded closes the
// session with "parse error".
//
// # Security
//
// The WebSocket transport follows Options.WebSocket's Origin policy, which
// is same-origin by default (Node's engine.io does not check Origin at
// all), plus the origins that Options.CORS lists (but not its "*": a
// browser sends cookies with every WebSocket, so trusting any origin there
// takes Options.WebSocket.InsecureSkipVerify). Polling requests from other
// origins need Options.CORS for browsers to read the answers. Options.AllowRequest can refuse handshakes, with the
// request's headers and cookies at hand.
//
// # Compression
//
// Polling responses of 1 KiB or more are compressed (gzip or deflate) when
// the client accepts it, as in Node; Options.DisableHTTPCompression turns
// that off. WebSocket messages are compressed when Options.WebSocket enables
// permessage-deflate and the client agrees. A packet sent with
// Packet.NoCompress set (Node's compress: false) is not compressed: a
// WebSocket writes it without permessage-deflate, and a polling response
// is compressed only when one of its packets allows it.
//
// # Not supported
//
// JSONP polling (the "j" parameter) and WebTransport.
package engineio
