// pages.mjs: what the pages say. The chat's pill says "not connected"
// until a name is entered (the page does not connect before); the
// ticker's price shows the last tick's direction apart from the change
// since the open, whose colour follows its sign, and its dropped ticks are
// split between the connection's start and a settled WebSocket.
//
// Usage: node pages.mjs <server URL>
import { run, open, emit, assert, status } from './lib.mjs';

await run(async (browser) => {
  // The chat before a name: idle, no socket.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => emit({ op: 'pageerror', name: 'chat', message: String(e) }));
  await page.goto(`${process.argv[2]}/chat.html`);
  await page.waitForSelector('#login:not(.hidden)');
  await page.waitForTimeout(500); // time enough to start connecting, if it did
  let pill = await page.evaluate(() => {
    const p = document.querySelector('[data-status]');
    return { text: p.textContent, state: p.dataset.state, socket: window.chat.socket !== null };
  });
  emit({ op: 'chat-before-name', message: `${pill.text} (${pill.state}), socket: ${pill.socket}` });
  await page.fill('#name', 'carol');
  await page.press('#name', 'Enter');
  await page.waitForFunction(() => window.chat.ready, null, { timeout: 10000 });
  const st = await status(page);
  assert(st.changes[0] === 'connecting' && ['polling', 'websocket'].includes(st.state), `after the name: ${JSON.stringify(st)}`);
  emit({ op: 'chat-after-name', message: st.changes[0] });
  await context.close();

  // The ticker, settled on WebSocket.
  const ticker = await open(browser, 'ticker', 'ticker.html');
  await ticker.page.waitForFunction(() => window.ticker.state.settled && window.ticker.state.ticks >= 3, null, { timeout: 15000 });
  const labels = await ticker.page.evaluate(() => ({
    change: document.querySelector('#quotes thead th:nth-child(4)').textContent,
    explained: document.getElementById('quotes').nextElementSibling.textContent.includes('the price at which the server'),
  }));
  emit({ op: 'ticker-labels', message: labels.change, ok: labels.explained });
  // Every row: the price cell has no colour of its own; its arrow gives
  // the last tick's direction; the change's colour follows its sign.
  await ticker.page.waitForFunction(() => [...document.querySelectorAll('#quotes tbody td.price')].some((td) => td.dataset.last), null, { timeout: 10000 });
  const rows = await ticker.page.evaluate(() => [...document.querySelectorAll('#quotes tbody tr')].map((tr) => {
    const price = tr.querySelector('td.price');
    const change = tr.children[3];
    const arrow = price.querySelector('.last');
    return {
      sym: tr.dataset.symbol,
      priceColoured: price.classList.contains('up') || price.classList.contains('down') || /flash/.test(price.className),
      arrow: arrow.textContent, arrowClass: arrow.className, last: price.dataset.last,
      change: change.textContent, changeClass: change.className,
    };
  }));
  let consistent = rows.length === 6;
  for (const r of rows) {
    const arrowOK = r.last === 'up' ? r.arrow === '▲' && r.arrowClass === 'last up'
      : r.last === 'down' ? r.arrow === '▼' && r.arrowClass === 'last down' : r.arrow === '';
    const changeOK = r.change.startsWith('+') ? r.changeClass === 'num up' : r.change.startsWith('-') && r.changeClass === 'num down';
    if (r.priceColoured || !arrowOK || !changeOK) {
      consistent = false;
      emit({ op: 'ticker-row', name: r.sym, message: JSON.stringify(r) });
    }
  }
  emit({ op: 'ticker-rows', ok: consistent });

  // Dropped ticks: a gap on the settled WebSocket counts there (two ticks
  // skipped on purpose), those of the start as connecting. The page takes
  // a last sequence number of 0 for "no tick yet" (the server's first is
  // 1): skipping two from 2 would make it that, and no gap would count, so
  // wait for a later one.
  await ticker.page.waitForFunction(() => window.ticker.state.lastSeq > 2, null, { timeout: 10000 });
  const before = await ticker.page.evaluate(() => ({ ...window.ticker.state }));
  await ticker.page.evaluate(() => { window.ticker.state.lastSeq -= 2; });
  await ticker.page.waitForFunction((n) => window.ticker.state.ticks > n + 1, before.ticks, { timeout: 10000 });
  const after = await ticker.page.evaluate(() => ({ ...window.ticker.state, split: document.getElementById('gaps-split').textContent }));
  assert(after.gaps === after.gapsConnecting + after.gapsWebSocket, `gaps ${after.gaps} = ${after.gapsConnecting} + ${after.gapsWebSocket}`);
  assert(after.gapsConnecting === before.gapsConnecting, `connecting: ${before.gapsConnecting} then ${after.gapsConnecting}`);
  assert(after.split === `${after.gapsConnecting} connecting or polling, ${after.gapsWebSocket} on WebSocket`, `split: ${after.split}`);
  // (A tick the server really dropped meanwhile would add to it.)
  const added = after.gapsWebSocket - before.gapsWebSocket;
  emit({ op: 'ticker-gaps', ok: added >= 2, message: `+${added} on WebSocket` });
});
