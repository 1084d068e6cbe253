// node_client.mjs connects official socket.io-client 4.8 clients to the
// servers of a cluster for the Go tests of cluster_test.go, and reports
// on stdout as JSON lines what each received.
//
// Usage: node node_client.mjs '<JSON [{name, url, transports}…]>'
//
// url may end with a namespace; transports defaults to ["websocket"].
//
//   {op:"connected", name, id, engine}     once per client (engine: the Engine.IO session id)
//   {op:"upgrade", name, transport}        the connection upgraded
//   {op:"event", name, event, args}        every event (binary args as {"$bin": base64});
//                                          an event with an acknowledgement is answered
//                                          with the client's name
//   {op:"disconnect", name, reason}
// The clients do not reconnect. Each line on standard input, {name, event,
// args}, makes client name emit event with args. The script ends when its
// standard input closes.

import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const clients = JSON.parse(process.argv[2]);

function out(obj) {
  process.stdout.write(JSON.stringify(obj, (k, v) => encodeBinary(v)) + '\n');
}

function encodeBinary(v) {
  if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) {
    return { $bin: Buffer.from(v.data).toString('base64') };
  }
  return v;
}

const byName = new Map();
const sockets = clients.map(({ name, url, transports = ['websocket'] }) => {
  const socket = io(url, { transports, reconnection: false, forceNew: true });
  byName.set(name, socket);
  socket.on('connect', () => out({ op: 'connected', name, id: socket.id, engine: socket.io.engine.id }));
  socket.io.on('open', () =>
    socket.io.engine.on('upgrade', (transport) => out({ op: 'upgrade', name, transport: transport.name })),
  );
  socket.on('connect_error', (err) => out({ op: 'connect_error', name, error: String(err.message) }));
  socket.on('disconnect', (reason) => out({ op: 'disconnect', name, reason }));
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out({ op: 'event', name, event, args });
    if (ack) ack(name);
  });
  return socket;
});

createInterface({ input: process.stdin }).on('line', (l) => {
  const { name, event, args = [] } = JSON.parse(l);
  byName.get(name).emit(event, ...args);
}).on('close', () => {
  sockets.forEach((s) => s.disconnect());
  process.exit(0);
});
