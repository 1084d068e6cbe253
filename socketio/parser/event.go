package parser

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendEvent appends the data of an EVENT packet, the JSON array
// [event, args...], to dst, encoding args with [AppendValue]: every []byte
// becomes a placeholder and is appended to attachments. It returns the
// extended dst and attachments. It does not check the event's name (see
// [IsReservedEvent]).
func AppendEvent(dst []byte, event string, args []any, attachments [][]byte) ([]byte, [][]byte, error) {
	dst = append(dst, '[')
	dst = AppendString(dst, event)
	var err error
	for _, a := range args {
		dst = append(dst, ',')
		if dst, attachments, err = AppendValue(dst, a, attachments); err != nil {
			return dst, attachments, err
		}
	}
	return append(dst, ']'), attachments, nil
}

// AppendArgs appends the JSON array [args...], the data of an ACK packet,
// to dst, encoding args with [AppendValue]. It returns the extended dst and
// attachments.
func AppendArgs(dst []byte, args []any, attachments [][]byte) ([]byte, [][]byte, error) {
	dst = append(dst, '[')
	var err error
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, attachments, err = AppendValue(dst, a, attachments); err != nil {
			return dst, attachments, err
		}
	}
	return append(dst, ']'), attachments, nil
}

// EventName returns the event name that the first element of an EVENT
// packet's array holds: a string, or a number (used by its text, as
// JavaScript does with property keys, and as [Decode] accepts it).
func EventName(first json.RawMessage) string {
	if len(first) > 0 && first[0] == '"' {
		if name, ok := plainString(first); ok {
			return name
		}
		var s string
		if json.Unmarshal(first, &s) == nil {
			return s
		}
	}
	return string(first)
}

// ConnectData is the data of the CONNECT packet a server answers with
// (protocol v5): the socket's id and, with connection state recovery, its
// private id, which the client sends back to recover the session.
type ConnectData struct {
	SID string `json:"sid"`
	PID string `json:"pid,omitempty"`
}

// ConnectErrorData is the data of a CONNECT_ERROR packet (protocol v5):
// the error's message and, when the server gave some, its data. (Data is
// first so that it encodes as Node's server and Tether's always did.)
type ConnectErrorData struct {
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message"`
}

// RecoveryAuth holds the fields a client adds to the auth payload of its
// CONNECT packet to recover its session (connection state recovery): the
// private id of the CONNECT answer and the offset of the last packet it
// received. Both are set, or the client asks for a new session.
type RecoveryAuth struct {
	PID    *string `json:"pid"`
	Offset *string `json:"offset"`
}

// plainString returns the contents of the JSON string token tok when it
// decodes to them as they are: no escape, valid UTF-8 (encoding/json
// replaces invalid bytes), and a closing quote.
func plainString(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[len(tok)-1] != '"' {
		return "", false
	}
	raw := tok[1 : len(tok)-1]
	ascii := true
	for _, c := range raw {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if !ascii && !utf8.Valid(raw) {
		return "", false
	}
	return string(raw), true
}
