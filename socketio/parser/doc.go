// Package parser encodes and decodes Socket.IO packets (protocol v5, the
// default parser of Node's socket.io-parser 4.x).
//
// A packet travels as one Engine.IO text message, followed, for the binary
// types, by one Engine.IO binary message per attachment:
//
//	<type>[<attachments>-][<namespace>,][<id>][<json>]
//
// for example `2["chat","hi"]`, `0/admin,{"token":"x"}`, `3/admin,12["ok"]`
// or `51-["file",{"_placeholder":true,"num":0}]` followed by the bytes.
//
// [Decode] parses one text message; a [Decoder] takes the Engine.IO messages
// of a connection in order and returns complete packets, binary attachments
// included. Both validate as strictly as Node's decoder (and a little more):
// the type, the attachment count (at most [Decoder.MaxAttachments]), the
// namespace, the id, and the payload's JSON and shape per packet type:
//
//	CONNECT        object, or absent
//	DISCONNECT     absent
//	EVENT          non-empty array whose first element is a string that is not
//	               a reserved name ("connect", "connect_error", "disconnect",
//	               "disconnecting", "newListener", "removeListener"), or a number
//	ACK            array
//	CONNECT_ERROR  object or string
//
// Every binary placeholder `{"_placeholder":true,"num":N}` must refer to an
// attachment that exists. A server closes the connection on any error.
//
// [Packet.AppendText] encodes a packet's text message once, so a broadcast can
// send the same bytes to every receiver; [Packet.Encode] gives the whole wire
// form, an [EncodedPacket] (text and attachments), which adapters keep and
// share. [AppendValue] turns Go values into
// JSON, replacing every []byte (nested too) with a placeholder and collecting
// it as an attachment; [InlineAttachments] does the reverse for received
// packets, putting each attachment back as a base64 JSON string so that it
// decodes into a []byte field with encoding/json.
package parser
