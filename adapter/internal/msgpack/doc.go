// Package msgpack is the MessagePack codec of the Redis adapters: it
// writes and reads exactly what Node's Socket.IO adapters exchange, byte for
// byte, with no third-party dependency and without allocating on the
// broadcast path.
//
// Node's adapters encode with two JavaScript libraries, whose choices are
// mirrored by a [Flavor]:
//
//	Notepack   notepack.io 3.0.1     @socket.io/redis-adapter 8.3 (classic broadcasts,
//	                                 BROADCAST requests), its sharded adapter (messages
//	                                 with binary), @socket.io/redis-emitter 5.1
//	MsgpackJS  @msgpack/msgpack 2.8  @socket.io/redis-streams-adapter 0.3 (base64 in
//	                                 the stream's data field, pub/sub requests,
//	                                 sessions), @socket.io/cluster-engine
//
// # Socket.IO data
//
// Tether holds a packet's data as JSON text with binary placeholders
// {"_placeholder":true,"num":N} and a list of attachments (socketio/parser).
// Node's adapters carry the same data as one MessagePack value with each
// binary part inline as a bin. [AppendJSON] and [Encoder.JSON] transcode
// the first into the second, [ToJSON] and [Decoder.ReadJSON] the second
// into the first, in one pass each, without building a tree. The rules are
// those of the JavaScript values involved: Node JSON.parses the data
// (socket.io-parser puts the attachments back where the placeholders are)
// and encodes the value; or it decodes the value and JSON.stringifies it
// (socket.io-parser replaces each binary part with a placeholder first).
//
// Numbers. A JSON number denotes the nearest double, as in JSON.parse. Both
// libraries write an integral value in the smallest integer format that
// holds it, uint formats from 0 up (-0 is the integer 0), int formats below,
// and any other value as float 64 (never float 32; NaN, which no JSON
// denotes but [Encoder.Number] accepts, with JavaScript's bits). They
// differ beyond 2^53:
// @msgpack/msgpack writes only the safe integers (|v| <= 2^53-1) as
// integers and the rest as float 64; notepack.io writes every integral
// value below 2^64 as uint 64 (and down to -2^63 as int 64), and garbles
// larger ones (it writes them modulo 2^64, so 1e20 would arrive as
// 7766279631452241920): this package writes those as float 64, which both
// decoders read as the right number. On the way back, every integer format
// becomes a JavaScript number (64-bit values beyond 2^53 are rounded to the
// nearest double, as both decoders do) and every number is written as
// Number.prototype.toString writes it: the shortest digits that read back
// as the same double, plain from 1e-6 to 1e21, 1e+21 and 1.5e-7 outside,
// -0 as 0, NaN and the infinities (which only a float format can carry) as
// null, as JSON.stringify does.
//
// Strings. JSON escapes are decoded into UTF-8. A lone surrogate escape
// (\ud800 without its pair) and ill-formed UTF-8 become U+FFFD, which is
// what Node's Buffer and TextEncoder write for a long string (notepack.io
// writes strings of up to 32 UTF-16 units and @msgpack/msgpack strings of
// up to 200 with their own loops, which write a lone surrogate as other
// bytes). A str is read with ill-formed sequences replaced by U+FFFD as the
// WHATWG decoder does (Buffer#toString, TextDecoder; @msgpack/msgpack's own
// loop for short strings differs on ill-formed input only), and quoted as
// JSON.stringify does: \" \\ \b \t \n \f \r, \u00xx for the other control
// characters, nothing else escaped.
//
// Maps and key order. Objects become maps with their keys in the order of
// the JSON text, and maps become objects with their pairs in the order of
// the data. A JavaScript object puts the keys that are array indexes
// ("0", "1", … up to 2^32-2) first, in numeric order, and keeps one pair per
// key (the last value, at the first key's place), so Node writes
// {"b":1,"1":2} as {"1":2,"b":1} and a duplicate key once. This package
// keeps the order and the duplicates as they come: JSON.parse and both
// decoders build the same JavaScript object either way, so every receiver
// (a Node server, a client) sees the same value, and a message makes the
// same bytes on every Tether node; only those bytes can differ from Node's.
// The same holds for the numbering of placeholders: document order here,
// JavaScript's key order in socket.io-parser. The key "__proto__" is
// written as it comes (JSON.parse makes it an own property, which both
// libraries write, though @msgpack/msgpack refuses to read it back); it is
// left out when decoding (assigning it in JavaScript sets the prototype
// instead of adding a property, so Node drops it), or refused as
// @msgpack/msgpack refuses it.
// Keys that are not str are turned into the property names JavaScript makes
// of them with Notepack (1 → "1", null → "null", [1,2] → "1,2", a bin →
// its UTF-8 text, a map → "[object Object]", a date → its Date#toString in
// UTC); @msgpack/msgpack accepts only str and number keys.
//
// Binary. With attachments, an object whose "_placeholder" is true is
// replaced by its attachment as a bin, at any depth; its "num" must be an
// integer indexing the attachments, or the data is refused with
// [ErrAttachments] as socket.io-parser refuses it (socket.io-parser lets a
// fractional num through as undefined; it is refused here), once the whole
// text has parsed ([ErrJSON] comes first, as JSON.parse fails first). Without
// attachments the packet has no binary parts and such an object is an
// ordinary map, as it is for socket.io-parser. On the way back every bin
// becomes a placeholder and an attachment, numbered in document order from
// the attachments already collected; the attachments alias the input.
//
// Extension types. A timestamp (type -1) is a JavaScript Date in both
// libraries and becomes the string JSON.stringify writes for it
// (2024-03-13T12:34:56.789Z, +275760-09-13T00:00:00.000Z, or null for an
// invalid date), computed in the same floating-point steps. notepack.io
// reads timestamps only as fixext 4, fixext 8 and ext 8 of length 12 (it
// reads 12 bytes from any ext 8 of type -1: another length is refused here
// with [ErrInvalid]); it still decodes its old formats: ext 8–32 of type 0
// as an ArrayBuffer (a bin here), fixext 8 of type 0 as a date, fixext 1 of
// type 0 as undefined (null in an array, a key left out in a map: when the
// key comes twice and its last value is undefined, JavaScript hides the
// earlier value too, while it stays here), and any other extension as the
// array [type, Buffer]. @msgpack/msgpack decodes a
// timestamp of 4, 8 or 12 bytes in any ext format (other lengths fail) and
// any other extension as an ExtData object, {"type":type,"data":bin}.
//
// Encoding the same JSON with both flavors gives the same bytes except for
// integers beyond 2^53; decoding differs only for extension types, non-str
// map keys and "__proto__". Both decoders accept what either encoder writes.
//
// # Envelopes
//
// The adapters' own messages (the classic broadcast
// [uid, {type, data, nsp}, {rooms, except, flags}], requests, cluster
// messages) are written with an [Encoder], value by value in Node's key
// order, and read with a [Decoder], field by field; [Decoder.ReadRaw]
// captures a value to pass on, [Decoder.ReadAny] and [Unmarshal] decode
// generic fields (socket.data, the handshake) into Go values, and
// [Encoder.Any] writes them back.
//
// # Limits
//
// Every length and element count read is checked against the bytes left
// before it is used, so a header that claims 4 GiB in a 10-byte message
// fails with [ErrTruncated] at once and nothing is allocated ahead of the
// input. Arrays and maps may nest [DefaultMaxDepth] (1000) levels, in JSON
// and in MessagePack ([ErrDepth] beyond; Skip and ReadRaw need no limit:
// they neither recurse nor allocate). JSON output is at most 20 times the
// MessagePack input (an empty bin, 2 bytes, becomes a placeholder of about
// 30; a 3-byte extension an object of about 50), MessagePack output at
// most 3 times the JSON input (a 3-character fraction becomes a 9-byte
// float 64) plus the attachments. The JSON encoder writes container headers
// in their 32-bit form and shrinks them in one final pass, so its work is
// linear in the input at any depth.
//
// # Why not a library
//
// github.com/vmihailenco/msgpack/v5 decodes into Go values through
// reflection and interfaces: going from JSON text with placeholders to
// MessagePack would mean json.Unmarshal into a tree, replacing the
// placeholders, and encoding the tree, with an allocation per value and Go
// map order (random) instead of the JSON's key order; its number encoding
// is Go's (an int64 is written as int 64 unless asked otherwise, floats by
// their Go type), not JavaScript's. github.com/tinylib/msgp's runtime
// (Append*/Read*Bytes) is close to what the envelopes need, but it has no
// JSON transcoding, no notion of JavaScript numbers, timestamps as Node
// decodes them or Node's key rules, so the difficult part would be written
// here anyway, on top of a dependency. The format itself is small: the
// codec is under 2,000 lines of code, tested byte for byte against the real
// notepack.io and @msgpack/msgpack (node_test.go) and fuzzed.
package msgpack
