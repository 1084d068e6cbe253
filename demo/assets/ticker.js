// ticker.js: the page of the live ticker (namespace /ticker): quotes,
// sparklines, and the end-to-end latency of each tick.
'use strict';

(() => {
  const conn = Demo.connect('/ticker');
  if (!conn) return;
  const { socket, status } = conn;
  const $ = (id) => document.getElementById(id);

  const state = {
    symbols: [], // [{s, name, open}]
    rows: [], // per symbol: {price, history, cells}
    rate: 0,
    ticks: 0,
    gaps: 0, // ticks dropped by the server (volatile), by the gaps in their sequence numbers
    gapsConnecting: 0, // of which while connecting, upgrading or on long-polling
    gapsWebSocket: 0, // of which on a settled WebSocket connection
    settled: false, // whether a tick came over WebSocket since the page (re)connected
    lastSeq: 0,
    raw: [], // receive time − server send time of the last 500 ticks, ms
    offset: null, // server clock − client clock, ms
    latencies: [], // raw + offset, computed when painting
    rtt: null,
    pings: [], // the last ten {rtt, offset}
  };
  window.ticker = { state, status, socket };

  function fmt(x, digits = 1) {
    return x == null || Number.isNaN(x) ? '–' : x.toFixed(digits);
  }

  socket.on('init', (info) => {
    state.symbols = info.symbols;
    state.rate = info.rate;
    state.lastSeq = info.seq;
    $('rate').textContent = info.rate;
    const tbody = document.querySelector('#quotes tbody');
    state.rows = info.symbols.map((s, i) => {
      const cells = {
        price: Demo.el('td', { class: 'num price' }),
        change: Demo.el('td', { class: 'num' }),
        canvas: Demo.el('canvas', { width: 320, height: 64 }),
      };
      const tr = Demo.el('tr', { 'data-symbol': s.s },
        Demo.el('td', { class: 'sym' }, s.s), Demo.el('td', { class: 'muted' }, s.name),
        cells.price, cells.change, Demo.el('td', {}, cells.canvas));
      const row = { tr, cells, price: info.prices[i], open: s.open, history: [info.prices[i]] };
      return row;
    });
    tbody.replaceChildren(...state.rows.map((r) => r.tr));
    for (const r of state.rows) paintRow(r, 0);
  });

  socket.on('tick', (t) => {
    const recv = Demo.now();
    state.ticks++;
    // A gap is counted when the next tick arrives: it belongs to the
    // connection's start when no tick came over WebSocket since the page
    // connected (the drop happened on polling, during the upgrade, or as
    // the init went out), or when the page is on long-polling.
    const onWebSocket = socket.io.engine.transport.name === 'websocket';
    if (state.lastSeq && t.seq > state.lastSeq + 1) {
      const n = t.seq - state.lastSeq - 1;
      state.gaps += n;
      if (state.settled && onWebSocket) state.gapsWebSocket += n;
      else state.gapsConnecting += n;
    }
    if (onWebSocket) state.settled = true;
    state.lastSeq = t.seq;
    state.raw.push(recv - t.t);
    if (state.raw.length > 500) state.raw.shift();
    const maxPoints = Math.max(60, state.rate * 60);
    t.p.forEach((price, i) => {
      const row = state.rows[i];
      if (!row) return;
      const dir = Math.sign(price - row.price);
      row.price = price;
      row.history.push(price);
      if (row.history.length > maxPoints) row.history.shift();
      row.dir = dir;
    });
    schedule();
  });

  // Painting at most once per frame, whatever the tick rate.
  let frame = 0;
  function schedule() {
    if (!frame) frame = requestAnimationFrame(paint);
  }

  // paintRow shows a symbol: its price in the text's colour with the
  // direction of the last tick (▲ ▼), and its change since the open (the
  // price when the server started), whose colour the line takes.
  function paintRow(row) {
    const { cells } = row;
    const dir = row.dir > 0 ? 'up' : row.dir < 0 ? 'down' : '';
    cells.price.replaceChildren(row.price.toFixed(2), Demo.el('span', { class: `last ${dir}`, title: 'last tick' }, dir === 'up' ? '▲' : dir === 'down' ? '▼' : ''));
    cells.price.dataset.last = dir;
    const ch = (100 * (row.price - row.open)) / row.open;
    cells.change.textContent = `${ch >= 0 ? '+' : ''}${ch.toFixed(2)}%`;
    cells.change.className = `num ${ch >= 0 ? 'up' : 'down'}`;
    cells.change.title = `since the open, ${row.open.toFixed(2)}`;
    const c = cells.canvas.getContext('2d');
    const { width: w, height: h } = cells.canvas;
    c.clearRect(0, 0, w, h);
    const hs = row.history;
    if (hs.length < 2) return;
    const lo = Math.min(...hs);
    const hi = Math.max(...hs);
    c.beginPath();
    hs.forEach((p, i) => {
      const x = (i / (hs.length - 1)) * w;
      const y = h - 4 - ((p - lo) / (hi - lo || 1)) * (h - 8);
      if (i === 0) c.moveTo(x, y);
      else c.lineTo(x, y);
    });
    c.strokeStyle = ch >= 0 ? '#12a150' : '#d92d20';
    c.lineWidth = 3;
    c.stroke();
  }

  function percentile(sorted, p) {
    if (sorted.length === 0) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  let lastRate = { t: performance.now(), ticks: 0 };
  function paint() {
    frame = 0;
    for (const r of state.rows) paintRow(r);
    // The latest (best) clock offset applies to every tick kept.
    const lat = state.offset == null ? [] : state.raw.map((r) => r + state.offset);
    state.latencies = lat;
    const sorted = [...lat].sort((a, b) => a - b);
    $('lat-last').textContent = fmt(lat[lat.length - 1]);
    $('lat-p50').textContent = fmt(percentile(sorted, 0.5));
    $('lat-p99').textContent = fmt(percentile(sorted, 0.99));
    $('gaps').textContent = state.gaps;
    $('gaps-split').textContent = `${state.gapsConnecting} connecting or polling, ${state.gapsWebSocket} on WebSocket`;
    $('count').textContent = state.ticks;
    const t = performance.now();
    if (t - lastRate.t >= 1000) {
      $('tps').textContent = Math.round(((state.ticks - lastRate.ticks) * 1000) / (t - lastRate.t));
      lastRate = { t, ticks: state.ticks };
    }
    paintHistogram(lat);
  }

  function paintHistogram(lat) {
    const canvas = $('hist');
    const c = canvas.getContext('2d');
    const { width: w, height: h } = canvas;
    c.clearRect(0, 0, w, h);
    const last = lat.slice(-120);
    if (last.length === 0) return;
    const hi = Math.max(5, ...last);
    const bw = w / 120;
    c.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--accent') || '#4f46e5';
    last.forEach((v, i) => {
      const bh = Math.max(2, (Math.max(0, v) / hi) * (h - 16));
      c.fillRect(i * bw, h - bh, Math.max(1, bw - 1), bh);
    });
    c.fillStyle = '#98a2b3';
    c.font = '20px system-ui';
    c.fillText(`${hi.toFixed(1)} ms`, 4, 20);
  }

  // Clock offset: an acknowledged ping every 2 s; the sample with the
  // smallest round trip of the last ten is the most exact.
  async function ping() {
    if (!socket.connected) return;
    const t0 = Demo.now();
    let server;
    try {
      server = await socket.timeout(5000).emitWithAck('ping', t0);
    } catch {
      return;
    }
    const t1 = Demo.now();
    state.pings.push({ rtt: t1 - t0, offset: server - (t0 + t1) / 2 });
    if (state.pings.length > 10) state.pings.shift();
    const best = state.pings.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    state.rtt = t1 - t0;
    state.offset = best.offset;
    $('rtt').textContent = fmt(state.rtt);
    $('offset').textContent = fmt(state.offset);
  }
  socket.on('connect', () => {
    state.settled = false;
    // Three quick samples, then one every 2 s.
    ping().then(ping).then(ping);
  });
  setInterval(ping, 2000);
})();
