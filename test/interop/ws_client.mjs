// ws_client.mjs drives Node's `ws` client against one of our servers.
//
// Usage: node ws_client.mjs <JSON {connections: [{url, options, steps}]}>
//
// The connections run one after the other, in one process (Node starts
// slowly on a busy machine). For each, options go to `new WebSocket(url,
// protocols, options)` (protocols taken from options.protocols) and the
// steps run in order once the socket is open. Every result is a JSON line
// on stdout (see lib.mjs) with the connection's index as "conn"; the Go
// test decides what is right. Steps:
//
//   {op:"echo", type, size, pattern, seed, fragments, compress, pingMid, copies}
//       send a message (in `fragments` frames with fin:false, optionally a
//       ping between the first two) and wait for the same bytes back
//       (`copies` times).
//   {op:"send", type, size, pattern, seed}   send without waiting.
//   {op:"ping", data}                        ping, wait for the pong.
//   {op:"expectMessage"}                     wait for a message.
//   {op:"close", code, reason}               close, wait for the close event.
//   {op:"expectClose"}                       wait for the peer to close.
//   {op:"sleep", ms}                         stay idle (pings still answered).
//
// Pings from the server are reported as {op:"ping-received"} as they come.

import WebSocket from 'ws';
import { emit as emitLine, payload, sha256, withTimeout } from './lib.mjs';

const stepTimeout = 30000;

// runConnection runs one connection's plan to its end.
async function runConnection(conn, { url, options: opts, steps }) {
  const emit = (obj) => emitLine({ conn, ...obj });
  const options = { ...(opts || {}) };
  const protocols = options.protocols || [];
  delete options.protocols;

  const ws = new WebSocket(url, protocols, options);

  let responseHeaders = {};
  ws.on('upgrade', (res) => { responseHeaders = res.headers; });
  ws.on('unexpected-response', (req, res) => {
    emit({ op: 'unexpected-response', code: res.statusCode });
    res.resume();
  });

  const queue = [];
  let waiter = null;
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary, wireIn: ws._socket ? ws._socket.bytesRead : 0 };
    if (waiter) { const w = waiter; waiter = null; w(m); } else queue.push(m);
  });

  let closeInfo = null;
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString('utf8') };
      if (waiter) { const w = waiter; waiter = null; w(null); }
      resolve(closeInfo);
    });
  });
  ws.on('error', (err) => emit({ op: 'error', message: err.message }));
  ws.on('ping', (data) => emit({ op: 'ping-received', data: data.toString('utf8') }));

  function nextMessage() {
    if (queue.length) return Promise.resolve(queue.shift());
    if (closeInfo) return Promise.resolve(null);
    return new Promise((resolve) => { waiter = resolve; });
  }

  function sendFrame(data, opts) {
    return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  }

  function nextPong(expect) {
    return new Promise((resolve) => {
      const onPong = (data) => {
        if (data.toString('utf8') !== expect) return;
        ws.off('pong', onPong);
        resolve(data.toString('utf8'));
      };
      ws.on('pong', onPong);
    });
  }

  async function sendMessage(step) {
    const type = step.type || 'binary';
    const data = payload(step.pattern || (type === 'text' ? 'mixed' : 'random'), step.size || 0, step.seed || 1);
    const binary = type === 'binary';
    const compress = step.compress !== false;
    const n = Math.max(1, step.fragments || 1);
    let pong = null;
    if (n === 1) {
      await sendFrame(data, { binary, compress });
    } else {
      // Cut anywhere, even inside a UTF-8 character: the receiver validates
      // text across fragments.
      const cut = Math.ceil(data.length / n);
      for (let i = 0; i < n; i++) {
        const part = data.subarray(Math.min(i * cut, data.length), Math.min((i + 1) * cut, data.length));
        await sendFrame(part, { binary, compress, fin: i === n - 1 });
        if (i === 0 && step.pingMid) {
          pong = nextPong('mid-message');
          ws.ping('mid-message');
        }
      }
    }
    return { data, pong };
  }

  async function runStep(step, index) {
    const base = { step: index, op: step.op };
    const sock = ws._socket;
    const in0 = sock.bytesRead;
    const out0 = sock.bytesWritten;
    switch (step.op) {
      case 'echo': {
        const { data, pong } = await sendMessage(step);
        const wireOut = sock.bytesWritten - out0;
        const m = await nextMessage();
        const res = { ...base, type: step.type || 'binary', size: data.length, fragments: step.fragments || 1, wireOut };
        if (pong) res.pong = await pong;
        if (!m) return emit({ ...res, ok: false, message: 'closed before the echo', code: closeInfo.code, reason: closeInfo.reason });
        const got = Buffer.isBuffer(m.data) ? m.data : Buffer.concat(m.data);
        let ok = got.equals(data) && m.isBinary === (res.type === 'binary');
        for (let i = 1; i < (step.copies || 1); i++) {
          const again = await nextMessage();
          ok = ok && again !== null && again.data.equals(data) && again.isBinary === m.isBinary;
        }
        return emit({
          ...res,
          ok,
          gotType: m.isBinary ? 'binary' : 'text',
          gotSize: got.length,
          wireIn: m.wireIn - in0,
        });
      }
      case 'send': {
        const { data } = await sendMessage(step);
        return emit({ ...base, size: data.length, wireOut: sock.bytesWritten - out0 });
      }
      case 'ping': {
        const pong = nextPong(step.data || '');
        ws.ping(step.data || '');
        return emit({ ...base, data: await pong });
      }
      case 'expectMessage': {
        const m = await nextMessage();
        if (!m) return emit({ ...base, ok: false, code: closeInfo.code, reason: closeInfo.reason });
        const got = Buffer.isBuffer(m.data) ? m.data : Buffer.concat(m.data);
        return emit({ ...base, ok: true, gotType: m.isBinary ? 'binary' : 'text', gotSize: got.length, sha: sha256(got), data: m.isBinary ? '' : got.toString('utf8').slice(0, 200) });
      }
      case 'close': {
        if (step.code === undefined) ws.close(); else ws.close(step.code, step.reason || '');
        const c = await closed;
        return emit({ ...base, code: c.code, reason: c.reason });
      }
      case 'sleep': {
        await new Promise((resolve) => setTimeout(resolve, step.ms || 0));
        return emit({ ...base, ok: ws.readyState === WebSocket.OPEN });
      }
      case 'expectClose': {
        const c = await closed;
        return emit({ ...base, code: c.code, reason: c.reason });
      }
    }
    throw new Error(`unknown step ${JSON.stringify(step)}`);
  }

  async function main() {
    const opened = new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('close', () => reject(new Error('closed before open')));
    });
    try {
      await withTimeout(opened, stepTimeout, 'open');
    } catch (err) {
      emit({ op: 'open-failed', message: err.message });
      return;
    }
    emit({
      op: 'open',
      protocol: ws.protocol,
      extensions: ws.extensions,
      extensionsHeader: responseHeaders['sec-websocket-extensions'] || '',
    });
    for (const [i, step] of (steps || []).entries()) {
      try {
        await withTimeout(runStep(step, i), stepTimeout, `step ${i} ${step.op}`);
      } catch (err) {
        emit({ step: i, op: 'step-failed', message: err.message });
        break;
      }
    }
  }

  await main();
  if (ws.readyState !== WebSocket.CLOSED) {
    ws.terminate();
    await closed;
  }
}

const { connections } = JSON.parse(process.argv[2] || '{}');
for (const [i, spec] of (connections || []).entries()) {
  await runConnection(i, spec);
}
emitLine({ op: 'done' });
process.exit(0);
