// admin.mjs: the official Socket.IO Admin UI (the static files of
// @socket.io/admin-ui, served on another origin) in Chromium, against a
// Tether server with admin_ui enabled. Three socket.io-client clients in
// Node (one on long-polling) subscribe to rooms; the UI logs in, its
// dashboard and sockets pages show them, and its join, leave and
// disconnect buttons act on one of them, which the server's API and the
// client confirm.
//
// Usage: node admin.mjs <server URL> <UI URL> <JSON {username, password, apiKey, shots}>
// Prints one JSON object per line; the last one is {op: "done", ok}.
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import path from 'node:path';

const [server, ui, argsJSON] = process.argv.slice(2);
const args = JSON.parse(argsJSON);
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// until polls fn until it returns a truthy value, for up to 15 s.
async function until(what, fn, last) {
  for (let i = 0; i < 150; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + JSON.stringify(await last()) : ''}`);
}

// client connects a socket.io-client socket to "/" and subscribes it to rooms.
async function client(name, transports, rooms) {
  const s = io(server, { transports, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  });
  for (const room of rooms) {
    const res = await s.emitWithAck('subscribe', { room });
    assert(res.ok, `${name} subscribes to ${room}`);
  }
  return s;
}

// roomMembers returns the ids of the sockets in room, from the server's API.
async function roomMembers(room) {
  const resp = await fetch(`${server}/api/sockets?room=${encodeURIComponent(room)}`, { headers: { 'X-API-Key': args.apiKey } });
  const body = await resp.json();
  return body.sockets.map((s) => s.id);
}

async function main(browser) {
  const alice = await client('alice', ['websocket'], ['lobby']);
  const bob = await client('bob', ['polling'], ['lobby', 'news']);
  const carol = await client('carol', ['polling', 'websocket'], ['news']);
  const names = { [alice.id]: 'alice', [bob.id]: 'bob', [carol.id]: 'carol' };
  const chatter = setInterval(() => carol.emit('publish', { room: 'news', event: 'headline', data: { t: Date.now() } }), 500);
  const aliceGone = new Promise((resolve) => alice.once('disconnect', resolve));

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('pageerror', (e) => emit({ op: 'pageerror', message: String(e) }));
  // The UI loads its fonts from CDNs, out of reach of the tests: the icons
  // come from the @mdi/font package, the text takes the system's font.
  await page.route(/fonts\.googleapis\.com/, (r) => r.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  await page.route(/cdn\.jsdelivr\.net\/npm\/@mdi\/font@[^/]+\/(.*)$/, (r) => {
    const rel = new URL(r.request().url()).pathname.replace(/^\/npm\/@mdi\/font@[^/]+\//, '');
    return r.fulfill({ path: path.join('node_modules/@mdi/font', rel) });
  });

  // Log in: a wrong password first.
  await page.goto(ui);
  await page.getByLabel('Server URL').fill(server);
  await page.getByLabel('Username').fill(args.username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByText('Invalid credentials').waitFor({ timeout: 15000 });
  emit({ op: 'login-refused' });
  await page.getByLabel('Password').fill(args.password);
  await page.getByRole('button', { name: 'Connect' }).click();
  await until('the UI to connect', () => page.evaluate(() => /Status:\s*CONNECTED/.test(document.querySelector('header').innerText)));
  emit({ op: 'login' });

  // Dashboard: the clients by transport, and the namespaces.
  const dashboard = await until('the dashboard to count the clients', () => page.evaluate(() => {
    const card = (title) => [...document.querySelectorAll('.v-card')].find((c) => c.querySelector('.v-card__title')?.textContent.trim() === title);
    const rows = (c) => [...(c?.querySelectorAll('tbody tr') || [])].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim()))
      .filter((r) => r.length >= 2);
    const clients = Object.fromEntries(rows(card('Clients')).map(([k, v]) => [k, Number(v.split('\n')[0])]));
    const namespaces = Object.fromEntries(rows(card('Namespaces')).map(([k, v]) => [k, Number(v)]));
    const servers = Object.fromEntries(rows(card('Servers')).map(([k, v]) => [k, Number(v.split('\n')[0])]));
    // The UI's own connection is on WebSocket too.
    window.lastDashboard = { clients, namespaces, servers };
    return clients.WebSocket === 3 && clients['HTTP long-polling'] === 1 && namespaces['/'] === 3 && { clients, namespaces, servers };
  }), () => page.evaluate(() => window.lastDashboard));
  emit({ op: 'dashboard', ...dashboard });
  await sleep(2500); // a statistics round more for the charts
  if (args.shots) await page.screenshot({ path: path.join(args.shots, 'admin-ui-dashboard.png') });

  // Sockets: the three clients of "/", with their transports.
  await page.goto(ui + '#/sockets/');
  const sockets = await until('the sockets page to list the clients', () => page.evaluate((names) => {
    const rows = [...document.querySelectorAll('main tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim()));
    const found = rows.filter((r) => names[r[0]]).map((r) => `${names[r[0]]} ${r[2]}`).sort();
    return found.length === 3 && found;
  }, names));
  emit({ op: 'sockets', message: sockets.join(', ') });
  await sleep(1000); // the page's transition
  if (args.shots) await page.screenshot({ path: path.join(args.shots, 'admin-ui-sockets.png') });

  // Alice's page: join a room, leave it, disconnect her.
  await page.goto(ui + '#/n/%2F/sockets/' + alice.id);
  const rooms = page.locator('.v-card', { has: page.locator('.v-card__title', { hasText: 'Rooms' }) });
  await rooms.getByText('lobby', { exact: true }).waitFor({ timeout: 15000 });
  await page.getByLabel('Join a room').fill('vip');
  await page.getByLabel('Join a room').press('Enter');
  await rooms.locator('button:has(.mdi-tag-plus-outline)').click();
  await until('alice in vip (API)', async () => (await roomMembers('vip')).includes(alice.id));
  await rooms.getByText('vip', { exact: true }).waitFor({ timeout: 15000 });
  emit({ op: 'join', message: (await roomMembers('vip')).map((id) => names[id]).join(',') });
  await sleep(1000);
  if (args.shots) await page.screenshot({ path: path.join(args.shots, 'admin-ui-socket.png') });

  await rooms.locator('tr', { hasText: 'vip' }).locator('button:has(.mdi-tag-off-outline)').click();
  await until('alice out of vip (API)', async () => (await roomMembers('vip')).length === 0);
  await rooms.getByText('vip', { exact: true }).waitFor({ state: 'detached', timeout: 15000 });
  emit({ op: 'leave', message: (await roomMembers('lobby')).map((id) => names[id]).sort().join(',') });

  // The Socket section's button disconnects the socket (the Client
  // section's, the whole connection). (A click in a room's row may have
  // opened the room's page.)
  await page.goto(ui + '#/n/%2F/sockets/' + alice.id);
  const logout = page.locator('main button:has(.mdi-logout)');
  await until('the disconnect buttons', async () => (await logout.count()) === 2);
  await logout.nth(1).click();
  const reason = await Promise.race([aliceGone, sleep(15000).then(() => 'no disconnection in 15 s')]);
  emit({ op: 'disconnect', message: reason });

  clearInterval(chatter);
  bob.close();
  carol.close();
  await context.close();
}

const browser = await chromium.launch({
  executablePath: process.env.TETHER_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  await main(browser);
  emit({ op: 'done', ok: true });
} catch (e) {
  emit({ op: 'done', ok: false, message: String((e && e.stack) || e) });
} finally {
  await browser.close().catch(() => {});
  process.exit(0);
}
