// node_server.mjs runs a socket.io 4.8 server in a Redis cluster for the Go
// tests of cluster_test.go, driven through standard input.
//
// Usage: node node_server.mjs <mode> <redis URL> [key] [flags…]
//   redis URL: redis://host:port, or cluster:redis://host:port for a node
//   of a Redis Cluster (node-redis createCluster)
//   mode: classic (@socket.io/redis-adapter createAdapter),
//         sharded (createShardedAdapter), streams (@socket.io/redis-streams-adapter)
//   flags: recovery  connection state recovery
//          admin     @socket.io/admin-ui's instrument(io, {auth: false}), in
//                    development mode, with serverId "node"
//
// It listens on a free loopback port and prints JSON lines on stdout:
//   {op:"listening", port}
//   {op:"connection", id}, {op:"disconnect", id, reason}
//   {op:"serverSideEmit", event, args}     an event another server sent
//   {op:"result", seq, ok, value|error}    the answer to a command
// Commands are JSON lines on stdin, {seq, cmd, ...}; binary values travel
// as {"$bin": "<base64>"} both ways. The commands:
//   emit {rooms, except, event, args}            io.to(rooms).except(except).emit
//   emitWithAck {rooms, event, args, timeout}    io.timeout(t).emitWithAck -> answers
//   join {id, rooms}, leave {id, rooms}          a local socket joins or leaves rooms
//   socketsJoin {rooms, except, join}            io.in(rooms).except(except).socketsJoin(join)
//   socketsLeave {rooms, except, leave}
//   disconnectSockets {rooms, except, close}
//   fetchSockets {rooms, except}                 -> [{id, rooms, data, address}]
//   serverSideEmit {event, args, ack}            -> answers when ack
//   allRooms, serverCount
//   emitter {rooms, except, event, args, op}     @socket.io/redis-emitter (classic only):
//                                                op emit (default), socketsJoin, socketsLeave,
//                                                disconnectSockets, serverSideEmit
// A server-side event "ping" is answered with "pong from node". Clients
// have tether serve's built-in events (../e2e/client/serve_events.mjs:
// subscribe, unsubscribe, publish), for the cluster rows of
// bench/load/product.sh (tether load).

import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { Server } from 'socket.io';
import { createClient, createCluster } from 'redis';
import { serveEvents } from '../e2e/client/serve_events.mjs';

const [, , mode, redisURL, key = 'socket.io', ...flags] = process.argv;
const recovery = flags.includes('recovery') ? 'recovery' : '';

function out(obj) {
  process.stdout.write(JSON.stringify(obj, (k, v) => encodeBinary(v)) + '\n');
}

function encodeBinary(v) {
  if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) {
    return { $bin: Buffer.from(v.data).toString('base64') };
  }
  return v;
}

function decodeBinary(v) {
  if (Array.isArray(v)) return v.map(decodeBinary);
  if (v && typeof v === 'object') {
    if (typeof v.$bin === 'string' && Object.keys(v).length === 1) return Buffer.from(v.$bin, 'base64');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeBinary(x)]));
  }
  return v;
}

// A URL "cluster:redis://host:port" is a node of a Redis Cluster: node-redis'
// createCluster finds the others.
const pub = redisURL.startsWith('cluster:')
  ? createCluster({ rootNodes: [{ url: redisURL.slice('cluster:'.length) }] })
  : createClient({ url: redisURL });
const sub = pub.duplicate();
if (redisURL.startsWith('cluster:')) {
  // node-redis 5.10's cluster destroys a shard's pub/sub client when its
  // last sharded channel is left, and a second SUNSUBSCRIBE on that shard
  // in flight then rejects with ClientClosedError, which the sharded
  // adapter does not catch (a socket that leaves two rooms of one shard):
  // report it instead of exiting.
  process.on('unhandledRejection', (err) => out({ op: 'unhandledRejection', error: String(err) }));
}
pub.on('error', (err) => out({ op: 'redisError', error: String(err) }));
sub.on('error', (err) => out({ op: 'redisError', error: String(err) }));
await Promise.all([pub.connect(), sub.connect()]);

let adapter;
if (mode === 'classic') {
  const { createAdapter } = await import('@socket.io/redis-adapter');
  adapter = createAdapter(pub, sub, { key, requestsTimeout: 3000 });
} else if (mode === 'sharded') {
  const { createShardedAdapter } = await import('@socket.io/redis-adapter');
  adapter = createShardedAdapter(pub, sub, { channelPrefix: key });
} else if (mode === 'streams') {
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  adapter = createAdapter(pub, { streamName: key, channelPrefix: key });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const http = createServer();
const opts = { adapter, transports: ['websocket', 'polling'] };
if (recovery === 'recovery') opts.connectionStateRecovery = { maxDisconnectionDuration: 120000 };
const io = new Server(http, opts);
if (flags.includes('admin')) {
  const { instrument } = await import('@socket.io/admin-ui');
  instrument(io, { auth: false, mode: 'development', serverId: 'node' });
}

io.on('connection', (socket) => {
  socket.data.node = 'node';
  if (recovery === 'recovery' && !socket.recovered) socket.join('room');
  serveEvents(io.of('/'), socket);
  out({ op: 'connection', id: socket.id, recovered: socket.recovered });
  socket.on('disconnect', (reason) => out({ op: 'disconnect', id: socket.id, reason }));
});

io.on('ping', (...args) => {
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
  out({ op: 'serverSideEmit', event: 'ping', args });
  if (cb) cb('pong from node');
});
io.on('note', (...args) => out({ op: 'serverSideEmit', event: 'note', args }));

let emitter;
async function getEmitter() {
  if (!emitter) {
    const { Emitter } = await import('@socket.io/redis-emitter');
    emitter = new Emitter(pub, { key });
  }
  return emitter;
}

function select(target, c) {
  if (c.rooms && c.rooms.length) target = target.to(c.rooms);
  if (c.except && c.except.length) target = target.except(c.except);
  return target;
}

const commands = {
  emit: (c) => select(io, c).emit(c.event, ...decodeBinary(c.args || [])),
  emitWithAck: (c) => select(io.timeout(c.timeout || 3000), c).emitWithAck(c.event, ...decodeBinary(c.args || [])),
  join: (c) => io.sockets.sockets.get(c.id).join(c.rooms),
  leave: (c) => c.rooms.forEach((r) => io.sockets.sockets.get(c.id).leave(r)),
  socketsJoin: (c) => select(io, c).socketsJoin(c.join),
  socketsLeave: (c) => select(io, c).socketsLeave(c.leave),
  disconnectSockets: (c) => select(io, c).disconnectSockets(!!c.close),
  fetchSockets: async (c) =>
    (await select(io, c).fetchSockets()).map((s) => ({
      id: s.id,
      rooms: [...s.rooms].sort(),
      data: s.data,
      address: s.handshake.address,
    })),
  serverSideEmit: (c) =>
    c.ack ? io.serverSideEmitWithAck(c.event, ...(c.args || [])) : io.serverSideEmit(c.event, ...(c.args || [])),
  allRooms: async () => [...(await io.of('/').adapter.allRooms())].sort(),
  serverCount: () => io.of('/').adapter.serverCount(),
  emitter: async (c) => {
    const e = select(await getEmitter(), c);
    switch (c.op || 'emit') {
      case 'emit':
        return e.emit(c.event, ...decodeBinary(c.args || []));
      case 'socketsJoin':
        return e.socketsJoin(c.join);
      case 'socketsLeave':
        return e.socketsLeave(c.leave);
      case 'disconnectSockets':
        return e.disconnectSockets(!!c.close);
      case 'serverSideEmit':
        return e.serverSideEmit(c.event, ...(c.args || []));
    }
    throw new Error(`unknown emitter op ${c.op}`);
  },
};

createInterface({ input: process.stdin }).on('line', async (line) => {
  let c;
  try {
    c = JSON.parse(line);
    const fn = commands[c.cmd];
    if (!fn) throw new Error(`unknown command ${c.cmd}`);
    const value = await fn(c);
    out({ op: 'result', seq: c.seq, ok: true, value: value === undefined ? null : value });
  } catch (err) {
    out({ op: 'result', seq: c && c.seq, ok: false, error: String(err && err.message ? err.message : err) });
  }
}).on('close', async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
});

http.listen(0, '127.0.0.1', () => out({ op: 'listening', port: http.address().port }));
