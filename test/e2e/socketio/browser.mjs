// browser.mjs drives Debian's Chromium (through playwright-core): two pages
// load the browser build of socket.io-client from the Go test server and chat
// through it. It reports as JSON lines; the last one is {op:"done", ok}.
//
// Usage: node browser.mjs <server URL>

import { chromium } from 'playwright-core';

const url = process.argv[2];
const executablePath = process.env.TETHER_CHROMIUM || '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  const pages = [];
  for (const name of ['alice', 'bob']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('console', (m) => emit({ op: 'console', name, message: m.text() }));
    page.on('pageerror', (e) => emit({ op: 'pageerror', name, message: String(e) }));
    await page.goto(`${url}/chat.html?name=${name}`);
    await page.waitForFunction(() => window.chat && window.chat.ready, null, { timeout: 20000 });
    pages.push(page);
  }
  const [alice, bob] = pages;
  const transport = await alice.evaluate(() => window.chat.transport());
  emit({ op: 'connected', transport });

  // alice -> everyone else, with the server's acknowledgement.
  const ack = await alice.evaluate(() => window.chat.send('hello bob'));
  assert(ack === 'delivered', `ack ${ack}`);
  await bob.waitForFunction(() => window.chat.received.some((m) => m.text === 'hello bob' && m.from === 'alice'), null, { timeout: 10000 });
  // bob answers.
  await bob.evaluate(() => window.chat.send('hi alice'));
  await alice.waitForFunction(() => window.chat.received.some((m) => m.text === 'hi alice' && m.from === 'bob'), null, { timeout: 10000 });
  // The sender does not get its own message back.
  const own = await alice.evaluate(() => window.chat.received.filter((m) => m.from === 'alice').length);
  assert(own === 0, 'alice got her own message');
  // Binary from the browser and back (Uint8Array -> []byte -> ArrayBuffer).
  const bin = await alice.evaluate(() => window.chat.binaryRoundTrip(5000));
  assert(bin === 'ok', `binary round trip: ${bin}`);
  emit({ op: 'chat', ok: true, transport: await bob.evaluate(() => window.chat.transport()) });
  emit({ op: 'done', ok: true });
  await browser.close();
  process.exit(0);
} catch (e) {
  emit({ op: 'done', ok: false, message: String(e && e.stack || e) });
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
