package msgpack

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// allocatedPerCall returns the bytes that fn allocates per call, on average
// over n calls.
func allocatedPerCall(n int, fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		fn()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}

// TestHostileLengths sends headers that claim up to 4 GiB in a 10-byte
// message: every read fails with ErrTruncated at once, and allocates next
// to nothing (the error), not what the header claims.
func TestHostileLengths(t *testing.T) {
	for _, msg := range []string{
		"\xdb\xff\xff\xff\xff12345", // str 32
		"\xc6\xff\xff\xff\xff12345", // bin 32
		"\xc9\xff\xff\xff\xff\x011234",
		"\xdd\xff\xff\xff\xff\xc0\xc0\xc0\xc0\xc0", // array 32 of 4 Gi elements, 5 bytes left
		"\xdf\xff\xff\xff\xff\xc0\xc0\xc0\xc0\xc0", // map 32
		"\xdf\x00\x00\x00\x03\xc0\xc0\xc0\xc0\xc0", // 3 pairs need 6 bytes at least
		"\xda\xff\xff123456",                       // str 16
		"\xdc\xff\xff\xc0\xc0\xc0\xc0\xc0\xc0\xc0", // array 16
		"\x91\xdd\xff\xff\xff\xff\xc0\xc0\xc0\xc0", // nested
		"\x81\xa1k\xdf\xff\xff\xff\xff\xc0\xc0\xc0",
		"\x9f\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0", // fixarray of 15, 9 left
		"\xcb\x00\x00", // a float 64 cut short
		"\xd8\x01\x00", // a fixext 16 cut short
	} {
		b := []byte(msg)
		for name, read := range map[string]func(d *Decoder) error{
			"ReadJSON": func(d *Decoder) error { _, _, err := d.ReadJSON(nil, nil); return err },
			"ReadAny":  func(d *Decoder) error { _, err := d.ReadAny(); return err },
			"Skip":     func(d *Decoder) error { return d.Skip() },
			"ReadRaw":  func(d *Decoder) error { _, err := d.ReadRaw(); return err },
		} {
			var d Decoder
			d.Reset(b)
			if err := read(&d); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s(%q): %v, want ErrTruncated", name, msg, err)
			}
			if d.Offset() != 0 {
				t.Errorf("%s(%q): offset %d after an error", name, msg, d.Offset())
			}
			if n := allocatedPerCall(20, func() { d.Reset(b); _ = read(&d) }); n > 1024 {
				t.Errorf("%s(%q): %d bytes allocated per call", name, msg, n)
			}
		}
	}
	// The typed reads check the header as well.
	var d Decoder
	d.Reset([]byte("\xdb\xff\xff\xff\xff12345"))
	if _, err := d.ReadStrBytes(); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadStrBytes: %v", err)
	}
	d.Reset([]byte("\xc6\xff\xff\xff\xff12345"))
	if _, err := d.ReadBin(); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadBin: %v", err)
	}
	d.Reset([]byte("\xdd\xff\xff\xff\xff12345"))
	if _, err := d.ReadArrayHeader(); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadArrayHeader: %v", err)
	}
	d.Reset([]byte("\xdf\x00\x00\x00\x03\xc0\xc0\xc0\xc0\xc0"))
	if _, err := d.ReadMapHeader(); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadMapHeader: %v", err)
	}
	d.Reset(nil)
	if _, err := d.Peek(); !errors.Is(err, ErrTruncated) {
		t.Errorf("Peek at the end: %v", err)
	}
	d.Reset([]byte{0xc1})
	if _, err := d.Peek(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Peek 0xc1: %v", err)
	}
}

// TestDepth checks the nesting limit in both directions, and that Skip
// needs none.
func TestDepth(t *testing.T) {
	nestJSON := func(n int, open, close string) []byte {
		return []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
	}
	for _, tc := range []struct {
		open, close string
		levels      int // per open
	}{{"[", "]", 1}, {`{"a":`, "}", 1}, {`[{"a":`, "}]", 2}} {
		n := DefaultMaxDepth / tc.levels
		if _, err := AppendJSONValue(nil, nestJSON(n, tc.open, tc.close)); err != nil {
			t.Errorf("%s × %d: %v", tc.open, n, err)
		}
		if m, err := AppendJSONValue([]byte("keep"), nestJSON(n+1, tc.open, tc.close)); !errors.Is(err, ErrDepth) || string(m) != "keep" {
			t.Errorf("%s × %d: %v", tc.open, n+1, err)
		}
	}
	e := Encoder{MaxDepth: 3}
	if err := e.JSONValue([]byte(`[[[1]]]`)); err != nil {
		t.Errorf("MaxDepth 3, depth 3: %v", err)
	}
	if err := e.JSONValue([]byte(`[[[[1]]]]`)); !errors.Is(err, ErrDepth) {
		t.Errorf("MaxDepth 3, depth 4: %v", err)
	}

	nestMsg := func(n int, open []byte) []byte {
		return append(bytes.Repeat(open, n), 1)
	}
	for _, open := range [][]byte{{0x91}, {0x81, 0xa1, 'a'}, {0x81, 0x91}} { // the last nests in keys
		levels := DefaultMaxDepth
		if len(open) == 2 {
			levels = DefaultMaxDepth / 2
		}
		for _, n := range []int{levels, levels + 1} {
			msg := nestMsg(n, open)
			if len(open) == 2 {
				msg = append(msg, bytes.Repeat([]byte{1}, n)...) // the map values
			}
			_, _, _, err := ToJSON(nil, msg)
			d := Decoder{}
			d.Reset(msg)
			_, errAny := d.ReadAny()
			if n == levels && (err != nil || errAny != nil) {
				t.Errorf("%x × %d: %v, %v", open, n, err, errAny)
			}
			if n > levels && (!errors.Is(err, ErrDepth) || !errors.Is(errAny, ErrDepth)) {
				t.Errorf("%x × %d: %v, %v, want ErrDepth", open, n, err, errAny)
			}
		}
	}
	// Skip and ReadRaw have no limit and do not recurse.
	deep := nestMsg(1_000_000, []byte{0x91})
	var d Decoder
	d.Reset(deep)
	if raw, err := d.ReadRaw(); err != nil || len(raw) != len(deep) {
		t.Errorf("ReadRaw of 1e6 levels: %d bytes, %v", len(raw), err)
	}
}

// TestExpansion checks the bound of the package documentation: the JSON of
// a value is at most 20 times its MessagePack, the MessagePack of a JSON
// text at most 3 times the text (plus the attachments).
func TestExpansion(t *testing.T) {
	var worstJSON, worstMsgpack float64
	check := func(msg []byte, f Flavor) {
		d := Decoder{Flavor: f}
		d.Reset(msg)
		j, _, err := d.ReadJSON(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := float64(len(j)) / float64(len(msg)); r > worstJSON {
			worstJSON = r
		}
	}
	many := func(n int, v string) []byte {
		return append(appendArrayHeader(nil, n), strings.Repeat(v, n)...)
	}
	for _, f := range []Flavor{Notepack, MsgpackJS} {
		check(many(100000, "\xc4\x00"), f)     // empty bins
		check(many(100000, "\xd4\x80\x00"), f) // fixext 1
		check(many(100000, "\xa1\x01"), f)     // control characters
		check(many(100000, "\xc0"), f)
		check(many(100000, "\xd6\xff\x00\x00\x00\x00"), f)
		check(append(appendMapHeader(nil, 10000), strings.Repeat("\xd6\xff\x00\x00\x00\x00\xc0", 10000)...), Notepack)
	}
	if worstJSON > 20 {
		t.Errorf("JSON is up to %.1f times the MessagePack", worstJSON)
	}
	for _, s := range []string{strings.Repeat("0.5,", 10000), strings.Repeat("1e400,", 10000), strings.Repeat("[],", 10000)} {
		text := "[" + strings.TrimSuffix(s, ",") + "]"
		m, err := AppendJSONValue(nil, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if r := float64(len(m)) / float64(len(text)); r > worstMsgpack {
			worstMsgpack = r
		}
	}
	if worstMsgpack > 3 {
		t.Errorf("MessagePack is up to %.1f times the JSON", worstMsgpack)
	}
	t.Logf("worst expansion: JSON %.1f×, MessagePack %.1f×", worstJSON, worstMsgpack)
}
