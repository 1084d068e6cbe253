// client_v2.mjs runs the Socket.IO v2 client (socket.io-client 2.x, Engine.IO
// 3) against the Go server of e2e_test.go, started with AllowEIO3. It reports
// as JSON lines; the last one is {op:"done", ok, message}.
//
// Usage: node client_v2.mjs <server URL> [JSON options]

import ioV2 from 'socket.io-client-v2';
import { once, callWithin } from './wait.mjs';

const call = (socket, event, ...args) => callWithin(10000, socket, event, ...args);

const [, , url, rawOpts] = process.argv;
const opts = JSON.parse(rawOpts || '{}');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function eq(a, b, what) {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${what}: got ${ja}, want ${jb}`);
}

try {
  const socket = ioV2(url, { transports: opts.transports, forceNew: true, reconnection: false });
  const welcomed = once(socket, 'welcome');
  await once(socket, 'connect');
  const [welcome] = await welcomed;
  eq(welcome.id, socket.id, 'welcome id (the Engine.IO id for v2 clients)');
  eq(await call(socket, 'echo', 'hello', 42), [['hello', 42]], 'echo');
  socket.once('question', (a, b, cb) => cb({ got: [a, b] }));
  eq(await call(socket, 'ask-me'), [{ answer: [{ got: [1, 'two'] }], error: '' }], 'server emitWithAck');
  const data = Buffer.from([1, 2, 3, 250]);
  socket.emit('binary-echo', { name: 'f', data, nested: [Buffer.from('x')] });
  const [back] = await once(socket, 'binary-echo');
  if (!Buffer.isBuffer(back.data) || !back.data.equals(data) || back.nested[0].toString() !== 'x') {
    throw new Error(`binary back: ${JSON.stringify(back)}`);
  }
  eq(socket.io.engine.transport.name, opts.transports[0], 'transport');

  // A namespace with a middleware: the auth travels in the query.
  const bad = ioV2(url + '/secure', { query: { token: 'wrong' }, transports: opts.transports, forceNew: true, reconnection: false });
  const [err] = await once(bad, 'error');
  eq(err, { code: 401, hint: 'use the secret' }, 'connect error data');
  bad.close();
  const good = ioV2(url + '/secure', { query: { token: 'secret' }, transports: opts.transports, forceNew: true, reconnection: false });
  await once(good, 'connect');
  eq(await call(good, 'whoami'), [{ nsp: '/secure', user: 'alice' }], 'whoami');
  good.close();
  socket.close();
  emit({ op: 'done', ok: true });
  process.exit(0);
} catch (e) {
  emit({ op: 'done', ok: false, message: String(e && e.stack || e) });
  process.exit(1);
}
