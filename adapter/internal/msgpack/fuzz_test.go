package msgpack

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/; ./scripts/fuzz.sh runs
// every target.

// FuzzToJSON decodes arbitrary bytes. It must never panic; what it accepts
// must give valid JSON of a bounded size, agree with Skip and ReadAny on
// where the value ends, and come back to the same JSON through AppendJSON.
func FuzzToJSON(f *testing.F) {
	f.Add(classicBroadcast, false)
	f.Add(binaryData, true)
	f.Add([]byte("\x81\x93\x01\xc0\xd6\xff\x00\x00\x00\x00\x01"), false)
	f.Add([]byte("\xdb\xff\xff\xff\xff12345"), false)
	f.Fuzz(func(t *testing.T, msg []byte, msgpackJS bool) {
		flavor := Notepack
		if msgpackJS {
			flavor = MsgpackJS
		}
		d := Decoder{Flavor: flavor}
		d.Reset(msg)
		out, atts, err := d.ReadJSON(nil, nil)
		dAny := Decoder{Flavor: flavor}
		dAny.Reset(msg)
		_, errAny := dAny.ReadAny()
		if (err == nil) != (errAny == nil) {
			t.Fatalf("ReadJSON: %v, ReadAny: %v", err, errAny)
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrDepth) {
				t.Fatalf("unexpected error: %v", err)
			}
			if d.Offset() != 0 || len(out) != 0 || len(atts) != 0 {
				t.Fatalf("failed read moved: offset %d, %d bytes of JSON", d.Offset(), len(out))
			}
			return
		}
		used := d.Offset()
		if dAny.Offset() != used {
			t.Fatalf("ReadJSON read %d bytes, ReadAny %d", used, dAny.Offset())
		}
		var skip Decoder
		skip.Reset(msg)
		if err := skip.Skip(); err != nil || skip.Offset() != used {
			t.Fatalf("ReadJSON read %d bytes, Skip %d (%v)", used, skip.Offset(), err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
		if len(out) > 20*used+64 {
			t.Fatalf("%d bytes of JSON for %d of MessagePack", len(out), used)
		}
		// Back through MessagePack: the same JSON, unless the data had
		// objects of its own that look like placeholders.
		if bytes.Count(out, []byte(`"_placeholder"`)) != len(atts) {
			return
		}
		e := Encoder{Flavor: flavor}
		if err := e.JSON(out, atts); err != nil {
			t.Fatalf("AppendJSON(%q): %v", out, err)
		}
		d2 := Decoder{Flavor: flavor}
		d2.Reset(e.Buf)
		out2, atts2, err := d2.ReadJSON(nil, nil)
		if err != nil || !bytes.Equal(out, out2) || !equalAtts(atts, atts2) || d2.Len() != 0 {
			t.Fatalf("not stable:\n%q\n%q (%v)", out, out2, err)
		}
	})
}

// FuzzAppendJSON encodes arbitrary text. It must accept exactly the valid
// JSON (within the depth limit, with placeholders that refer to
// attachments), write one well-formed MessagePack value that holds the
// same value as the text, and reach a fixed point after one trip through
// ToJSON.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte(`["plain",1,"two",{"three":3.5},null,true]`), uint8(0), false)
	f.Add([]byte(binaryJSON), uint8(2), false)
	f.Add([]byte(`{"a":[1e400,-0,0.1,"\ud800\u00e9"],"b":{"_placeholder":true,"num":0}}`), uint8(1), true)
	f.Add([]byte(`[9007199254740993, 18446744073709551616, -9223372036854775809]`), uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, natts uint8, msgpackJS bool) {
		flavor := Notepack
		if msgpackJS {
			flavor = MsgpackJS
		}
		var atts [][]byte
		for i := range int(natts % 4) {
			atts = append(atts, bytes.Repeat([]byte{byte(i)}, i))
		}
		e := Encoder{Flavor: flavor, Buf: []byte("prefix")}
		err := e.JSON(data, atts)
		valid := json.Valid(data)
		switch {
		case err == nil && !valid:
			t.Fatalf("accepted invalid JSON %q", data)
		case err != nil && string(e.Buf) != "prefix":
			t.Fatalf("failed and wrote %q", e.Buf)
		case errors.Is(err, ErrDepth):
			// Checked on the way in, before the end of the text is seen.
			if depthOf(data) <= DefaultMaxDepth {
				t.Fatalf("ErrDepth at depth %d", depthOf(data))
			}
			return
		case err != nil && !valid:
			if !errors.Is(err, ErrJSON) {
				t.Fatalf("invalid JSON %q: %v", data, err)
			}
			return
		case errors.Is(err, ErrAttachments):
			var v any
			if json.Unmarshal(data, &v) == nil && !hasPlaceholder(v) {
				t.Fatalf("ErrAttachments without a placeholder: %q", data)
			}
			return
		case err != nil:
			t.Fatalf("valid JSON %q: %v", data, err)
		}
		m := e.Buf[len("prefix"):]
		var d Decoder
		d.Reset(m)
		if err := d.Skip(); err != nil || d.Len() != 0 {
			t.Fatalf("not one value: %x (%v, %d left)", m, err, d.Len())
		}
		d = Decoder{Flavor: flavor}
		d.Reset(m)
		j1, atts1, err := d.ReadJSON(nil, nil)
		if err != nil || !json.Valid(j1) {
			t.Fatalf("ToJSON(%x) = %q, %v", m, j1, err)
		}
		// The same value, as encoding/json sees it (where it can: it reads
		// ill-formed UTF-8 otherwise, and refuses 1e400).
		var v0, v1 any
		if utf8.Valid(data) && json.Unmarshal(data, &v0) == nil {
			if err := json.Unmarshal(j1, &v1); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reconstruct(v0, atts), reconstruct(v1, atts1)) {
				t.Fatalf("another value:\n%q\n%q", data, j1)
			}
		}
		m2, err := AppendJSON(nil, j1, atts1)
		if err != nil {
			t.Fatalf("AppendJSON(%q): %v", j1, err)
		}
		j2, atts2, _, err := ToJSON(nil, m2)
		if err != nil {
			t.Fatal(err)
		}
		m3, err := AppendJSON(nil, j2, atts2)
		if err != nil || !bytes.Equal(j1, j2) || !bytes.Equal(m2, m3) {
			t.Fatalf("no fixed point:\n%q\n%q\n%x\n%x (%v)", j1, j2, m2, m3, err)
		}
	})
}

func equalAtts(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// depthOf returns how deep arrays and objects nest in the JSON text b.
func depthOf(b []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			depth++
			deepest = max(deepest, depth)
		case !inString && (c == ']' || c == '}'):
			depth--
		}
	}
	return deepest
}

// hasPlaceholder reports whether v (from encoding/json) has an object whose
// "_placeholder" is true.
func hasPlaceholder(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if x["_placeholder"] == true {
			return true
		}
		for _, e := range x {
			if hasPlaceholder(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasPlaceholder(e) {
				return true
			}
		}
	}
	return false
}

// reconstruct puts the attachments in place of the placeholders in v (from
// encoding/json), as socket.io-parser does for a packet with attachments.
func reconstruct(v any, atts [][]byte) any {
	if len(atts) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if x["_placeholder"] == true {
			if n, ok := x["num"].(float64); ok && n >= 0 && int(n) < len(atts) && float64(int(n)) == n {
				return atts[int(n)]
			}
			return x
		}
		for k, e := range x {
			x[k] = reconstruct(e, atts)
		}
	case []any:
		for i, e := range x {
			x[i] = reconstruct(e, atts)
		}
	}
	return v
}
