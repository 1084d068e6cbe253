// Package client is an Engine.IO client: protocol v4 (Engine.IO 4–6, the
// transport under Socket.IO v3 and v4) and v3 (under Socket.IO v2), over
// HTTP long-polling and WebSocket, with the upgrade from one to the other
// and the heartbeat. It speaks to Node's engine.io servers, Tether's
// (package engineio) and any other that follows the protocol; package
// socketio/client builds Socket.IO on it.
//
// # Using it
//
//	c, err := client.Dial(ctx, "http://localhost:3000", &client.Options{
//		OnMessage: func(p client.Packet) { log.Printf("got %q", p.Data) },
//		OnClose:   func(reason string, err error) { log.Printf("closed: %s %v", reason, err) },
//	})
//	if err != nil { … }
//	c.Send(client.Packet{Data: []byte("hello")})
//	…
//	c.Close()
//
// [Dial] opens a session with the first transport of Options.Transports
// (polling, then WebSocket, by default) and returns once the server's open
// packet arrived. Over polling it then tries the upgrade in the
// background, as the JavaScript client does: it opens a WebSocket with
// the session's id, sends the probe ("2probe") and waits for its answer,
// stops polling once the poll and the write in flight are done, and sends
// the upgrade packet ("5") on the WebSocket, which from then on carries
// the session. Packets sent meanwhile are queued and go out on the
// WebSocket. A failed probe leaves the session on polling.
//
// # Heartbeat
//
// In v4 the server pings every pingInterval; the client answers each ping
// at once and closes the session with the reason "ping timeout" when no
// ping has come for pingInterval + pingTimeout (both from the open
// packet): a server that died without a word is noticed within that time.
// In v3 the client pings every pingInterval and closes the session when no
// packet answers within pingTimeout.
//
// # Callbacks and concurrency
//
// A Conn is safe for concurrent use. Options.OnMessage is called with each
// message in the order the server sent it, one call at a time, from the
// goroutine that read it; Options.OnClose is called once, after the last
// OnMessage has returned. A callback that blocks holds up the reading of
// the connection (not its writing): hand long work to another goroutine.
// [Conn.Send] never blocks: it queues, and a writer goroutine, started
// while there is something to write, sends the queue in order, as one
// POST body over polling (at most the server's maxPayload per body) and as
// one batch of frames over WebSocket.
//
// # Closing
//
// [Conn.Close] sends what is queued, then a close packet (polling) or a
// WebSocket close frame, and the session ends with the reason "forced
// close". The other reasons OnClose gets: "transport close" (the server
// closed the session, or the connection was closed under it), "transport
// error" (a request or the WebSocket failed, with the error), "ping
// timeout", and "parse error" (the server sent something that is not
// Engine.IO).
//
// # Network
//
// HTTP requests and WebSocket dials use Options.Header and Options.Query,
// Options.TLSConfig for https and wss, the HTTP proxy that Options.Proxy
// names (by default the environment's: HTTP_PROXY, HTTPS_PROXY, NO_PROXY;
// Go never proxies requests to localhost or loopback addresses) and
// Options.NetDialContext, which can choose the source address of each
// connection. Every call that waits takes a context.
package client
