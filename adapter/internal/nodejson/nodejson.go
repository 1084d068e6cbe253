package nodejson

import (
	"bytes"
	"encoding/json"

	"github.com/tether-rt/tether/socketio/parser"
)

// Object writes a JSON object field by field onto B. The zero value starts
// an object at the end of a nil slice; set B to append to a buffer.
type Object struct {
	B []byte
	n int
}

// Key starts the field k.
func (o *Object) Key(k string) {
	if o.n == 0 {
		o.B = append(o.B, '{')
	} else {
		o.B = append(o.B, ',')
	}
	o.n++
	o.B = parser.AppendString(o.B, k)
	o.B = append(o.B, ':')
}

// Raw writes the field k with the JSON value v, null when v is empty.
func (o *Object) Raw(k string, v []byte) {
	o.Key(k)
	o.B = append(o.B, OrNull(v)...)
}

// String writes the field k with the string v.
func (o *Object) String(k, v string) {
	o.Key(k)
	o.B = parser.AppendString(o.B, v)
}

// StringIf writes the field k with the string v unless v is empty.
func (o *Object) StringIf(k, v string) {
	if v != "" {
		o.String(k, v)
	}
}

// End closes the object ({} when no field was written) and returns the
// buffer.
func (o *Object) End() []byte {
	if o.n == 0 {
		return append(o.B, "{}"...)
	}
	return append(o.B, '}')
}

// OrNull returns b, or the JSON null when b is empty.
func OrNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// AppendStrings appends the JSON array of the strings ss.
func AppendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = parser.AppendString(dst, s)
	}
	return append(dst, ']')
}

// Array returns the JSON array of the values elems (each valid JSON).
func Array(elems []json.RawMessage) json.RawMessage {
	b := []byte{'['}
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, OrNull(e)...)
	}
	return append(b, ']')
}

// Text returns a JSON string's value, "" for null or nothing, or the text
// of another JSON value (a number's digits), as JavaScript turns a room
// name or an id into a string.
func Text(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// Texts returns the Text of each value, nil for none: room names that may
// be numbers in JavaScript (socket.join(123)), as socket.io compares them.
func Texts(raw []json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = Text(r)
	}
	return out
}
