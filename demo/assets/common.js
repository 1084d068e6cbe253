// common.js: what the demo pages share. Demo.connect opens a socket on a
// namespace with the official socket.io-client (vendor/socket.io.min.js),
// at the server's Socket.IO path (DemoConfig.path, from config.js), and
// keeps the page's connection state pill up to date: connecting, polling,
// websocket, reconnecting or disconnected.
'use strict';

const Demo = (() => {
  const clientMissing = typeof io === 'undefined';
  // The server's settings (config.js); the defaults if it did not load.
  const config = Object.assign({ path: '/socket.io/' }, typeof DemoConfig === 'undefined' ? {} : DemoConfig);

  // banner shows a message above the page.
  function banner(html) {
    const div = document.createElement('div');
    div.className = 'banner';
    div.innerHTML = html;
    const header = document.querySelector('header.top');
    if (header) header.after(div);
    else document.body.prepend(div);
    return div;
  }

  if (clientMissing) {
    document.addEventListener('DOMContentLoaded', () => {
      banner('The socket.io browser client (<code>vendor/socket.io.min.js</code>) is missing from this build: ' +
        'it comes from npm, which the build did not have. Install Node.js with npm, then, in a clone of the ' +
        'repository, run <code>make run</code> (or <code>scripts/build-web.sh</code> before <code>go build</code>).');
      const pill = document.querySelector('[data-status]');
      if (pill) {
        pill.dataset.state = 'disconnected';
        pill.textContent = 'no client';
      }
    });
  }

  // el creates an element: el('div', {class: 'x'}, 'text', child...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v == null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c != null) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // now returns the client's time in Unix milliseconds, with sub-millisecond
  // precision.
  function now() {
    return performance.timeOrigin + performance.now();
  }

  // param returns a query parameter of the page's URL.
  function param(name) {
    return new URLSearchParams(location.search).get(name);
  }

  // Status follows a socket's connection state and shows it in the element
  // with the data-status attribute.
  class Status {
    constructor(socket, pill) {
      this.socket = socket;
      this.pill = pill;
      this.state = 'connecting';
      this.transport = null; // "polling" or "websocket" once connected
      this.recovered = false; // whether the last connection recovered the session
      this.connects = 0;
      this.changes = []; // the states seen, in order, for tests
      this.set('connecting');
      const manager = socket.io;
      const hook = () => {
        const engine = manager.engine;
        if (!engine || engine.demoHooked) return;
        engine.demoHooked = true;
        engine.on('upgrade', (transport) => {
          if (socket.connected) this.set(transport.name);
        });
      };
      hook();
      manager.on('open', hook);
      manager.on('reconnect_attempt', (n) => this.set('reconnecting', `attempt ${n}`));
      socket.on('connect', () => {
        hook();
        this.connects++;
        this.recovered = socket.recovered;
        this.set(manager.engine.transport.name, socket.recovered ? 'session recovered' : '');
      });
      socket.on('disconnect', (reason) => this.set(socket.active ? 'reconnecting' : 'disconnected', reason));
      socket.on('connect_error', (err) => this.set(socket.active ? 'reconnecting' : 'disconnected', err.message));
    }

    set(state, detail) {
      this.state = state;
      if (state === 'polling' || state === 'websocket') this.transport = state;
      this.changes.push(state);
      if (!this.pill) return;
      this.pill.dataset.state = state;
      const labels = { connecting: 'connecting…', reconnecting: 'reconnecting…' };
      this.pill.textContent = labels[state] || state;
      this.pill.title = detail || '';
    }
  }

  // connect opens a socket on the namespace nsp and follows its state.
  // It returns null when the client script is missing.
  function connect(nsp, options) {
    if (clientMissing) return null;
    const socket = io(nsp, Object.assign({ path: config.path, reconnectionDelay: 500, reconnectionDelayMax: 3000 }, options));
    const status = new Status(socket, document.querySelector('[data-status]'));
    return { socket, status };
  }

  // dropFor closes the connection as a network failure would and keeps the
  // socket offline for ms milliseconds; it then reconnects, with connection
  // state recovery.
  function dropFor(socket, ms) {
    const manager = socket.io;
    manager.reconnection(false);
    manager.engine.close();
    setTimeout(() => {
      manager.reconnection(true);
      socket.connect();
    }, ms);
  }

  return { clientMissing, config, banner, el, now, param, connect, dropFor };
})();
