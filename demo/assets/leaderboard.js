// leaderboard.js: the page of the live leaderboard (namespace /leaderboard).
'use strict';

(() => {
  const conn = Demo.connect('/leaderboard');
  if (!conn) return;
  const { socket, status } = conn;
  const $ = (id) => document.getElementById(id);

  const state = {
    ranking: null, // the last "ranking" event
    updates: 0, // "ranking" events received
    me: null, // {name, score, rank} once joined
  };
  // For tests and the curious.
  window.leaderboard = { state, status, socket };

  let wanted = Demo.param('name') || localStorage.getItem('tether-demo-name') || '';
  $('name').value = wanted;

  function showError(msg) {
    $('error').textContent = msg || '';
  }

  function showMe() {
    if (!state.me) return;
    $('join-form').classList.add('hidden');
    $('play').classList.remove('hidden');
    $('me-name').textContent = state.me.name;
    $('me-score').textContent = state.me.score;
    $('me-rank').textContent = state.me.rank;
  }

  async function join(name) {
    const res = await socket.timeout(10000).emitWithAck('join', { name }).catch((err) => ({ ok: false, error: err.message }));
    if (!res.ok) {
      showError(res.error);
      return;
    }
    showError('');
    state.me = res.player;
    localStorage.setItem('tether-demo-name', res.player.name);
    showMe();
  }

  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    wanted = $('name').value.trim();
    join(wanted);
  });

  $('score').addEventListener('click', async () => {
    const res = await socket.timeout(10000).emitWithAck('score').catch((err) => ({ ok: false, error: err.message }));
    if (!res.ok) {
      showError(res.error);
      return;
    }
    showError('');
    state.me = res.player;
    showMe();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.code === 'Space' && state.me && document.activeElement.tagName !== 'INPUT') {
      ev.preventDefault();
      $('score').click();
    }
  });

  $('bots').addEventListener('change', (ev) => {
    socket.emit('bots', { on: ev.target.checked });
  });

  // A reconnection that did not recover the session lost the socket's
  // name: join again.
  socket.on('connect', () => {
    if (state.me && !socket.recovered) join(state.me.name);
    else if (!state.me && Demo.param('name')) join(Demo.param('name'));
  });

  // The rate of points and of updates, over the last seconds.
  const samples = [];
  function rates(r) {
    const t = performance.now();
    samples.push({ t, points: r.points, updates: state.updates });
    while (samples.length > 2 && t - samples[0].t > 3000) samples.shift();
    const first = samples[0];
    const dt = (t - first.t) / 1000;
    if (dt < 0.5) return;
    $('st-pps').textContent = Math.round((r.points - first.points) / dt);
    $('st-ups').textContent = Math.round((state.updates - first.updates) / dt);
  }

  const rows = new Map(); // name -> {tr, score}
  socket.on('ranking', (r) => {
    state.ranking = r;
    state.updates++;
    $('st-players').textContent = r.players;
    $('st-viewers').textContent = r.viewers;
    $('bots').checked = r.bots;
    $('bot-rate').textContent = r.botRate;
    rates(r);
    const tbody = document.querySelector('#ranking tbody');
    const best = Math.max(1, ...r.top.map((p) => p.score));
    const seen = new Set();
    for (const p of r.top) {
      seen.add(p.name);
      let row = rows.get(p.name);
      if (!row) {
        const tr = Demo.el('tr', { 'data-name': p.name },
          Demo.el('td', { class: 'num rank' }), Demo.el('td', { class: 'name' }),
          Demo.el('td', { class: 'num score' }), Demo.el('td', { class: 'barcell' }, Demo.el('div', { class: 'bar' })));
        row = { tr, score: -1 };
        rows.set(p.name, row);
      }
      const { tr } = row;
      tr.children[0].textContent = p.rank;
      tr.children[1].replaceChildren(...[p.name, p.bot ? Demo.el('span', { class: 'badge' }, 'bot') : ''].filter(Boolean));
      tr.children[2].textContent = p.score;
      tr.children[3].firstChild.style.width = `${(100 * p.score) / best}%`;
      tr.classList.toggle('me', !!state.me && state.me.name === p.name);
      if (row.score >= 0 && row.score !== p.score) {
        tr.classList.remove('flash');
        void tr.offsetWidth; // restart the animation
        tr.classList.add('flash');
      }
      row.score = p.score;
      tbody.append(tr); // moves it into ranking order
      if (state.me && state.me.name === p.name) {
        state.me.score = p.score;
        state.me.rank = p.rank;
        showMe();
      }
    }
    for (const [name, row] of rows) {
      if (!seen.has(name)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
  });
})();
