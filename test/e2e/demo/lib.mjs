// lib.mjs: what the browser scripts of this folder share. They report as
// JSON lines on stdout; the last one is {op: "done", ok, message}.
import { chromium } from 'playwright-core';

export const url = process.argv[2];

export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

export function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// run launches Debian's Chromium, gives it to fn and reports the outcome.
export async function run(fn) {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: process.env.TETHER_CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
        '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    await fn(browser);
    emit({ op: 'done', ok: true });
    await browser.close();
    process.exit(0);
  } catch (e) {
    emit({ op: 'done', ok: false, message: String((e && e.stack) || e) });
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
}

// open opens path in a new browser context (a separate user: its own
// cookies, storage and network) and waits for the page's socket to connect.
export async function open(browser, name, path) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') emit({ op: 'console', name, message: m.text() });
  });
  page.on('pageerror', (e) => emit({ op: 'pageerror', name, message: String(e) }));
  await page.goto(`${url}/${path}`);
  await page.waitForSelector('[data-status][data-state="polling"], [data-status][data-state="websocket"]', { timeout: 15000 });
  return { name, context, page };
}

// status returns the text of the page's connection state pill and the
// states it went through.
export async function status(page) {
  return page.evaluate(() => {
    const pill = document.querySelector('[data-status]');
    const st = (window.chat || window.leaderboard || window.ticker).status;
    return { text: pill.textContent, state: pill.dataset.state, changes: st.changes };
  });
}
