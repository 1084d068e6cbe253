// Package websocket implements the WebSocket protocol (RFC 6455) with the
// permessage-deflate extension (RFC 7692), for servers and clients.
//
// # Servers
//
// [Accept] upgrades an HTTP request inside any [net/http] handler:
//
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		c, err := websocket.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has already answered with the right HTTP status.
//		}
//		defer c.CloseNow()
//		buf := make([]byte, 0, 4096)
//		for {
//			typ, msg, err := c.ReadMessage(buf)
//			if err != nil {
//				return
//			}
//			if err := c.WriteMessage(typ, msg); err != nil {
//				return
//			}
//			buf = msg[:0]
//		}
//	})
//
// By default Accept only upgrades same-origin requests: a page on another
// site cannot open a socket with the user's cookies (Cross-Site WebSocket
// Hijacking). List other trusted origins in [AcceptOptions].OriginPatterns.
//
// # Clients
//
// [Dial] connects to a ws:// or wss:// URL, through an HTTP CONNECT proxy
// when the environment names one, and gives back the same [Conn] type.
//
// # HTTP/2
//
// Over HTTP/2 a WebSocket is a stream of an existing connection (RFC 8441):
// the client sends an extended CONNECT (method CONNECT, :protocol
// websocket), the server answers 200, and the stream's DATA carry the
// WebSocket's frames. Browsers do this when the server's HTTP/2 connection
// advertises it. [Accept] takes such a request as it takes an HTTP/1.1
// upgrade, and the [Conn] behaves the same, with two differences: the
// stream belongs to the handler, which must wait for [Conn.Done] before it
// returns (net/http ends the stream then), and [Conn.ReadLoopAsync] reads it
// with a goroutine (the poller needs a socket of the connection's own).
// net/http's HTTP/2 server advertises extended CONNECT only when the program
// started with GODEBUG=http2xconnect=1 in its environment
// ([ExtendedConnectEnabled]). [Dial] opens a WebSocket over HTTP/2 with
// [DialOptions].HTTP2Transport. Closing maps to the stream: the close
// handshake ends with END_STREAM from both sides, an abortive close resets
// the stream, and a reset stream reads as [StatusAbnormalClosure].
//
// # Messages
//
// A [Conn] reads with [Conn.ReadMessage] (into a buffer you own: no
// allocation per message), [Conn.Read], [Conn.Reader] (a stream), or
// [Conn.ReadLoop] (a handler called per message). It writes with
// [Conn.WriteMessage], [Conn.Write] (with a context), [Conn.Writer] (a
// fragmented stream), [Conn.WritePrepared] (a message framed and
// compressed once for many connections) and [Conn.Batch] (many messages
// in one write to the network).
//
// A broadcast, which must not wait for any one receiver, writes with
// [Conn.TryBatch] and [Batch.FlushNow]: one write that takes what the
// socket takes now and keeps the rest for the connection's next write.
// [Batch.FlushGroup] leaves that write to a [WriteGroup], which makes the
// writes of up to [GroupSize] connections with one system call (io_uring
// on Linux), for connections whose network connection is a [GroupWriter].
//
// # Many idle connections
//
// [Conn.ReadLoopAsync] is ReadLoop without a goroutine while the connection
// is idle: on Linux the socket is watched with epoll, and a goroutine reads
// only while data arrives. A server holding many quiet connections (chat,
// notifications, dashboards) returns from its handler right after Accept:
//
//	c.ReadLoopAsync(func(typ websocket.MessageType, msg []byte) error {
//		return handle(c, typ, msg)
//	}, func(err error) {
//		c.CloseNow()
//	})
//
// An idle connection then costs under 2 KiB (see BENCHMARKS.md). A busy
// connection, whose data keeps coming back as soon as it was read, keeps
// its reader goroutine until it goes quiet, and costs what ReadLoop in a
// goroutine of its own costs: no epoll round per message.
//
// A handler that answers each small message at once, without waiting
// (an echo, a request answered from memory), can be an [InlineHandler]:
// on Linux with io_uring the poller then serves its connections itself,
// many per wake-up — one system call reads every connection that has
// data, the handlers write their replies into a [Batch], and one more
// system call sends them all (the sockets are edge-triggered: one read
// to its end needs no epoll_ctl to be watched again). `tether echo` is
// served that way.
//
// One goroutine reads at a time. Any number of goroutines may write at once:
// writes are serialized per message, and control frames (pongs, close) are
// slipped between the fragments of a streamed message.
//
// Pings are answered automatically while a goroutine is reading. Set
// PingInterval in the options to have the connection ping an idle peer and
// close it when it does not answer within PingTimeout.
//
// # Failing fast
//
// The connection checks everything RFC 6455 requires and closes with the
// matching status code at the first violation: [StatusProtocolError] for a
// malformed frame, [StatusInvalidFramePayloadData] for text that is not
// UTF-8 (checked frame by frame, so a bad fragment fails at once), and
// [StatusMessageTooBig] when a message would pass the read limit (16 MiB by
// default; see [Conn.SetReadLimit]).
//
// # Compression
//
// permessage-deflate is negotiated when [CompressionOptions].Mode asks for
// it, with or without context takeover and with window sizes from 8 to 15
// bits. Messages shorter than a threshold are sent uncompressed, and
// [Conn.EnableWriteCompression] turns compression off for the messages that
// follow, for payloads known not to compress. At the default level without
// context takeover, messages up to 1 KiB are compressed with DEFLATE's
// fixed codes, which costs both ends far less than building codes for
// each message, for output about a fifth larger ([CompressionOptions]).
//
// The frame layer underneath is package
// [github.com/tether-rt/tether/websocket/frame].
package websocket
