// polling.mjs: the server refuses WebSocket upgrades (as a proxy that
// blocks them would); the chat and the ticker still work over HTTP
// long-polling, and the pages say "polling".
//
// Usage: node polling.mjs <server URL>
import { run, open, emit, assert, status } from './lib.mjs';

await run(async (browser) => {
  const alice = await open(browser, 'alice', 'chat.html?name=alice');
  const bob = await open(browser, 'bob', 'chat.html?name=bob');
  for (const p of [alice, bob]) await p.page.waitForFunction(() => window.chat.ready, null, { timeout: 10000 });

  await alice.page.fill('#text', 'over polling');
  await alice.page.press('#text', 'Enter');
  await bob.page.waitForFunction(() => window.chat.messages('general').some((m) => m.text === 'over polling'), null, { timeout: 10000 });
  await alice.page.waitForSelector('#messages .msg.own[data-status="delivered"]', { timeout: 10000 });

  const ticker = await open(browser, 'ticker', 'ticker.html');
  await ticker.page.waitForFunction(() => window.ticker.state.ticks >= 5 && window.ticker.state.offset != null, null, { timeout: 10000 });

  // Over long-polling, dropped ticks are never counted as on WebSocket.
  const gaps = await ticker.page.evaluate(() => window.ticker.state);
  assert(!gaps.settled && gaps.gapsWebSocket === 0 && gaps.gaps === gaps.gapsConnecting, `ticker's dropped ticks: ${JSON.stringify(gaps)}`);

  for (const p of [alice, bob, ticker]) {
    const st = await status(p.page);
    assert(st.text === 'polling' && st.state === 'polling', `${p.name} shows ${st.text}`);
    assert(!st.changes.includes('websocket'), `${p.name} went through ${st.changes}`);
    const transport = await p.page.evaluate(() => (window.chat || window.ticker).socket.io.engine.transport.name);
    assert(transport === 'polling', `${p.name}'s transport: ${transport}`);
    emit({ op: 'state', name: p.name, transport });
  }
});
