// leaderboard.mjs: two pages on the live leaderboard; what one scores shows
// in the other, and the bot mode toggled in one drives both.
//
// Usage: node leaderboard.mjs <server URL>
import { run, open, emit, assert, status } from './lib.mjs';

// rowScore returns the score shown in page's ranking for player, or null.
async function rowScore(page, player) {
  return page.evaluate((player) => {
    const tr = document.querySelector(`#ranking tr[data-name="${player}"]`);
    return tr ? Number(tr.querySelector('.score').textContent) : null;
  }, player);
}

async function waitScore(page, player, score) {
  await page.waitForFunction(([player, score]) => {
    const tr = document.querySelector(`#ranking tr[data-name="${player}"]`);
    return tr && Number(tr.querySelector('.score').textContent) === score;
  }, [player, score], { timeout: 10000 });
}

await run(async (browser) => {
  const alice = await open(browser, 'alice', 'leaderboard.html');
  const bob = await open(browser, 'bob', 'leaderboard.html');

  // Alice joins through the form and scores three points.
  await alice.page.fill('#name', 'alice');
  await alice.page.click('#join');
  await alice.page.waitForSelector('#score:visible');
  for (let i = 0; i < 3; i++) {
    await alice.page.click('#score');
    await alice.page.waitForFunction((n) => document.getElementById('me-score').textContent === String(n), i + 1);
  }
  // Bob, who only watches, sees it.
  await waitScore(bob.page, 'alice', 3);
  const rank = await bob.page.textContent('#ranking tr[data-name="alice"] .rank');
  assert(rank === '1', `alice's rank on bob's page: ${rank}`);
  emit({ op: 'score', ok: true, seen: await rowScore(bob.page, 'alice') });

  // Bob joins and scores; alice sees him.
  await bob.page.fill('#name', 'bob');
  await bob.page.press('#name', 'Enter');
  await bob.page.waitForSelector('#score:visible');
  await bob.page.click('#score');
  await waitScore(alice.page, 'bob', 1);

  // Bob turns the bots on: both pages show it and the bots score.
  await bob.page.click('label.switch');
  await alice.page.waitForFunction(() => document.getElementById('bots').checked, null, { timeout: 10000 });
  await alice.page.waitForFunction(() => {
    const r = window.leaderboard.state.ranking;
    return r && r.bots && r.top.some((p) => p.bot && p.score > 0);
  }, null, { timeout: 10000 });
  await bob.page.click('label.switch');
  await alice.page.waitForFunction(() => !document.getElementById('bots').checked, null, { timeout: 10000 });

  for (const p of [alice, bob]) {
    const st = await status(p.page);
    assert(st.text === st.state && (st.state === 'websocket' || st.state === 'polling'), `${p.name}'s state: ${JSON.stringify(st)}`);
    emit({ op: 'state', name: p.name, transport: st.state });
  }
});
