// server.mjs: the Node socket.io 4.8 side of bench/cmd/fanout, doing the
// same as the Go server mode of that command.
//
//   node server.mjs <port>
//
// Clients connect over WebSocket only and join the room "bench". Commands
// arrive one per line on stdin; answers are JSON lines on stdout:
//   count                    -> {"count":<sockets in the room>}
//   rate <per-second> <size> -> broadcasts `tick` at that rate until stop
//   credit <k> <size>        -> broadcasts `tick` k times right away (the
//                               driver's in-flight window for max mode)
//   stop                     -> stops the rate loop, answers {"stopped":<broadcasts>}
//   rss                      -> {"rss":<bytes>}
// Each tick is {"t":<send time, unix nanoseconds>,"s":<sequence>,"p":"xxx…"}.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 0);
const httpServer = createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });

io.on("connection", (socket) => {
  socket.join("bench");
});

let seq = 0;
let timer = null;
const pads = new Map();
const pad = (size) => {
  let p = pads.get(size);
  if (p === undefined) {
    p = "x".repeat(size);
    pads.set(size, p);
  }
  return p;
};
// Unix time in nanoseconds, from the monotonic clock anchored at start
// (a double: precise to a few hundred nanoseconds).
const nowNanos = () => Math.round((performance.timeOrigin + performance.now()) * 1e6);

const tick = (p) => {
  io.to("bench").emit("tick", { t: nowNanos(), s: seq++, p });
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  switch (cmd) {
    case "count":
      out({ count: io.sockets.adapter.rooms.get("bench")?.size ?? 0 });
      break;
    case "rate": {
      const p = pad(Number(b));
      const period = 1000 / Number(a);
      const start = performance.now();
      let sent = 0;
      // Catch up when a timer fires late, so the rate holds on average.
      const loop = () => {
        const due = Math.floor((performance.now() - start) / period) + 1;
        for (; sent < due; sent++) tick(p);
        timer = setTimeout(loop, Math.max(0, start + sent * period - performance.now()));
      };
      loop();
      break;
    }
    case "credit": {
      const p = pad(Number(b));
      for (let i = 0; i < Number(a); i++) tick(p);
      break;
    }
    case "stop":
      clearTimeout(timer);
      timer = null;
      out({ stopped: seq });
      break;
    case "rss":
      out({ rss: process.memoryUsage().rss });
      break;
  }
}).on("close", () => process.exit(0));

httpServer.listen(port, "127.0.0.1", () => {
  out({ ready: true, port: httpServer.address().port });
});
