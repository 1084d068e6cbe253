// node_client.mjs connects official socket.io-client 4.8 clients to the
// servers of a cluster for the Go tests of cluster_test.go, and reports
// on stdout as JSON lines what each received.
//
// Usage: node node_client.mjs '<JSON [{name, url}…]>'
//
//   {op:"connected", name, id}             once per client
//   {op:"event", name, event, args}        every event (binary args as {"$bin": base64});
//                                          an event with an acknowledgement is answered
//                                          with the client's name
//   {op:"disconnect", name, reason}
// The clients do not reconnect. The script ends when its standard input
// closes.

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

const sockets = clients.map(({ name, url }) => {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  socket.on('connect', () => out({ op: 'connected', name, id: socket.id }));
  socket.on('connect_error', (err) => out({ op: 'connect_error', name, error: String(err.message) }));
  socket.on('disconnect', (reason) => out({ op: 'disconnect', name, reason }));
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out({ op: 'event', name, event, args });
    if (ack) ack(name);
  });
  return socket;
});

createInterface({ input: process.stdin }).on('close', () => {
  sockets.forEach((s) => s.disconnect());
  process.exit(0);
});
