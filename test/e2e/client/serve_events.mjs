// serve_events.mjs: tether serve's built-in client events, for Node
// socket.io servers that stand in for tether serve (tether load, and the
// cluster rows of bench/load/product.sh through test/cluster/node_server.mjs).
// It imports nothing, so a server in another test folder can use it.
//
//   "subscribe"   {room}               -> {ok}   the socket joins room
//   "unsubscribe" {room}               -> {ok}   the socket leaves room
//   "publish"     {room, event, data}  -> {ok, receivers}: the room's other
//                 sockets, in the whole cluster, get event(data, {room, from,
//                 user}); receivers counts those of this server only, as
//                 tether serve does.

// serveEvents installs the events on socket of namespace nsp.
export function serveEvents(nsp, socket) {
  socket.on('subscribe', (p, ack) => {
    socket.join(p.room);
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('unsubscribe', (p, ack) => {
    socket.leave(p.room);
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('publish', (p, ack) => {
    const members = nsp.adapter.rooms.get(p.room);
    const receivers = members ? members.size - (members.has(socket.id) ? 1 : 0) : 0;
    socket.to(p.room).emit(p.event, p.data, { room: p.room, from: socket.id, user: '' });
    if (typeof ack === 'function') ack({ ok: true, receivers });
  });
}
