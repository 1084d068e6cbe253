// ws_server.mjs runs Node's `ws` server for our client to dial.
//
// Usage: node ws_server.mjs <config JSON>
//
// config: {perMessageDeflate: false | {...ws options}, protocols: [...],
// maxPayload}. A connection may bring its own perMessageDeflate options as
// JSON in the query parameter "pmd".
// (protocols: the server's subprotocols in order of preference; none chosen
// when the client offers none of them).
//
// It prints {op:"listening", port} and then, for each connection, a JSON
// line per event (see lib.mjs). What a connection does depends on its path:
//
//   /echo                      echo every message;
//   /ping?data=D               ping with D at once, report the pong, echo;
//   /close?code=C&reason=R     close with C and R after the first message;
//   /redirect                  answer the handshake with 302 Found.
//
// It runs until stdin closes or it gets SIGTERM.

import http from 'node:http';
import { WebSocketServer } from 'ws';
import { emit, sha256 } from './lib.mjs';

const config = JSON.parse(process.argv[2] || '{}') || {};

const server = http.createServer((req, res) => {
  res.writeHead(404).end('not a WebSocket handshake\n');
});

// The response headers ws is about to send, kept for the connection event.
const responseHeaders = new WeakMap();

// One WebSocketServer per permessage-deflate configuration: the process's
// own, or the one a connection names in its "pmd" query parameter.
const servers = new Map();
function wssFor(pmd) {
  const key = pmd ?? JSON.stringify(config.perMessageDeflate ?? false);
  let wss = servers.get(key);
  if (!wss) {
    wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: JSON.parse(key),
      maxPayload: config.maxPayload || 100 * 1024 * 1024,
      handleProtocols: (offered) => (config.protocols || []).find((p) => offered.has(p)) ?? false,
    });
    wss.on('headers', (headers, req) => responseHeaders.set(req, headers));
    servers.set(key, wss);
  }
  return wss;
}

server.on('upgrade', (req, socket, head) => {
  const u = new URL(req.url, 'http://localhost');
  if (u.pathname === '/redirect') {
    // A plain HTTP answer, as a misconfigured proxy or an http->https
    // redirect would give.
    const port = server.address().port;
    socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${port}/echo\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    emit({ op: 'redirected', path: u.pathname });
    return;
  }
  wssFor(u.searchParams.get('pmd')).handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, u));
});

function onConnection(ws, req, u) {
  const resp = responseHeaders.get(req) || [];
  const ext = resp.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  emit({
    op: 'connection',
    path: u.pathname,
    headers: req.headers,
    protocol: ws.protocol,
    extensions: ws.extensions,
    extensionsHeader: ext ? ext.slice(ext.indexOf(':') + 1).trim() : '',
    offer: req.headers['sec-websocket-extensions'] || '',
  });
  const sock = ws._socket;
  let in0 = sock.bytesRead;
  ws.on('message', (data, isBinary) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    emit({
      op: 'message',
      gotType: isBinary ? 'binary' : 'text',
      gotSize: buf.length,
      sha: sha256(buf),
      wireIn: sock.bytesRead - in0,
    });
    in0 = sock.bytesRead;
    if (u.pathname === '/close') {
      ws.close(Number(u.searchParams.get('code')), u.searchParams.get('reason') || '');
      return;
    }
    const out0 = sock.bytesWritten;
    ws.send(buf, { binary: isBinary }, () => emit({ op: 'sent', size: buf.length, wireOut: sock.bytesWritten - out0 }));
  });
  ws.on('pong', (data) => emit({ op: 'pong', data: data.toString('utf8') }));
  ws.on('ping', (data) => emit({ op: 'ping-received', data: data.toString('utf8') }));
  ws.on('error', (err) => emit({ op: 'error', message: err.message }));
  ws.on('close', (code, reason) => emit({ op: 'close', code, reason: reason.toString('utf8') }));
  if (u.pathname === '/ping') ws.ping(u.searchParams.get('data') || '');
}

server.listen(0, '127.0.0.1', () => emit({ op: 'listening', port: server.address().port }));

function stop() {
  for (const wss of servers.values()) for (const ws of wss.clients) ws.terminate();
  server.close();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
