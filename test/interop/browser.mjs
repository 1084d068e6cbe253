// browser.mjs drives Debian's Chromium (through playwright-core) against our
// server: one browser for all the cases given.
//
// Usage: node browser.mjs <config JSON>
//
// config: {cases: [{name, page, url, protocols, steps}]}. For each case the
// browser loads `page` (whose origin is the one the socket is opened from),
// opens `new WebSocket(url, protocols)` there and runs the steps:
//
//   {op:"echo", type:"text"|"binary", size, pattern:"mixed"|"repeat"|"random"}
//   {op:"close", code, reason}
//   {op:"expectClose"}
//
// Each result is a JSON line with the case's name (see lib.mjs). A socket
// that cannot be opened gives {op:"open-failed", code, wasClean}.

import { chromium } from 'playwright-core';
import { emit, withTimeout } from './lib.mjs';

const config = JSON.parse(process.argv[2] || '{}');
const executablePath = process.env.TETHER_CHROMIUM || '/usr/bin/chromium';

// inPage runs inside the page: it must not use anything from outside.
async function inPage({ url, protocols, steps }) {
  const events = [];
  const mixedUnit = new TextEncoder().encode('tether ünïcødé ✓ 👋 — ');
  function payload(pattern, size) {
    const out = new Uint8Array(size);
    if (pattern === 'random') {
      let x = 2654435761 >>> 0;
      for (let i = 0; i < size; i++) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        out[i] = x & 0xff;
      }
      return out;
    }
    if (pattern === 'repeat') {
      const unit = new TextEncoder().encode('tether interop, again and again. ');
      for (let i = 0; i < size; i++) out[i] = unit[i % unit.length];
      return out;
    }
    for (let i = 0; i < size; i++) out[i] = mixedUnit[i % mixedUnit.length];
    let j = size - 1;
    while (j >= 0 && (out[j] & 0xc0) === 0x80) j--;
    if (j >= 0) {
      const lead = out[j];
      const need = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
      if (j + need > size) out.fill(0x78, j);
    }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  const ws = new WebSocket(url, protocols || []);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  let waiter = null;
  let closeInfo = null;
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => {
      closeInfo = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      if (waiter) { const w = waiter; waiter = null; w(null); }
      resolve(closeInfo);
    };
  });
  ws.onmessage = (e) => {
    if (waiter) { const w = waiter; waiter = null; w(e.data); } else queue.push(e.data);
  };
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : closeInfo ? Promise.resolve(null) : new Promise((r) => { waiter = r; }));

  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    closed.then(() => resolve(false));
  });
  if (!opened) {
    events.push({ op: 'open-failed', code: closeInfo.code, wasClean: closeInfo.wasClean });
    return events;
  }
  events.push({ op: 'open', protocol: ws.protocol, extensions: ws.extensions });

  for (const [i, step] of steps.entries()) {
    const base = { step: i, op: step.op };
    if (step.op === 'echo') {
      const bytes = payload(step.pattern || (step.type === 'text' ? 'mixed' : 'random'), step.size);
      ws.send(step.type === 'text' ? new TextDecoder().decode(bytes) : bytes.buffer);
      const m = await next();
      if (m === null) {
        events.push({ ...base, ok: false, code: closeInfo.code, reason: closeInfo.reason });
        break;
      }
      const got = typeof m === 'string' ? new TextEncoder().encode(m) : new Uint8Array(m);
      events.push({
        ...base,
        type: step.type,
        size: step.size,
        gotType: typeof m === 'string' ? 'text' : 'binary',
        gotSize: got.length,
        ok: equal(got, bytes) && (typeof m === 'string') === (step.type === 'text'),
      });
    } else if (step.op === 'close' || step.op === 'expectClose') {
      if (step.op === 'close') ws.close(step.code, step.reason);
      const c = await closed;
      events.push({ ...base, code: c.code, reason: c.reason, wasClean: c.wasClean });
    } else {
      events.push({ ...base, op: 'step-failed', message: 'unknown step' });
      break;
    }
  }
  if (ws.readyState !== WebSocket.CLOSED) ws.close();
  return events;
}

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('console', (msg) => emit({ op: 'console', message: msg.text() }));
  for (const c of config.cases || []) {
    try {
      await page.goto(c.page);
      emit({ case: c.name, op: 'page', message: await page.evaluate(() => location.origin) });
      const events = await withTimeout(page.evaluate(inPage, { url: c.url, protocols: c.protocols, steps: c.steps || [] }), 60000, c.name);
      for (const e of events) emit({ case: c.name, ...e });
    } catch (err) {
      emit({ case: c.name, op: 'step-failed', message: err.message });
    }
  }
} finally {
  await browser.close();
}
emit({ op: 'done' });
