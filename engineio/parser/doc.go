// Package parser encodes and decodes Engine.IO packets and polling payloads,
// revisions 3 and 4 of the protocol, without any I/O.
//
// A packet is a type (open, close, ping, pong, message, upgrade, noop) and
// optional data. Over WebSocket each packet is one frame: a text frame holds
// the type digit and the data ("4hello"); a binary frame holds a message's
// bytes (v4) or a type byte and the bytes (v3). Over HTTP long-polling, the
// packets of one request or response form a payload:
//
//	v4:  4hello\x1e2\x1ebAQIDBA==        packets joined by \x1e, binary as "b"+base64
//	v3:  6:4hello1:210:b4AQIDBA==        "<length>:<packet>", length in UTF-16 units
//	v3 binary (application/octet-stream):
//	     00 06 ff '4' 'h' 'e' 'l' 'l' 'o'   01 05 ff 04 01 02 03 04
//	     (0 = text, 1 = binary, length as digit bytes, 255, then the packet)
//
// The v3 length counts characters as JavaScript does (UTF-16 code units):
// "€" counts 1 though it is 3 bytes of UTF-8, and "😀" counts 2.
//
// Decoders never panic on any input and report errors wrapping
// [ErrInvalidPacket] or [ErrInvalidPayload]. Decoded data aliases the input
// buffer except for base64 data, which is decoded into a new slice. Encoders
// append to a caller's buffer, so a connection can reuse one buffer for all
// its writes.
package parser
