// Package server is Tether's standalone real-time server, the one behind
// `tether serve`: a Socket.IO server (package socketio) configured from a
// [Config] (defaults, an optional YAML file, TETHER_… environment variables
// and flags, in increasing precedence), with rooms that clients subscribe to
// under per-namespace rules, presence, JWT authentication, a backend HTTP API,
// limits, metrics and graceful shutdown. A deployment needs no Go code.
//
// # Clients
//
// Clients use the official Socket.IO clients. Besides the events an
// application adds with [Server.IO], every socket of a configured namespace
// understands these events (each acknowledged with {ok:true} or
// {ok:false, reason:"..."} when the client asks for an acknowledgement):
//
//	subscribe   {room}                join a room the namespace's rules allow
//	unsubscribe {room}                leave a room
//	publish     {room, event, data}   send event(data, {room, from, user}) to the room's other sockets
//	presence    {room}                the room's members: {ok, room, members: [{id, user}]}
//	refresh     {token}               replace the socket's token without reconnecting
//
// Binary parts of published data (Buffer, ArrayBuffer, Blob) reach the
// room's sockets as binary. Events the backend API emits have the same
// arguments, (data, {room, from, user}), with from and user null and room
// null unless the request names exactly one room. With connection state
// recovery on, every broadcast has one more argument, last: its offset, a
// string, which socket.io-client records to resume from after a network
// drop. The client also receives, from the server:
//
//	presence:diff  {room, joins, leaves}  sockets that joined and left a room
//	                                      since the last one, [{id, user}] each
//	                                      (coalesced per room: presence_diff_interval)
//	presence:join  {room, id, user}   a socket joined a room (join_leave_events)
//	presence:leave {room, id, user}   a socket left a room (join_leave_events)
//	error          {reason, ...}      an event was refused (rate limit) or the token expired
//
// # Rooms
//
// A namespace's rules say which rooms anyone may subscribe to (rooms.public,
// patterns in [path.Match] syntax, so "*" does not cross "/") and how many
// rooms a socket may be in (rooms.max). A token may grant more: its rooms
// claim (a list of patterns, or one space-separated string) adds rooms the
// holder may subscribe to. Rooms named like a connected socket's id (each
// socket's private room) can never be subscribed to. publish says whether
// clients may publish: "none", "joined" (to rooms the socket is in) or
// "permitted" (to any room it may subscribe to).
//
// # Authentication
//
// With auth.jwt configured, a client passes a JWT as the token of its CONNECT
// auth payload (io({auth: {token}})). It is verified with an HS256 secret,
// RS256/ES256 public keys from PEM files, or the keys of a JWKS URL (cached,
// fetched again for an unknown key id). The claims become the socket's data
// ("claims", and "user" for the sub claim). A missing (when required),
// invalid or expired token refuses the connection with a connect_error whose
// data is {reason}. A token whose header has a crit parameter is invalid (no
// extension is supported), and so is one without an exp claim ("token has no
// expiry") when auth.jwt.require_exp is on, which it is by default when some
// namespace requires authentication. When the token expires the socket gets
// an error event {reason: "token expired"} and is disconnected, unless the
// client sent a fresh token with refresh before.
//
// # Backend API
//
// Under /api/, with an API key (Authorization: Bearer <key>, or X-API-Key):
// emit events to rooms, list rooms and sockets, make sockets join, leave or
// disconnect, and read statistics. The OpenAPI description is served at
// /api/openapi.yaml.
//
// # Operating
//
// /healthz, /readyz (503 once shutting down) and Prometheus /metrics;
// optional pprof on a separate admin address; TLS (HTTP/2 for polling);
// an Origin allowlist that covers both transports and CORS; per-IP handshake
// rate and connection limits; per-socket event rate limits; a maximum
// payload; a bounded send queue per client (slow consumers are disconnected).
// [Server.Run] (or [Server.Serve]) shuts down gracefully when its context ends: /readyz turns
// 503 and handshakes are refused, events being handled get their
// acknowledgements, then every client is disconnected at the transport level
// (so that it reconnects, to another server) after what was queued for it
// has been sent (a polling client between two requests gets it with its next
// poll, which is still served), all within the shutdown timeout; then the
// listener closes. An address on "localhost" listens on both 127.0.0.1 and
// ::1, and fails when another program holds the port on either (a browser
// could reach it instead); the "tether listening" log line gives the URL to
// open.
//
// # Embedding
//
// A Server is an http.Handler. Applications add events and namespaces on
// [Server.IO] before serving, and wrap their handlers with [Server.Tracked]
// (or [Server.TrackedRaw]) so that a graceful shutdown waits for them too. Namespaces that are not in
// Config.Namespaces get none of the rules above (authentication, built-in
// events, event rate limits); their connections count in the per-IP
// connection limit and the connection metrics all the same.
package server
