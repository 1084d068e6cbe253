// screenshots.mjs takes the screenshots of the demos in docs/screenshots/
// (run by hand, not by the tests), from a running server with the demos:
//
//   node test/e2e/demo/screenshots.mjs http://127.0.0.1:8080 docs/screenshots
import { chromium } from 'playwright-core';
import path from 'node:path';

const [url, out = 'docs/screenshots'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.TETHER_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const viewport = { width: 1200, height: 720 };
async function page(p) {
  const context = await browser.newContext({ viewport, colorScheme: 'light' });
  const pg = await context.newPage();
  await pg.goto(`${url}/${p}`);
  await pg.waitForSelector('[data-status][data-state="websocket"]', { timeout: 15000 });
  return pg;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const shot = (pg, name) => pg.screenshot({ path: path.join(out, name) });

try {
  // Leaderboard: three players and the bots.
  const players = [];
  for (const [name, clicks] of [['alice', 14], ['bob', 9], ['you', 11]]) {
    const pg = await page('leaderboard.html');
    await pg.fill('#name', name);
    await pg.click('#join');
    await pg.waitForSelector('#score:visible');
    for (let i = 0; i < clicks; i++) await pg.click('#score');
    players.push(pg);
  }
  const lb = players[2];
  await lb.click('label.switch');
  await sleep(3000);
  await shot(lb, 'leaderboard.png');
  await lb.click('label.switch');

  // Chat: alice and bob; alice's page, bob typing.
  const alice = await page('chat.html?name=alice');
  const bob = await page('chat.html?name=bob');
  const say = async (pg, text) => {
    await pg.fill('#text', text);
    await pg.press('#text', 'Enter');
    await sleep(300);
  };
  await say(bob, 'Hi! Has anyone tried the ticker demo?');
  await say(alice, 'Yes: under a millisecond end to end on loopback.');
  await say(bob, 'And the chat survives a network drop, missed messages come back on reconnect.');
  await say(alice, 'Try the "Drop connection 5 s" button, then write from another window.');
  await bob.click('#text');
  await bob.keyboard.type('Nice, trying', { delay: 60 });
  await sleep(500);
  await shot(alice, 'chat.png');

  // Ticker: a few seconds of ticks.
  const ticker = await page('ticker.html');
  await sleep(8000);
  await shot(ticker, 'ticker.png');
} finally {
  await browser.close();
}
