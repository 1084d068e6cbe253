// origin.mjs: a page on another origin (a second server on another port)
// loads the socket.io client and tries to open a socket on the Tether
// server, over polling and over WebSocket; the server refuses both (its
// Origin policy allows its own origin only), so each gets connect_error.
//
// Usage: node origin.mjs <Tether server URL> <URL of a page on another origin>
import { run, emit, assert } from './lib.mjs';

const tether = process.argv[2];
const elsewhere = process.argv[3];

await run(async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => emit({ op: 'pageerror', name: 'elsewhere', message: String(e) }));
  await page.goto(elsewhere);
  await page.waitForFunction(() => typeof io !== 'undefined', null, { timeout: 10000 });
  for (const transport of ['polling', 'websocket']) {
    const res = await page.evaluate(([url, transport]) => new Promise((resolve) => {
      const socket = io(url + '/chat', { path: '/rt/', transports: [transport], reconnection: false, timeout: 10000 });
      socket.on('connect', () => { socket.close(); resolve({ connected: true }); });
      socket.on('connect_error', (err) => { socket.close(); resolve({ connected: false, message: err.message }); });
    }), [tether, transport]);
    assert(!res.connected, `a page on ${elsewhere} opened a socket over ${transport}`);
    emit({ op: 'refused', name: transport, message: res.message });
  }
});
