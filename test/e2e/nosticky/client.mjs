// N official socket.io-client clients against tether serve nodes behind a
// round-robin proxy without sticky sessions, publishing and receiving in
// rooms with tether serve's built-in subscribe and publish events.
//
// Usage: node client.mjs <proxy URL> <polling|upgrade> <clients> <messages>
//
// Phase 1: every client joins room r<i % 10> and publishes <messages>
// events to it, one at a time (each acknowledged before the next); then it
// reports, for every other publisher of its room, the sequence it received.
// Phase 2 starts when "phase2" arrives on standard input: the same again,
// while a node is killed; a publish that fails (its node died) is sent
// again once reconnected. The script prints {op:"progress"} once a third
// of phase 2's publishes are acknowledged, so that the test kills a node
// mid-run. One JSON object per line; {op:"error"} on failure.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, mode, nArg, mArg] = process.argv.slice(2);
const N = Number(nArg);
const M = Number(mArg);
const ROOMS = 10;
const out = (o) => console.log(JSON.stringify(o));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const opts = { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, timeout: 10000 };
if (mode === "polling") opts.transports = ["polling"];

const clients = [];
let lastMessage = Date.now();
for (let i = 0; i < N; i++) {
  const s = io(url, opts);
  const c = { i, s, room: "r" + (i % ROOMS), got: [new Map(), new Map()], connects: 0, recovered: 0, disconnects: [] };
  s.on("connect", () => {
    c.connects++;
    if (s.recovered) c.recovered++;
    if (c.connects > 1 && !s.recovered) {
      // A new session: join the room again (what it missed is lost).
      s.emit("subscribe", { room: c.room });
    }
  });
  s.on("disconnect", (reason) => c.disconnects.push(reason));
  s.on("msg", (data) => {
    lastMessage = Date.now();
    const got = c.got[data.phase];
    if (!got.has(data.from)) got.set(data.from, []);
    got.get(data.from).push(data.seq);
  });
  clients.push(c);
}

function until(what, cond, ms) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const check = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error("timed out waiting for " + what));
      setTimeout(check, 20);
    };
    check();
  });
}

// publish sends one event and waits for its acknowledgement; with retry,
// it sends it again until it is acknowledged (and counts the retries).
async function publish(c, phase, seq, retry) {
  for (;;) {
    try {
      const res = await c.s.timeout(4000).emitWithAck("publish", { room: c.room, event: "msg", data: { from: c.i, seq, phase } });
      if (!res.ok) throw new Error("publish refused: " + res.reason);
      return;
    } catch (err) {
      if (!retry) throw err;
      c.retried = (c.retried || new Set()).add(seq);
      await until("a connection", () => c.s.connected, 30000);
    }
  }
}

// settled waits until every client got every message of phase, or nothing
// came for a second (what is missing then is reported).
function settled(phase) {
  return until(`every message of phase ${phase + 1}`, () => clients.every((c) => complete(c, phase)) || Date.now() - lastMessage > 1000, 20000);
}

// expected reports whether c got every message of every other publisher of
// its room in phase.
function complete(c, phase) {
  for (const o of clients) {
    if (o === c || o.room !== c.room) continue;
    const seqs = new Set(c.got[phase].get(o.i) || []);
    if (seqs.size < M) return false;
  }
  return true;
}

// check returns what c received in phase that it should not have: a
// message missing, twice (not retried), or out of order. (Those of a
// client that reconnected are reported apart: they depend on connection
// state recovery.)
function check(c, phase) {
  const problems = [];
  let dups = 0;
  for (const o of clients) {
    if (o === c || o.room !== c.room) continue;
    const seqs = c.got[phase].get(o.i) || [];
    const first = [];
    const seen = new Set();
    for (const s of seqs) {
      if (seen.has(s)) {
        dups++;
        if (!(o.retried && o.retried.has(s))) problems.push(`${o.i}#${s} twice`);
        continue;
      }
      seen.add(s);
      first.push(s);
    }
    for (let k = 0; k < M; k++) {
      if (first[k] !== k) {
        problems.push(`from ${o.i}: ${JSON.stringify(first)}`);
        break;
      }
    }
  }
  return { problems, dups };
}

function report(phase) {
  let problems = [];
  let recoveryProblems = [];
  let dups = 0;
  for (const c of clients) {
    const r = check(c, phase);
    if (c.connects > 1) {
      recoveryProblems = recoveryProblems.concat(r.problems.map((p) => `client ${c.i} (recovered ${c.recovered} of ${c.connects - 1} times): ${p}`));
    } else {
      problems = problems.concat(r.problems.map((p) => `client ${c.i}: ${p}`));
    }
    dups += r.dups;
  }
  const retried = clients.reduce((n, c) => n + (c.retried ? c.retried.size : 0), 0);
  const reconnected = clients.filter((c) => c.connects > 1);
  out({
    op: "phase" + (phase + 1),
    ok: problems.length === 0,
    problems: problems.slice(0, 20),
    recoveryProblems: recoveryProblems.length,
    recoveryExamples: recoveryProblems.slice(0, 5),
    messages: clients.reduce((n, c) => n + [...c.got[phase].values()].reduce((k, s) => k + s.length, 0), 0),
    dups,
    retried,
    websocket: clients.filter((c) => c.s.io.engine?.transport?.name === "websocket").length,
    reconnected: reconnected.length,
    recovered: reconnected.filter((c) => c.recovered === c.connects - 1).length,
    disconnects: [...new Set(clients.flatMap((c) => c.disconnects))],
  });
}

async function main() {
  await until("every client to connect", () => clients.every((c) => c.s.connected), 30000);
  const subs = await Promise.all(clients.map((c) => c.s.timeout(10000).emitWithAck("subscribe", { room: c.room })));
  if (!subs.every((r) => r.ok)) throw new Error("subscribe refused: " + JSON.stringify(subs.find((r) => !r.ok)));
  if (mode === "upgrade") {
    await until("every client to upgrade", () => clients.every((c) => c.s.io.engine.transport.name === "websocket"), 20000);
  }
  out({ op: "ready" });

  await Promise.all(clients.map(async (c) => {
    for (let k = 0; k < M; k++) await publish(c, 0, k, false);
  }));
  await settled(0);
  report(0);

  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  let acked = 0;
  let told = false;
  await Promise.all(clients.map(async (c) => {
    for (let k = 0; k < M; k++) {
      await publish(c, 1, k, true);
      acked++;
      if (!told && acked >= (N * M) / 3) {
        told = true;
        out({ op: "progress", acked });
      }
      await sleep(30);
    }
  }));
  await settled(1);
  report(1);
  for (const c of clients) c.s.close();
  rl.close();
}

main().catch((err) => {
  out({ op: "error", message: String(err && err.stack || err) });
  process.exit(1);
});
