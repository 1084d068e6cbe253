// Cross-check of the Go codec against Node's libraries (node_test.go).
//
// Reads the cases that node_test.go wrote (argv[2]) and prints one JSON line
// per case with what Node does:
//
//   encode cases: the JSON text (hex) and attachments (hex) of a Socket.IO
//   packet's data. Node JSON.parses it, puts the attachments back with
//   socket.io-parser's reconstructPacket (only when there are attachments,
//   as for a BINARY_EVENT), and encodes the value with notepack.io and with
//   @msgpack/msgpack. For each library it also decodes the Go encoding and
//   says whether that is the value of the JSON ("sameAsData") or the value
//   that the library's own bytes hold ("sameAsNode").
//
//   decode cases: a MessagePack value (hex). Node decodes it with each
//   library, replaces the binary parts with placeholders with
//   socket.io-parser's deconstructPacket and JSON.stringifies the data, as
//   socket.io does before it sends a packet. It also says whether the Go
//   JSON and attachments give a client the same value as Node's ("same").
//
//   date cases: a time in milliseconds, encoded as a Date by each library.
"use strict";

const fs = require("fs");
const notepack = require("notepack.io");
const msgpack = require("@msgpack/msgpack");
const path = require("path");
// binary.js is not in the package's exports; load it by its path, next to
// the main module (build/cjs/index.js).
const { deconstructPacket, reconstructPacket } = require(path.join(path.dirname(require.resolve("socket.io-parser")), "binary.js"));

const libs = {
  notepack: { encode: (v) => notepack.encode(v), decode: (b) => notepack.decode(b) },
  msgpack: { encode: (v) => Buffer.from(msgpack.encode(v)), decode: (b) => msgpack.decode(b) },
};

const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => Buffer.from(s, "hex");

function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function binHex(v) {
  return v instanceof ArrayBuffer ? Buffer.from(v).toString("hex") : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
}

// canon returns a JSON text that is equal for equal values: binary parts
// as {"$bin": hex}, dates as {"$date": iso}, keys in the object's order
// (JavaScript's), undefined properties left out as JSON.stringify does.
function canon(v) {
  return JSON.stringify(v, function (key, value) {
    const raw = this[key];
    if (isBinary(raw)) return { $bin: binHex(raw) };
    if (raw instanceof Date) return { $date: isNaN(raw) ? null : raw.toISOString() };
    return value;
  });
}

// clientView is what a client makes of a packet's JSON and attachments.
function clientView(json, atts) {
  const data = JSON.parse(json);
  return canon(reconstructPacket({ type: 5, data }, atts.map(unhex)).data);
}

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

for (const c of cases.encode) {
  const out = { id: c.id, kind: "encode" };
  let data;
  try {
    data = JSON.parse(unhex(c.json).toString("utf8"));
    if (c.atts.length > 0) {
      data = reconstructPacket({ type: 5, data }, c.atts.map(unhex)).data;
    }
  } catch (e) {
    out.error = String(e);
    console.log(JSON.stringify(out));
    continue;
  }
  const want = canon(data);
  for (const [name, lib] of Object.entries(libs)) {
    const r = {};
    let got;
    try {
      r.hex = hex(lib.encode(data));
    } catch (e) {
      r.error = String(e);
    }
    if (r.hex !== undefined) {
      try {
        got = canon(lib.decode(unhex(r.hex)));
        // Whether the library's own bytes hold the value: notepack.io
        // garbles integers from 2^64 up, and neither keeps a lone
        // surrogate.
        r.nodeExact = got === want;
      } catch (e) {
        // @msgpack/msgpack refuses to decode the key __proto__ that it
        // encodes.
        r.decodeError = String(e);
      }
    }
    const ours = c.ours[name];
    if (ours && ours.hex !== undefined) {
      try {
        const o = canon(lib.decode(unhex(ours.hex)));
        r.sameAsData = o === want;
        r.sameAsNode = o === got;
      } catch (e) {
        r.oursError = String(e);
      }
    }
    out[name] = r;
  }
  console.log(JSON.stringify(out));
}

for (const c of cases.decode) {
  const out = { id: c.id, kind: "decode" };
  for (const [name, lib] of Object.entries(libs)) {
    const r = {};
    try {
      const value = lib.decode(unhex(c.msg));
      const { packet, buffers } = deconstructPacket({ type: 2, data: value });
      const json = JSON.stringify(packet.data);
      r.json = json === undefined ? "null" : json;
      r.atts = buffers.map(binHex);
      const ours = c.ours[name];
      if (ours && ours.error === undefined) {
        try {
          r.same = clientView(ours.json, ours.atts) === clientView(r.json, r.atts);
        } catch (e) {
          r.same = false;
          r.oursError = String(e);
        }
      }
    } catch (e) {
      r.error = String(e);
    }
    out[name] = r;
  }
  console.log(JSON.stringify(out));
}

for (const c of cases.dates || []) {
  const out = { id: c.id, kind: "date" };
  for (const [name, lib] of Object.entries(libs)) {
    out[name] = { hex: hex(lib.encode(new Date(c.ms))) };
  }
  console.log(JSON.stringify(out));
}
