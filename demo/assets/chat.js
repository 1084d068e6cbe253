// chat.js: the page of the chat (namespace /chat): rooms, presence, typing
// indicator, sent/delivered ticks, recovery of missed messages.
'use strict';

(() => {
  if (Demo.clientMissing) return;
  const $ = (id) => document.getElementById(id);

  let socket = null;
  let status = null;
  let myName = '';
  const rooms = new Map(); // joined rooms by name
  let active = null; // name of the room shown
  let roomList = []; // [{name, members}] from the server
  const connects = []; // {recovered, transport} per connection, for tests

  // For tests and the curious.
  window.chat = {
    get ready() { return !!socket && socket.connected && rooms.size > 0; },
    get status() { return status; },
    get socket() { return socket; },
    get active() { return active; },
    connects,
    rooms: () => [...rooms.keys()],
    messages: (room) => sorted(rooms.get(room || active)).map(({ id, from, text, status: st, own }) => ({ id, from, text, status: st, own })),
    members: (room) => (rooms.get(room || active) || {}).members || [],
    typing: (room) => [...((rooms.get(room || active) || {}).typing || new Map()).keys()],
  };

  function newRoom(name) {
    return { name, messages: [], byId: new Map(), byCid: new Map(), members: [], typing: new Map(), unread: 0, notes: [] };
  }

  function sorted(room) {
    if (!room) return [];
    return [...room.messages].sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity) || a.seq - b.seq);
  }

  let seq = 0;
  // add adds a message from the server (event or history) to its room,
  // unless it is there already; it returns whether it is new.
  function add(room, m) {
    const known = room.byId.get(m.id) || (m.cid && room.byCid.get(m.cid));
    if (known) {
      known.id = m.id;
      known.t = m.t;
      room.byId.set(m.id, known);
      if (m.delivered) known.status = 'delivered';
      else if (known.status === 'pending') known.status = 'sent';
      return false;
    }
    const own = m.from === myName;
    const msg = { ...m, own, seq: seq++, status: own ? (m.delivered ? 'delivered' : 'sent') : 'received' };
    room.messages.push(msg);
    room.byId.set(m.id, msg);
    if (m.cid) room.byCid.set(m.cid, msg);
    if (!own && !m.delivered) socket.emit('received', { room: room.name, id: m.id });
    return true;
  }

  // note adds a line of the page's own (reconnections) to the active room.
  function note(text) {
    const room = rooms.get(active);
    if (room) room.messages.push({ note: true, text, id: room.messages.reduce((x, m) => (m.note ? x : Math.max(x, m.id || 0)), 0) + 0.5, seq: seq++ });
    render();
  }

  // --- rendering (batched per frame) ---
  let frame = 0;
  function render() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  const ticks = { pending: '○', sent: '✓', delivered: '✓✓', failed: 'failed' };

  function draw() {
    frame = 0;
    const room = rooms.get(active);
    $('room-title').textContent = active ? `#${active}` : 'No room';
    $('me').textContent = myName ? `as ${myName}` : '';
    $('text').disabled = $('send').disabled = !room;

    // Room list: the server's, plus joined rooms it does not list yet.
    const names = roomList.map((r) => r.name);
    for (const name of rooms.keys()) if (!names.includes(name)) names.push(name);
    $('rooms').replaceChildren(...names.map((name) => {
      const info = roomList.find((r) => r.name === name);
      const joined = rooms.get(name);
      return Demo.el('li', { class: name === active ? 'active' : '', 'data-room': name },
        Demo.el('span', { class: 'room-name', onclick: () => (joined ? show(name) : join(name, true)) },
          `#${name}`, joined && joined.unread ? Demo.el('span', { class: 'unread' }, joined.unread) : null),
        Demo.el('span', { class: 'row' },
          Demo.el('span', { class: 'muted num' }, info ? info.members : ''),
          joined
            ? Demo.el('button', { class: 'ghost small', type: 'button', 'data-action': 'leave', onclick: () => leave(name) }, 'Leave')
            : Demo.el('button', { class: 'small', type: 'button', 'data-action': 'join', onclick: () => join(name, true) }, 'Join')));
    }));

    $('members').replaceChildren(...(room ? room.members : []).map((n) => Demo.el('li', {}, n)));

    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren(...sorted(room).map((m) => {
      if (m.note) return Demo.el('div', { class: 'sys' }, m.text);
      const time = new Date(m.t || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      return Demo.el('div', { class: `msg${m.own ? ' own' : ''}`, 'data-id': m.id ?? '', 'data-status': m.status },
        Demo.el('div', { class: 'meta' }, Demo.el('b', {}, m.from), Demo.el('span', {}, time,
          m.own ? Demo.el('span', { class: `tick ${m.status}`, title: m.status }, ' ', ticks[m.status]) : null)),
        Demo.el('div', { class: 'text' }, m.text));
    }));
    if (atBottom) box.scrollTop = box.scrollHeight;

    const typing = room ? [...room.typing.keys()] : [];
    $('typing').textContent = typing.length === 0 ? ''
      : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.join(', ')} are typing…`;
  }

  function show(name) {
    active = name;
    const room = rooms.get(name);
    if (room) room.unread = 0;
    render();
  }

  // --- actions ---
  async function join(name, makeActive) {
    const res = await socket.timeout(10000).emitWithAck('join', { room: name }).catch((err) => ({ ok: false, error: err.message }));
    if (!res.ok) {
      alert(`Cannot join ${name}: ${res.error}`);
      return;
    }
    let room = rooms.get(res.room);
    if (!room) {
      room = newRoom(res.room);
      rooms.set(res.room, room);
    }
    let fresh = 0;
    for (const m of res.history) if (add(room, m)) fresh++;
    room.members = res.members;
    if (makeActive || !active) show(res.room);
    render();
    return fresh;
  }

  async function leave(name) {
    await socket.timeout(10000).emitWithAck('leave', { room: name }).catch(() => {});
    rooms.delete(name);
    if (active === name) active = rooms.keys().next().value || null;
    render();
  }

  function send(text) {
    const room = rooms.get(active);
    text = text.trim();
    if (!room || !text) return null;
    const cid = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const msg = { room: room.name, id: null, cid, from: myName, text, t: Date.now(), own: true, status: 'pending', seq: seq++ };
    room.messages.push(msg);
    room.byCid.set(cid, msg);
    render();
    stopTyping();
    const done = socket.timeout(15000).emitWithAck('message', { room: room.name, text, cid }).then((res) => {
      if (!res.ok) throw new Error(res.error);
      msg.id = res.id;
      msg.t = res.t;
      room.byId.set(res.id, msg);
      if (msg.status === 'pending') msg.status = 'sent';
    }).catch(() => {
      if (msg.status === 'pending') msg.status = 'failed';
    }).then(() => {
      render();
      return msg.status;
    });
    return done;
  }
  window.chat.send = send;
  window.chat.join = (name) => join(name, true);
  window.chat.leave = leave;

  // Typing indicator: "typing" true on the first key and again every 1.5 s
  // while keys come (the server relays it as volatile, so one may be
  // dropped; receivers forget it after 4 s), false 2 s after the last key
  // or when the message is sent.
  let typingRoom = null;
  let typingSent = 0;
  let typingTimer = 0;
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingRoom) socket.emit('typing', { room: typingRoom, typing: false });
    typingRoom = null;
  }
  $('text').addEventListener('input', () => {
    if (!active) return;
    if (typingRoom !== active) stopTyping();
    if (typingRoom !== active || Date.now() - typingSent > 1500) {
      typingRoom = active;
      typingSent = Date.now();
      socket.emit('typing', { room: active, typing: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 2000);
  });

  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    send($('text').value);
    $('text').value = '';
  });
  $('new-room').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('new-room-name').value.trim().toLowerCase();
    if (name) join(name, true);
    $('new-room-name').value = '';
  });
  $('drop').addEventListener('click', () => Demo.dropFor(socket, 5000));

  // --- connection ---
  function start(name) {
    myName = name;
    ({ socket, status } = Demo.connect('/chat', { auth: { name } }));

    socket.on('connect', async () => {
      const first = connects.length === 0;
      connects.push({ recovered: socket.recovered, transport: socket.io.engine.transport.name });
      $('login').classList.add('hidden');
      $('app').classList.remove('hidden');
      localStorage.setItem('tether-demo-name', name);
      if (first) {
        await join(Demo.param('room') || 'general', true);
        return;
      }
      if (socket.recovered) {
        note('Reconnected: the connection was recovered, missed messages follow.');
        return;
      }
      // Not recovered (too long away, or the server restarted): join the
      // rooms again and take the missed messages from their history.
      let fresh = 0;
      for (const r of [...rooms.keys()]) fresh += (await join(r, false)) || 0;
      note(`Reconnected without recovery: ${fresh} message(s) reloaded from the rooms' history.`);
    });
    socket.on('disconnect', (reason) => {
      if (socket.active) note(`Disconnected (${reason}), reconnecting…`);
    });
    socket.on('connect_error', (err) => {
      if (!socket.active) {
        $('login-error').textContent = `Refused: ${err.message}`;
        $('login').classList.remove('hidden');
        $('app').classList.add('hidden');
      }
    });
    socket.on('message', (m) => {
      const room = rooms.get(m.room);
      if (!room) return;
      room.typing.delete(m.from);
      if (add(room, m) && m.room !== active) room.unread++;
      render();
    });
    socket.on('delivered', ({ room: name, id, cid }) => {
      const room = rooms.get(name);
      const msg = room && (room.byId.get(id) || (cid && room.byCid.get(cid)));
      if (msg) {
        msg.status = 'delivered';
        render();
      }
    });
    socket.on('presence', ({ room: name, members }) => {
      const room = rooms.get(name);
      if (room) {
        room.members = members;
        render();
      }
    });
    socket.on('rooms', (list) => {
      roomList = list;
      render();
    });
    socket.on('typing', ({ room: name, name: who, typing }) => {
      const room = rooms.get(name);
      if (!room) return;
      clearTimeout(room.typing.get(who));
      if (typing) {
        room.typing.set(who, setTimeout(() => {
          room.typing.delete(who);
          render();
        }, 4000));
      } else {
        room.typing.delete(who);
      }
      render();
    });
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('name').value.trim();
    if (!name) return;
    if (socket) {
      socket.auth = { name };
      myName = name;
      socket.connect();
    } else {
      start(name);
    }
  });
  $('name').value = Demo.param('name') || localStorage.getItem('tether-demo-name') || '';
  if (Demo.param('name')) start(Demo.param('name'));
  render();
})();
