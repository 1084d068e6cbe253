// server.mjs: the Node socket.io 4.8 side of the library-form fan-out rows
// of BENCHMARKS.md (bench/load/product.sh library), the counterpart of
// bench/cmd/sioserver: a socket.io Server with the WebSocket transport only
// and nothing but tether serve's client events (subscribe, unsubscribe,
// publish, from test/e2e/client/serve_events.mjs, which the product rows'
// Node server uses too), so that `tether load` drives it.
//
//   node server.mjs
//
// It listens on a free loopback port, prints {"op":"listening","port":N}
// on stdout, and exits when its standard input closes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { serveEvents } from "../../../test/e2e/client/serve_events.mjs";

const httpServer = createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
const nsp = io.of("/");
nsp.on("connection", (socket) => serveEvents(nsp, socket));

process.stdin.on("data", () => {}).on("end", () => process.exit(0));
process.stdin.resume();

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ op: "listening", port: httpServer.address().port }) + "\n");
});
