package parser

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
)

// RawValue is a JSON value whose binary parts are kept apart, as a packet
// carries them: JSON holds a placeholder {"_placeholder":true,"num":N} for
// each binary part, which is Attachments[N]. Attachments may hold more than
// the value refers to, such as every attachment of the packet the value
// came from.
//
// AppendValue writes a RawValue (at any depth) with its placeholders
// renumbered after the attachments collected so far, and collects the
// attachments they refer to: a value received with binary parts is sent
// again with the same binary parts. MarshalJSON (what encoding/json uses)
// writes each binary part as a base64 string instead.
type RawValue struct {
	JSON        json.RawMessage
	Attachments [][]byte
}

var rawValueType = reflect.TypeFor[RawValue]()

// MarshalJSON returns the value with each binary part as a base64 JSON
// string (as InlineAttachments does): the form encoding/json decodes into a
// []byte. A zero RawValue is null.
func (v RawValue) MarshalJSON() ([]byte, error) {
	if len(v.JSON) == 0 {
		return []byte("null"), nil
	}
	if !validJSON(v.JSON) {
		return nil, fmt.Errorf("failed to encode raw value: invalid JSON")
	}
	b, err := InlineAttachments(nil, v.JSON, v.Attachments)
	if err != nil {
		return nil, fmt.Errorf("failed to encode raw value: %w", err)
	}
	return b, nil
}

// Decode decodes the value into dst (a pointer) with encoding/json; each
// binary part decodes into a []byte.
func (v RawValue) Decode(dst any) error {
	b, err := v.MarshalJSON()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("failed to decode raw value: %w", err)
	}
	return nil
}

// appendRaw appends v's JSON to dst, renumbering its placeholders from
// len(att), and appends the attachments they refer to to att.
func appendRaw(dst []byte, v RawValue, att [][]byte) ([]byte, [][]byte, error) {
	data := v.JSON
	if len(data) == 0 {
		return append(dst, "null"...), att, nil
	}
	if !validJSON(data) {
		return dst, att, fmt.Errorf("failed to encode raw value: invalid JSON")
	}
	start := len(dst)
	last := 0
	_, err := walkPlaceholders(data, skipSpace(data, 0), len(v.Attachments), func(from, to, num int) {
		dst = append(dst, data[last:from]...)
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(att)), 10)
		dst = append(dst, '}')
		att = append(att, v.Attachments[num])
		last = to
	})
	if err != nil {
		return dst[:start], att, fmt.Errorf("failed to encode raw value: %w", err)
	}
	return append(dst, data[last:]...), att, nil
}

// rawOf returns the RawValue v holds, also when v was reached through an
// unexported embedded field (where Interface is not allowed).
func rawOf(v reflect.Value) RawValue {
	if v.CanInterface() {
		return v.Interface().(RawValue)
	}
	r := RawValue{JSON: v.Field(0).Bytes()}
	if atts := v.Field(1); atts.Len() > 0 {
		r.Attachments = make([][]byte, atts.Len())
		for i := range r.Attachments {
			r.Attachments[i] = atts.Index(i).Bytes()
		}
	}
	return r
}
