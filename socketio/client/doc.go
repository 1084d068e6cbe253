// Package client is a Socket.IO client (protocol v5: Socket.IO 3 and 4
// servers, Node's and Tether's), on the Engine.IO client of package
// engineio/client: for Go programs — backend services, devices, bots, test
// suites, load generators — that talk to a Socket.IO server.
//
// # Connecting
//
//	s, err := client.Connect(ctx, "http://localhost:3000/chat", &client.Options{
//		SocketOptions: client.SocketOptions{Auth: map[string]string{"token": token}},
//	})
//	if err != nil { … } // a *client.ConnectError when the server refused
//	defer s.Disconnect()
//
// [Connect] is the JavaScript client's io(url): the URL's path is the
// namespace, and sockets of several namespaces of one server share one
// connection (a [Manager]) unless Options.ForceNew is set. A Manager can
// also be made with [NewManager] and its sockets with [Manager.Socket]
// and [Socket.Connect].
//
// # Events
//
//	s.On("chat", func(e *client.Event) {
//		var m Message
//		if err := e.Decode(&m); err != nil { … } // typed decoding, with encoding/json
//		if e.WantsAck() {
//			e.Ack("got it")
//		}
//	})
//	s.Emit("chat", Message{Text: "hi"}, []byte{1, 2, 3})  // []byte travels as binary
//	args, err := s.EmitWithAck(ctx, "save", doc)          // ctx bounds the wait
//	s.Volatile().Emit("position", x, y)                   // dropped when it cannot go at once
//
// Arguments are encoded as encoding/json encodes them, except that every
// []byte, at any depth, travels as a binary attachment (a Buffer for a
// Node server). Received binary parts reach handlers as base64 JSON
// strings, which decode into []byte. On, Once and OnAny return a function
// that removes the handler; Off removes every handler of an event.
// Handlers run one at a time, in order, on the Manager's dispatch
// goroutine; a handler may wait for an acknowledgement.
//
// # Connection life
//
// The Manager reconnects a lost connection with exponential backoff and
// jitter (ReconnectionDelay, ReconnectionDelayMax, RandomizationFactor,
// ReconnectionAttempts; NoReconnect turns it off) and connects its
// sockets again, each with a fresh auth payload when SocketOptions.AuthFunc
// is set. Events emitted while a socket is offline are buffered (at most
// Options.MaxBuffered) and sent, in order, once it is connected; volatile
// ones are dropped. An EmitWithAck whose event went out is failed with
// [ErrDisconnected] when the connection is lost before the answer.
//
// With connection state recovery on the server, the socket keeps the
// private id of its session and the offset of the last event it received,
// and sends them back when it reconnects: the server restores the session
// (same id, same rooms) and sends what was missed; [Socket.Recovered]
// tells whether it did. A socket that the server disconnects, or that the
// server refuses (a [*ConnectError], with the server's message and data),
// is not reconnected.
//
// OnConnect, OnDisconnect (with the reason: "io server disconnect", "io
// client disconnect", "transport close", "ping timeout"…) and
// OnConnectError follow a socket's life; OnReconnect, OnReconnectAttempt,
// OnReconnectFailed and OnError the Manager's.
//
// Everything is safe for concurrent use. The package does not depend on
// Tether's server packages.
package client
