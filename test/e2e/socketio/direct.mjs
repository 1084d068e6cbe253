// direct.mjs checks what broadcasts deliver when they mix with a socket's own
// packets, acknowledgements and volatile packets, as the official client
// sees them (direct_test.go starts the Go server). Several clients join one
// room; the first asks the server for a burst: numbered broadcasts "b"
// (some over 16 KiB), after some of them a packet "own" to the asking
// socket only and a volatile broadcast "v", and meanwhile acknowledgement
// requests "ask" to the asking socket. Every client checks that it got
// every "b" once and in order, every "own" right after its "b", the "v"s it
// got in order and in their place, and the answers to its own "echo"
// requests sent during the burst. It reports JSON lines; the last one is
// {op:"done", ok, message}.
//
// Usage: node direct.mjs <server URL> [JSON options]
//   options: transports, v2 (socket.io-client 2.x), clients, n, every,
//   big, bigSize, volatileEvery, askEvery, deflate (perMessageDeflate with
//   threshold 0)

import { io } from 'socket.io-client';
import { once, callWithin } from './wait.mjs';

const call = (socket, event, ...args) => callWithin(60000, socket, event, ...args);

const [, , url, rawOpts] = process.argv;
const opts = JSON.parse(rawOpts || '{}');
const clients = opts.clients ?? 6;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(what) {
  throw new Error(what);
}

async function connect() {
  const o = { transports: opts.transports, reconnection: false, forceNew: true };
  if (opts.deflate) o.perMessageDeflate = { threshold: 0 };
  let socket;
  if (opts.v2) {
    const { default: ioV2 } = await import('socket.io-client-v2');
    socket = ioV2(url, o);
  } else {
    socket = io(url, o);
  }
  const [err] = await Promise.race([once(socket, 'connect', 30000).then(() => [null]), once(socket, 'connect_error', 30000)]);
  if (err) fail(`connect_error: ${err.message ?? err}`);
  return socket;
}

// expectedBig returns the payload of broadcast i (see direct_test.go).
function payload(i) {
  if (opts.big > 0 && i % opts.big === 0) return `${i}:`.padEnd(opts.bigSize, 'x');
  return `p${i}`;
}

// watch records what socket receives and resolves, at "end", with the log.
function watch(socket, asker) {
  const log = [];
  socket.on('b', (i, p) => log.push(['b', i, p]));
  socket.on('own', (i) => log.push(['own', i]));
  socket.on('v', (i) => log.push(['v', i]));
  if (asker) socket.on('ask', (i, cb) => cb(i * 2));
  return once(socket, 'end', 120000).then(([n]) => ({ n, log }));
}

// check verifies one client's log of a burst of n broadcasts.
function check(name, { n, log }, asker) {
  let next = 0; // the next "b" expected
  let lastV = -1;
  let owns = 0;
  let vs = 0;
  for (let k = 0; k < log.length; k++) {
    const [ev, i, p] = log[k];
    if (ev === 'b') {
      if (i !== next) fail(`${name}: broadcast ${i} where ${next} was due`);
      if (p !== payload(i)) fail(`${name}: broadcast ${i} carries ${String(p).slice(0, 40)}… (${String(p).length} chars)`);
      next++;
    } else if (ev === 'own') {
      if (!asker) fail(`${name}: got another socket's packet ${i}`);
      if (i !== next - 1 || log[k - 1][0] !== 'b') fail(`${name}: own ${i} after broadcast ${next - 1} (not right after its broadcast)`);
      owns++;
    } else if (ev === 'v') {
      if (i <= lastV) fail(`${name}: volatile ${i} after volatile ${lastV}`);
      if (i !== next - 1) fail(`${name}: volatile ${i} after broadcast ${next - 1}`);
      lastV = i;
      vs++;
    }
  }
  if (next !== n) fail(`${name}: ${next} broadcasts of ${n}`);
  if (asker && opts.every > 0 && owns !== Math.ceil(n / opts.every)) fail(`${name}: ${owns} own packets`);
  return vs;
}

const sockets = [];
try {
  for (let c = 0; c < clients; c++) sockets.push(await connect());
  for (const s of sockets) {
    const [rooms] = await call(s, 'join', ['burst']);
    if (!rooms.includes('burst')) fail('join');
  }
  const s0 = sockets[0];
  const t = s0.io.engine.transport;
  emit({ op: 'transport', name: t.name, extensions: t.ws?.extensions ?? '' });
  const done = sockets.map((s, c) => watch(s, c === 0));
  const burst = call(s0, 'burst', {
    room: 'burst', n: opts.n, every: opts.every, big: opts.big, bigSize: opts.bigSize,
    volatileEvery: opts.volatileEvery, askEvery: opts.askEvery,
  });
  // Requests of the clients' own while the burst goes on.
  const echoes = sockets.map(async (s, c) => {
    for (let k = 0; k < 20; k++) {
      const [back] = await call(s, 'echo', `${c}-${k}`);
      if (back !== `${c}-${k}`) fail(`echo ${c}-${k}: ${back}`);
    }
  });
  burst.catch(() => {}); // awaited below
  const logs = await Promise.all(done);
  await Promise.all(echoes);
  const [result] = await burst;
  if (result.error) fail(`server: ${result.error}`);
  let volatile = 0;
  logs.forEach((l, c) => { volatile += check(`client ${c}`, l, c === 0); });
  emit({ op: 'burst', ticks: opts.n, message: `volatile ${volatile}, acks ${result.acks}` });
  emit({ op: 'done', ok: true });
} catch (err) {
  emit({ op: 'done', ok: false, message: String(err?.stack ?? err) });
} finally {
  for (const s of sockets) s.close();
  process.exit(0); // the timers of once() would keep Node up
}
