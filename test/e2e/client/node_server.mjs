// node_server.mjs runs Node's socket.io 4.8 server (and an engine.io 6.6
// echo server) for the Go tests of this folder: the Socket.IO client's
// behaviour suite (internal/sioclienttest), the Engine.IO client's tests,
// and tether load.
//
// Usage: node node_server.mjs [recovery]
//
// Socket.IO on /socket.io/, namespaces "/" and "/admin", with the suite's
// handlers (see sioclienttest.Server) and tether serve's built-in events
// for tether load (serve_events.mjs: subscribe, unsubscribe, publish).
// With "recovery":
// connection state recovery and a 100 ms / 200 ms heartbeat.
//
// Engine.IO on /engine.io/ (v4 and v3 clients, 100 ms ping interval,
// 400 ms ping timeout): every message is sent back; "close me" closes
// the session.
//
// It listens on a free loopback port and prints JSON lines on stdout:
//   {op:"listening", port}
//   {op:"auth", auth}                 a CONNECT's auth payload
//   {op:"handshake", headers, query}  a connection to "/"
//   {op:"record", json}               a "record" event's first argument
//   {op:"result", seq, value}         the answer to a command
// Commands are JSON lines on stdin, {seq, cmd, ...}:
//   emit {room, event, arg}   io.to(room).emit(event[, arg]) on "/"
//   has {id}                  whether "/" has the socket
//   sessions                  the Engine.IO sessions of the Socket.IO server
//   rss                       the process's resident memory, in bytes
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { Server } from 'socket.io';
import { Server as EngineServer } from 'engine.io';
import { serveEvents } from './serve_events.mjs';

const recovery = process.argv[2] === 'recovery';

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const http = createServer();
const opts = { serveClient: false, maxHttpBufferSize: 1e8 };
if (recovery) {
  Object.assign(opts, {
    connectionStateRecovery: { maxDisconnectionDuration: 120000 },
    pingInterval: 100,
    pingTimeout: 1000,
  });
}
const io = new Server(http, opts);

const withAck = (args) => (typeof args.at(-1) === 'function' ? args.pop() : null);

for (const name of ['/', '/admin']) {
  const nsp = io.of(name);
  nsp.use((socket, next) => {
    out({ op: 'auth', auth: socket.handshake.auth });
    if (socket.handshake.auth && socket.handshake.auth.token === 'bad') {
      const err = new Error('not authorized');
      err.data = { reason: 'bad token', code: 401 };
      return next(err);
    }
    next();
  });
  nsp.on('connection', (socket) => {
    if (name === '/') out({ op: 'handshake', headers: socket.handshake.headers, query: socket.handshake.query });
    socket.on('echo', (...args) => {
      const ack = withAck(args);
      if (ack) ack(...args);
    });
    socket.on('echoRaw', (...args) => {
      const ack = withAck(args);
      socket.emit('echoRaw', ...args);
      if (ack) ack(...args);
    });
    socket.on('join', (room, ack) => {
      socket.join(room);
      ack('joined');
    });
    socket.on('broadcast', (room, msg, ack) => {
      nsp.to(room).emit('news', msg);
      if (typeof ack === 'function') ack('ok');
    });
    socket.on('ask', async (ack) => {
      try {
        const a = await socket.timeout(5000).emitWithAck('question', 'what?');
        ack(a);
      } catch (err) {
        ack('error: ' + err);
      }
    });
    socket.on('kick', () => socket.disconnect());
    socket.on('ignore', () => {});
    socket.on('record', (arg) => out({ op: 'record', json: JSON.stringify(arg) }));

    // tether serve's built-in events, as tether load uses them.
    serveEvents(nsp, socket);

    socket.emit('welcome', { id: socket.id, nsp: name, recovered: socket.recovered, engine: socket.conn.id });
  });
}

const engine = new EngineServer({ allowEIO3: true, pingInterval: 100, pingTimeout: 400, maxHttpBufferSize: 1e8 });
engine.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (data === 'close me') {
      socket.close();
      return;
    }
    socket.send(data);
  });
});
engine.attach(http, { path: '/engine.io/' });

const commands = {
  emit: (c) => (c.arg === undefined ? io.to(c.room).emit(c.event) : io.to(c.room).emit(c.event, c.arg)),
  has: (c) => io.of('/').sockets.has(c.id),
  sessions: () => io.engine.clientsCount,
  rss: () => process.memoryUsage().rss,
};

createInterface({ input: process.stdin })
  .on('line', async (line) => {
    const c = JSON.parse(line);
    const value = await commands[c.cmd](c);
    out({ op: 'result', seq: c.seq, value: value === undefined ? null : value });
  })
  .on('close', () => {
    io.close();
    engine.close();
    process.exit(0);
  });

http.listen(0, '127.0.0.1', () => out({ op: 'listening', port: http.address().port }));
