// Package adminui is the server side of the official Socket.IO Admin UI
// (npm package @socket.io/admin-ui 0.5, https://admin.socket.io): what its
// instrument() does for a Node server, for a [socketio.Server]. The UI, a
// static web app (ui/dist of the npm package, or the hosted copy), connects
// to an admin namespace of the server with socket.io-client and shows the
// servers, namespaces, sockets, rooms and events, and sends operations.
//
// # Use
//
//	io := socketio.NewServer(nil)
//	admin, err := adminui.Instrument(io, adminui.Options{
//		Auth: &adminui.BasicAuth{Username: "admin", PasswordHash: "$2b$10$…"}, // bcrypt
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer admin.Close()
//
// The UI's page is usually on another origin than the server (the hosted
// https://admin.socket.io, or ui/dist served elsewhere) and connects with
// withCredentials: the server must allow that origin, with credentials,
// for polling (CORS) and WebSocket (Origin check). In `tether serve`, the
// admin_ui settings turn it on (see the README) and origins and
// cors_credentials allow the UI's origin.
//
// # Protocol
//
// The UI connects to the admin namespace ([DefaultNamespace], "/admin")
// with the auth payload {username, password}, or {sessionId} to log in
// again. With [Options.Auth], a username and a password that matches the
// bcrypt hash open a login session: the UI gets its id in a "session"
// event and reconnects with it for a day; anything else is refused with the
// connect_error "invalid credentials". The password is compared with the
// bcrypt hash only, as instrument() does; a plain password is never
// configured.
//
// The server sends to the admin namespace:
//
//	config              {supportedFeatures}, to each UI on connection
//	server_stats        every 2 s: {serverId, hostname, pid, uptime (s), clientsCount,
//	                    pollingClientsCount, namespaces: [{name, socketsCount}],
//	                    aggregatedEvents: [{timestamp, type, subType, count}]}
//	all_sockets         [socket], to each UI on connection (development mode)
//	socket_connected    (socket, date)
//	socket_updated      ({id, nsp, transport}) after an upgrade to WebSocket
//	socket_disconnected (nsp, id, reason, date)
//	room_joined         (nsp, room, id, date)
//	room_left           (nsp, room, id, date)
//	event_received      (nsp, id, [event, ...args], date)
//
// where a socket is {id, clientId, transport, nsp, data, handshake, rooms}
// (the handshake without its auth payload, which holds the client's token)
// and dates are JSON dates. The aggregated events are rawConnection and
// rawDisconnection (subType: the reason) per second, and bytesIn and
// bytesOut when [Options.Traffic] is set.
//
// The UI sends, unless [Options.ReadOnly] (each logged):
//
//	emit        (nsp, filter, event, ...args)  emit to the namespace, or to the room or socket filter
//	join        (nsp, room, filter)            make the sockets (of filter) join room
//	leave       (nsp, room, filter)            make them leave room
//	_disconnect (nsp, close, filter)           disconnect them (with close, their whole connection)
//
// An operation naming a namespace that does not exist is ignored: it never
// creates one. The operations go through the namespace's adapter
// (SocketsJoin, SocketsLeave, DisconnectSockets, broadcasts), so with a
// multi-server adapter they reach the sockets of every server, and the
// admin events, broadcast on the admin namespace, reach a UI connected to
// any server; each server sends its own server_stats under its
// [Options.ServerID].
//
// # Mixed clusters
//
// Node servers instrumented by instrument() may share the cluster (on an
// adapter wire-compatible with Node's, such as package adapter/redis):
// the admin events and operations cross between the implementations, and
// a UI on either lists the sockets of both. For that, in development mode,
// each socket's data holds, under "_admin", {clientId, transport} (kept
// current after an upgrade to WebSocket), as instrument() keeps it in
// socket.data._admin: FetchSockets carries it to the other servers, which
// show it, and the socket's data shown in the UI leaves it out. The
// handshake travels in the form of Node's socket.handshake (see
// [socketio.Handshake]). Each server lists the sockets of the namespaces
// it has itself, as instrument() does.
//
// # Differences with instrument()
//
//   - Rooms joined and left, and transport upgrades, are found by looking at
//     the sockets every [Options.ScanInterval] (1 s), not by adapter events:
//     the UI shows them up to that late (at once for its own join and
//     leave). The look is a pass over the sockets of this server. What
//     the UI hears of one socket keeps its order: socket_connected first,
//     socket_disconnected last, even for a socket that a scan found and
//     that leaves while it is being told about. A scan leaves alone a
//     socket whose connection handlers still run: socket_connected comes
//     once they returned, with the data they set.
//   - event_sent (the events the server sends) is not reported: package
//     socketio has no hook on outgoing events. Changes to a socket's data
//     after its connection are not reported either.
//   - clientId is a digest of the Engine.IO session id, not its first
//     characters: the id would let whoever sees it take the session over.
//     (A Node server's sockets show the client id it recorded.)
//   - rawConnection and rawDisconnection count the client connections that
//     joined a namespace (the engine's sessions that never do are not
//     seen), and pollingClientsCount those that are on long-polling.
//   - Login sessions are kept in memory, per server: with several servers,
//     a UI that reconnects to another one logs in again.
package adminui
