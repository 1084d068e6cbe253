// Package socketio is a Socket.IO server (protocol v5) for the official
// clients (socket.io-client 3.x and 4.x in browsers and Node, and the
// mobile clients), on top of package engineio.
//
// A [Server] is an http.Handler:
//
//	srv := socketio.NewServer(nil)
//	srv.OnConnection(func(s *socketio.Socket) {
//		s.On("chat", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
//			s.Broadcast().Emit("chat", args[0]) // to everyone else
//			if ack != nil {
//				ack("ok")
//			}
//		})
//	})
//	http.Handle("/socket.io/", srv)
//
// # Namespaces and middlewares
//
// [Server.Of] returns a static namespace; [Server.OfFunc] and
// [Server.OfRegexp] accept dynamic ones, creating a child namespace per
// name. A [Middleware] runs before a socket connects; its error reaches the
// client as a connect_error with the error's message, and the Data of a
// [*ConnectError] as err.data.
//
// # Events
//
// Handlers receive the arguments as JSON ([Decode] and [OnTyped] decode them
// into Go values). [Socket.Emit] encodes Go values like encoding/json, except
// that []byte values, at any depth, travel as binary attachments (Buffer or
// ArrayBuffer for JavaScript); received attachments arrive as base64 JSON
// strings, so that they decode into []byte. A handler set with
// [Socket.OnRaw] gets them apart instead ([RawArg]), and sends them on as
// binary: s.Emit("echo", socketio.Args(args)...). [Socket.EmitWithAck] waits
// for the client's acknowledgement.
//
// Handlers of the sockets of one client connection run one at a time, in
// the order the packets arrived, on a goroutine that exists only while there
// is work. Acknowledgements are handled apart, so EmitWithAck may be called
// from a handler. A handler that panics closes its client's connection.
//
// # Rooms and broadcasting
//
// Sockets join and leave rooms; a [BroadcastOperator] selects sockets by
// room (To, In, Except) and carries flags (Volatile, Compress, Local,
// Timeout). Emit encodes the packet once for all receivers; EmitWithAck
// collects one answer per client. FetchSockets, SocketsJoin, SocketsLeave
// and DisconnectSockets act on the selected sockets. All of this goes
// through the namespace's [Adapter]: [InMemoryAdapter] by default, or one
// that spans several servers (Options.Adapter), which reaches this
// server's sockets through the namespace's [LocalSockets].
//
// # Connection state recovery
//
// With Options.ConnectionStateRecovery set, a socket that lost its
// connection (transport close or error, ping timeout...) is kept for
// MaxDisconnectionDuration: every broadcast packet carries an offset as its
// last argument, as in Node, and a client that reconnects in time with its
// private session id and last offset gets its id, rooms and data back, then
// every packet it missed, in order, before any newer one
// ([Socket.Recovered] reports it). A client that comes back while its
// previous connection still looks alive (a polling client whose connection
// broke between two requests is otherwise only noticed at the ping timeout)
// takes the session over: the previous connection is closed first. The
// packets kept for recovery are bounded per namespace (MaxLogBytes,
// MaxLogPackets; the oldest go first): a client that missed a packet no
// longer kept gets a new session, as in Node when the offset is unknown.
//
// # Socket.IO v2 clients
//
// With engineio.Options.AllowEIO3 set, socket.io-client 2.x (Engine.IO 3)
// works too, as with Node's allowEIO3: it joins "/" without asking, passes
// the auth of other namespaces in their query, and its sockets' ids derive
// from the Engine.IO id. Connection state recovery is not available to it.
//
// # Slow clients
//
// Sends never block: packets go to the Engine.IO session's bounded queue
// (engineio.Options.SendQueue), and a client that lets it fill up is
// disconnected. Volatile packets are dropped for clients whose connection is
// not writable at the moment.
package socketio
