// An Engine.IO client run by engineio_test.go: the official engine.io-client
// (6.x, or 3.x for protocol v3) against our server.
//
// Usage: node client.mjs <url> <eio 3|4> <transports, comma-separated> <count>
//
// It sends count text messages "c0".."c<count-1>" spaced over time, then
// the binary message [1, 2, 3, 255], then "done". It records what the
// server sends until the server's "done", then prints one JSON line with
// what it saw and closes the socket.
import { Socket } from "engine.io-client";
import eioV3 from "engine.io-client-v3";

const [url, eio, transportList, countArg] = process.argv.slice(2);
const transports = transportList.split(",");
const count = Number(countArg);

const opts = { path: "/engine.io/", transports, upgrade: transports.length > 1 };
const socket = eio === "3" ? new eioV3.Socket(url, opts) : new Socket(url, opts);
socket.binaryType = "arraybuffer";

const received = []; // server messages, text as strings, binary as arrays of numbers
const perTransport = {};
let upgraded = false;
let sentAll = false;
let serverDone = false;
let finished = false;

const fail = (msg) => {
  console.log(JSON.stringify({ error: String(msg) }));
  process.exit(1);
};
const timer = setTimeout(() => fail("timed out"), 20000);

function finish() {
  if (finished || !sentAll || !serverDone) return;
  finished = true;
  clearTimeout(timer);
  console.log(
    JSON.stringify({
      received,
      perTransport,
      upgraded,
      transport: socket.transport.name,
      sid: socket.id,
    })
  );
  socket.close();
}

socket.on("open", () => {
  let i = 0;
  const next = () => {
    if (i < count) {
      socket.send("c" + i++);
      // Several messages per tick now and then, so that payloads batch.
      if (i % 5 === 0) setTimeout(next, 2);
      else next();
      return;
    }
    socket.send(new Uint8Array([1, 2, 3, 255]));
    socket.send("done");
    sentAll = true;
    finish();
  };
  next();
});

socket.on("upgrade", () => {
  upgraded = true;
});

socket.on("message", (data) => {
  const name = socket.transport.name;
  perTransport[name] = (perTransport[name] || 0) + 1;
  if (typeof data === "string") {
    received.push(data);
    if (data === "done") {
      serverDone = true;
      finish();
    }
  } else {
    received.push(Array.from(new Uint8Array(data)));
  }
});

socket.on("error", (err) => fail("error: " + (err && err.message ? err.message : err)));
socket.on("close", (reason) => {
  if (!finished) fail("closed early: " + reason);
});
