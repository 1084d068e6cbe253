// The official socket.io-client against tether serve's built-in events.
// Usage: node client.mjs <base URL> <JSON: {good, goodPolling, narrower, expired, apiKey}>
// Prints one JSON object per line; the last one is {op:"done", ok}.
import { io } from "socket.io-client";

const [base, argsJSON] = process.argv.slice(2);
const args = JSON.parse(argsJSON);
const out = (o) => console.log(JSON.stringify(o));

function connect(opts) {
  return new Promise((resolve) => {
    const s = io(base, { reconnection: false, forceNew: true, ...opts });
    s.on("connect", () => resolve({ s }));
    s.on("connect_error", (err) => resolve({ err, s }));
  });
}

function next(s, event) {
  return new Promise((resolve) => s.once(event, (...a) => resolve(a)));
}

// until resolves with the arguments of the first event for which pred(its
// first argument) holds.
function until(s, event, pred) {
  return new Promise((resolve) => {
    const h = (...a) => {
      if (pred(a[0])) {
        s.off(event, h);
        resolve(a);
      }
    };
    s.on(event, h);
  });
}

// shape describes the arguments of an event: data, meta {room, from, user}
// (from named "a" or "b" for those sockets), and whether the last argument
// is the offset the client recorded for connection state recovery.
function shape(args, receiver, ids) {
  const [, meta, offset] = args;
  const from = Object.keys(ids).find((k) => ids[k] === meta?.from) ?? meta?.from;
  return `${args.length} args, meta {${Object.keys(meta || {}).sort()}} room=${meta?.room} from=${from} user=${meta?.user}, ` +
    `offset ${typeof offset === "string" && receiver._lastOffset === offset ? "recorded" : "missing"}`;
}

async function main() {
  // Refusals carry a reason in err.data.
  for (const [name, auth] of [["none", {}], ["expired", { token: args.expired }], ["garbage", { token: "x.y.z" }]]) {
    const { err, s } = await connect({ auth });
    s.close();
    out({ op: "refused", name, message: err?.message, reason: err?.data?.reason });
  }

  const { s: a, err: ea } = await connect({ auth: { token: args.good }, transports: ["websocket"] });
  const { s: b, err: eb } = await connect({ auth: { token: args.goodPolling }, transports: ["polling"] });
  if (ea || eb) throw new Error(`connect: ${ea?.message} ${eb?.message}`);
  out({ op: "connected", transport: a.io.engine.transport.name + "," + b.io.engine.transport.name });

  let res = await a.emitWithAck("subscribe", { room: "chat:1" });
  out({ op: "subscribe", ok: res.ok, name: "a" });
  // The default namespace announces joins and leaves with presence:diff
  // {room, joins, leaves}, coalesced per room.
  const joined = until(a, "presence:diff", (d) => d.joins.some((m) => m.id === b.id));
  res = await b.emitWithAck("subscribe", { room: "chat:1" });
  out({ op: "subscribe", ok: res.ok, name: "b" });
  const jargs = await joined;
  const [j] = jargs;
  out({
    op: "presence:diff", ok: j.room === "chat:1" && Array.isArray(j.leaves), name: j.joins.find((m) => m.id === b.id).user,
    message: `${jargs.length} args, {${Object.keys(j).sort()}}, offset ${typeof jargs[1] === "string" && a._lastOffset === jargs[1] ? "recorded" : "missing"}`,
  });
  res = await a.emitWithAck("subscribe", { room: "admin" });
  out({ op: "subscribe-denied", ok: res.ok, reason: res.reason });

  res = await a.emitWithAck("presence", { room: "chat:1" });
  out({ op: "presence", ok: res.ok, message: res.members.map((m) => m.user).sort().join(",") });

  const got = next(b, "chat");
  res = await a.emitWithAck("publish", { room: "chat:1", event: "chat", data: { text: "hi" } });
  const pub = await got;
  const [data, meta] = pub;
  out({ op: "publish", ok: res.ok && data.text === "hi" && meta.from === a.id && meta.room === "chat:1", name: meta.user });
  out({ op: "publish-args", message: shape(pub, b, { a: a.id, b: b.id }) });

  // The backend emits with the API key: the same arguments, from the
  // backend (from and user null).
  const emit = async (body) => {
    const resp = await fetch(base + "/api/emit", {
      method: "POST",
      headers: { Authorization: "Bearer " + args.apiKey, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: resp.status, body: await resp.json() };
  };
  let news = next(a, "news");
  let r = await emit({ rooms: ["chat:1"], event: "news", data: "from the backend" });
  let n = await news;
  out({ op: "api-emit", ok: r.status === 202 && r.body.receivers === 2 && n[0] === "from the backend" });
  out({ op: "api-emit-args", message: shape(n, a, { a: a.id, b: b.id }) });
  // To the whole namespace, without data.
  news = next(a, "news");
  r = await emit({ event: "news" });
  n = await news;
  out({ op: "api-emit-all", ok: r.status === 202 && n[0] === null, message: shape(n, a, { a: a.id, b: b.id }) });

  // A narrower token drops the room.
  const left = until(a, "presence:diff", (d) => d.leaves.some((m) => m.id === b.id));
  res = await b.emitWithAck("refresh", { token: args.narrower });
  const [l] = await left;
  out({ op: "refresh", ok: res.ok && l.room === "chat:1", message: (res.left || []).join(",") });

  // The backend disconnects a: the client hears "io server disconnect".
  const gone = next(a, "disconnect");
  await fetch(base + "/api/sockets/disconnect", {
    method: "POST",
    headers: { "X-API-Key": args.apiKey },
    body: JSON.stringify({ sockets: [a.id] }),
  });
  const [reason] = await gone;
  out({ op: "disconnected", reason });
  b.close();
}

main().then(
  () => out({ op: "done", ok: true }),
  (err) => out({ op: "done", ok: false, message: String(err?.stack || err) }),
).finally(() => process.exit(0));
