// h2peer.mjs is an independent WebSocket-over-HTTP/2 client (RFC 8441),
// made of Node's own http2 module and WebSocket framing written here: it
// opens an extended CONNECT to a Tether echo server and exchanges frames.
//
// Usage: node h2peer.mjs <https://host:port/path>
//
// Output: JSON lines, the last one {op:"done", ok}.

import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';

const target = new URL(process.argv[2]);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// frame returns a masked client frame (RFC 6455, 5.2).
function frame(op, payload, fin = true) {
  const n = payload.length;
  const head = [(fin ? 0x80 : 0) | op];
  if (n < 126) head.push(0x80 | n);
  else if (n < 65536) head.push(0x80 | 126, n >> 8, n & 0xff);
  else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const key = randomBytes(4);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

// Frames parses the server's (unmasked) frames as they arrive.
class Frames {
  constructor(stream) {
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.frames = [];
    this.ended = false;
    stream.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    stream.on('end', () => { this.ended = true; this.wake(); });
  }
  parse() {
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0], b1 = this.buf[1];
      if (b1 & 0x80) throw new Error('server sent a masked frame');
      let n = b1 & 0x7f, off = 2;
      if (n === 126) { if (this.buf.length < 4) return; n = this.buf.readUInt16BE(2); off = 4; }
      else if (n === 127) { if (this.buf.length < 10) return; n = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (this.buf.length < off + n) return;
      this.frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, op: b0 & 0x0f, payload: this.buf.subarray(off, off + n) });
      this.buf = this.buf.subarray(off + n);
      this.wake();
    }
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  async next() {
    while (this.frames.length === 0) {
      if (this.ended) return null;
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 10000); });
      if (this.frames.length === 0 && !this.ended) throw new Error('no frame from the server in 10 s');
    }
    return this.frames.shift();
  }
}

const session = http2.connect(target.origin, { rejectUnauthorized: false });
try {
  session.on('error', (e) => { emit({ op: 'done', ok: false, message: 'session: ' + e }); process.exit(1); });
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  emit({ op: 'settings', enableConnectProtocol: Boolean(session.remoteSettings.enableConnectProtocol) });

  const stream = session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': target.pathname,
    ':authority': target.host,
    'sec-websocket-version': '13',
    'origin': target.origin,
  }, { endStream: false });
  const headers = await new Promise((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  emit({ op: 'response', status: headers[':status'], accept: headers['sec-websocket-accept'] || '' });
  const frames = new Frames(stream);

  // A text message, a binary one with a 64-bit length, fragmented, and a
  // ping between the fragments.
  const text = Buffer.from('hello from node:http2 ✓');
  stream.write(frame(0x1, text));
  let f = await frames.next();
  emit({ op: 'echo', kind: 'text', ok: f.op === 0x1 && f.fin && f.payload.equals(text) });

  const big = Buffer.alloc(70000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  stream.write(frame(0x2, big.subarray(0, 30000), false));
  stream.write(frame(0x9, Buffer.from('ping between fragments')));
  stream.write(frame(0x0, big.subarray(30000), true));
  f = await frames.next();
  emit({ op: 'pong', ok: f.op === 0xa && f.payload.toString() === 'ping between fragments' });
  const parts = [];
  do {
    f = await frames.next();
    parts.push(f.payload);
  } while (!f.fin);
  const got = Buffer.concat(parts);
  emit({ op: 'echo', kind: 'binary', size: got.length, ok: got.equals(big) });

  // The closing handshake: our close, the server's answer, the end of the
  // stream.
  const reason = Buffer.from('bye from node');
  stream.write(frame(0x8, Buffer.concat([Buffer.from([0x0f, 0xa0]), reason]))); // 4000
  f = await frames.next();
  emit({ op: 'close', code: f.op === 0x8 ? f.payload.readUInt16BE(0) : -1 });
  stream.end();
  f = await frames.next();
  emit({ op: 'ended', ended: f === null });
  session.close();
  emit({ op: 'done', ok: true });
  process.exit(0); // the frame waits' timers would keep Node up
} catch (e) {
  emit({ op: 'done', ok: false, message: String((e && e.stack) || e) });
  session.destroy();
  process.exit(1);
}
