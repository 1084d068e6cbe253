// chat.mjs: two pages chat: typing indicator, sent and delivered ticks,
// then bob's network drops (the browser context goes offline, which closes
// his connection), alice writes meanwhile, and when bob is back online his
// session is recovered and the message arrives, once.
//
// Usage: node chat.mjs <server URL>
import { run, open, emit, assert, status } from './lib.mjs';

// waitMessage waits until page shows a message with text, and returns it.
async function waitMessage(page, text, pred = 'true') {
  await page.waitForFunction(([text, pred]) => window.chat.messages('general')
    .some((m) => m.text === text && new Function('m', `return ${pred}`)(m)), [text, pred], { timeout: 15000 });
  return page.evaluate((text) => window.chat.messages('general').filter((m) => m.text === text), text);
}

await run(async (browser) => {
  const alice = await open(browser, 'alice', 'chat.html?name=alice');
  const bob = await open(browser, 'bob', 'chat.html?name=bob');
  for (const p of [alice, bob]) await p.page.waitForFunction(() => window.chat.ready, null, { timeout: 10000 });

  // Presence: both are in #general.
  await alice.page.waitForFunction(() => [...document.querySelectorAll('#members li')].map((li) => li.textContent).join() === 'alice,bob',
    null, { timeout: 10000 });

  // Typing indicator.
  await bob.page.click('#text');
  await bob.page.keyboard.type('hel', { delay: 50 });
  await alice.page.waitForFunction(() => document.getElementById('typing').textContent === 'bob is typing…', null, { timeout: 10000 });
  await bob.page.fill('#text', '');

  // A message through the form: bob gets it, alice's tick goes to delivered.
  await alice.page.fill('#text', 'hello bob');
  await alice.page.press('#text', 'Enter');
  await waitMessage(bob.page, 'hello bob', 'm.from === "alice" && !m.own');
  await alice.page.waitForSelector('#messages .msg.own[data-status="delivered"]', { timeout: 10000 });
  emit({ op: 'message', ok: true });

  // Bob goes offline: his connection closes.
  const before = await bob.page.evaluate(() => window.chat.connects.length);
  await bob.context.setOffline(true);
  await bob.page.waitForFunction(() => window.chat.status.state === 'reconnecting', null, { timeout: 15000 });
  assert((await status(bob.page)).text === 'reconnecting…', 'bob shows reconnecting');
  // Alice writes while bob is away: the server acknowledges (sent) but
  // nobody has received it yet.
  const st = await alice.page.evaluate(() => window.chat.send('while you were away'));
  assert(st === 'sent', `the message's status while bob is offline: ${st}`);
  await bob.page.waitForTimeout(1000); // bob's reconnection attempts fail meanwhile
  await bob.context.setOffline(false);

  // Bob is back: recovered, with the missed message, once.
  const got = await waitMessage(bob.page, 'while you were away');
  assert(got.length === 1, `bob has the message ${got.length} times`);
  const connects = await bob.page.evaluate(() => window.chat.connects);
  assert(connects.length === before + 1, `connects: ${JSON.stringify(connects)}`);
  assert(connects[connects.length - 1].recovered === true, `bob's reconnection was not recovered: ${JSON.stringify(connects)}`);
  await alice.page.waitForFunction(() => window.chat.messages('general')
    .some((m) => m.text === 'while you were away' && m.status === 'delivered'), null, { timeout: 10000 });
  const all = await bob.page.evaluate(() => window.chat.messages("general").filter((m) => m.from).map((m) => m.id));
  assert(JSON.stringify(all) === '[1,2]', `bob's messages: ${JSON.stringify(all)}`);
  emit({ op: 'recovered', ok: true, connects, states: (await status(bob.page)).changes });

  // The reconnected socket still sends: bob answers, alice gets it.
  await bob.page.fill('#text', 'back!');
  await bob.page.press('#text', 'Enter');
  await waitMessage(alice.page, 'back!');
});
