// browser.mjs drives Debian's Chromium (through playwright-core) against
// `tether serve` over HTTPS: the page loads from the server, two Socket.IO
// clients (WebSocket transport only) join a room there and talk both ways,
// and Chromium's own view of the connections comes from the DevTools
// protocol: the document's protocol, and each WebSocket's handshake
// (status 200 and no Upgrade over HTTP/2, 101 over HTTP/1.1).
//
// Usage: node browser.mjs <https://host:port>
//
// Output: JSON lines {op:"page"}, {op:"websocket"} (one per socket),
// {op:"chat"}, and last {op:"done", ok}.

import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.argv[2];
const executablePath = process.env.TETHER_CHROMIUM || '/usr/bin/chromium';
const client = readFileSync(new URL('./node_modules/socket.io-client/dist/socket.io.min.js', import.meta.url), 'utf8');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--ignore-certificate-errors', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => emit({ op: 'console', message: m.text() }));
  page.on('pageerror', (e) => emit({ op: 'pageerror', message: String(e) }));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const sockets = new Map();
  const socket = (id) => {
    if (!sockets.has(id)) sockets.set(id, {});
    return sockets.get(id);
  };
  let document = null;
  cdp.on('Network.responseReceived', (e) => {
    if (e.type === 'Document') document = { url: e.response.url, protocol: e.response.protocol };
  });
  cdp.on('Network.webSocketCreated', (e) => { socket(e.requestId).url = e.url; });
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => { socket(e.requestId).requestHeaders = e.request.headers; });
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const s = socket(e.requestId);
    s.status = e.response.status;
    s.responseHeaders = e.response.headers;
  });

  await page.goto(base + '/');
  await page.addScriptTag({ content: client });
  const chat = await page.evaluate(async () => {
    const connect = () => new Promise((resolve, reject) => {
      // forceNew: a Manager (and so an Engine.IO session) of its own.
      const s = io({ transports: ['websocket'], forceNew: true });
      s.on('connect', () => resolve(s));
      s.on('connect_error', (e) => reject(new Error('connect_error: ' + e.message)));
    });
    const call = (s, ev, arg) => new Promise((resolve) => s.emit(ev, arg, resolve));
    const next = (s, ev) => new Promise((resolve) => s.once(ev, (data) => resolve(data)));
    const alice = await connect();
    const bob = await connect();
    const subA = await call(alice, 'subscribe', { room: 'h2' });
    const subB = await call(bob, 'subscribe', { room: 'h2' });
    const toBob = next(bob, 'hello');
    const pubA = await call(alice, 'publish', { room: 'h2', event: 'hello', data: 'from alice over h2' });
    const gotBob = await toBob;
    const toAlice = next(alice, 'back');
    const pubB = await call(bob, 'publish', { room: 'h2', event: 'back', data: { text: 'from bob', n: 2 } });
    const gotAlice = await toAlice;
    const result = {
      transports: [alice.io.engine.transport.name, bob.io.engine.transport.name],
      subscribed: Boolean(subA && subA.ok && subB && subB.ok),
      published: Boolean(pubA && pubA.ok && pubB && pubB.ok),
      bobGot: gotBob,
      aliceGot: gotAlice,
    };
    alice.disconnect();
    bob.disconnect();
    return result;
  });
  emit({ op: 'page', ...document });
  for (const s of sockets.values()) emit({ op: 'websocket', ...s });
  emit({ op: 'chat', ...chat });
  emit({ op: 'done', ok: true });
  await browser.close();
  process.exit(0);
} catch (e) {
  emit({ op: 'done', ok: false, message: String((e && e.stack) || e) });
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
