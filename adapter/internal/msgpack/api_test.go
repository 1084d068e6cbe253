package msgpack

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncoderPrimitives(t *testing.T) {
	for _, tc := range []struct {
		write func(e *Encoder)
		want  string
	}{
		{func(e *Encoder) { e.Nil() }, "c0"},
		{func(e *Encoder) { e.Bool(true); e.Bool(false) }, "c3c2"},
		{func(e *Encoder) { e.Int(0); e.Int(127); e.Int(128); e.Int(-32); e.Int(-33) }, "00 7f cc80 e0 d0df"},
		{func(e *Encoder) { e.Int(math.MaxInt64); e.Int(math.MinInt64) }, "cf7fffffffffffffff d38000000000000000"},
		{func(e *Encoder) { e.Uint(math.MaxUint64); e.Uint(65535); e.Uint(65536) }, "cfffffffffffffffff cdffff ce00010000"},
		{func(e *Encoder) { e.Float64(1); e.Float64(math.Copysign(0, -1)) }, "cb3ff0000000000000 cb8000000000000000"},
		{func(e *Encoder) { e.Number(1); e.Number(0.5); e.Number(math.Copysign(0, -1)); e.Number(math.NaN()) },
			"01 cb3fe0000000000000 00 cb7ff8000000000000"},
		{func(e *Encoder) { e.Str(""); e.Str("abc"); e.StrBytes([]byte("é")) }, "a0 a3616263 a2c3a9"},
		{func(e *Encoder) { e.Str(strings.Repeat("x", 31)) }, "bf" + strings.Repeat("78", 31)},
		{func(e *Encoder) { e.Str(strings.Repeat("x", 32)) }, "d920" + strings.Repeat("78", 32)},
		{func(e *Encoder) { e.Bin(nil); e.Bin([]byte{1}) }, "c400 c40101"},
		{func(e *Encoder) { e.Bin(make([]byte, 256)) }, "c50100" + strings.Repeat("00", 256)},
		{func(e *Encoder) { e.ArrayHeader(15); e.ArrayHeader(16); e.ArrayHeader(65536) }, "9f dc0010 dd00010000"},
		{func(e *Encoder) { e.MapHeader(15); e.MapHeader(16); e.MapHeader(65536) }, "8f de0010 df00010000"},
		{func(e *Encoder) { e.Raw([]byte{0x92, 1, 2}) }, "920102"},
		{func(e *Encoder) { e.Time(time.UnixMilli(0)) }, "d6ff00000000"},
		{func(e *Encoder) { e.Time(time.UnixMilli(1710333296789)) }, "d7ff bc1cbd00 65f19d70"},
		{func(e *Encoder) { e.Time(time.UnixMilli(-1)) }, "c70cff 3b8b87c0 ffffffffffffffff"},
		{func(e *Encoder) { e.Time(time.Unix(1<<34, 0)) }, "c70cff 00000000 0000000400000000"},
		{func(e *Encoder) { e.Time(time.Unix(1<<32, 0)) }, "d7ff 00000001 00000000"},
		{func(e *Encoder) { e.Time(time.Unix(5, 999999)) }, "d6ff00000005"}, // below a millisecond: dropped
	} {
		var e Encoder
		tc.write(&e)
		if want := mustHex(t, tc.want); !bytes.Equal(e.Buf, want) {
			t.Errorf("got %x, want %x", e.Buf, want)
		}
	}
	// Number with the MsgpackJS flavor: integers beyond 2^53 are floats.
	e := Encoder{Flavor: MsgpackJS}
	e.Number(1 << 53)
	e.Number(1<<53 - 1)
	if want := mustHex(t, "cb4340000000000000 cf001fffffffffffff"); !bytes.Equal(e.Buf, want) {
		t.Errorf("MsgpackJS Number: %x", e.Buf)
	}
	defer func() {
		if recover() == nil {
			t.Error("ArrayHeader(-1) did not panic")
		}
	}()
	e.ArrayHeader(-1)
}

func TestDecoderReads(t *testing.T) {
	msg := mustHex(t, "7f e0 cc80 d0df cfffffffffffffffff d38000000000000000 cb4000000000000000 cb3fe0000000000000 ca40400000"+
		" c3 c0 a3616263 c40201 02 c7020003 04 93 01 02 03 82 a161 01 a162 02 d6ff00000001")
	var d Decoder
	d.Reset(msg)
	wantInts := []int64{127, -32, 128, -33}
	for _, w := range wantInts {
		if v, err := d.ReadInt(); err != nil || v != w {
			t.Fatalf("ReadInt: %d, %v, want %d", v, err, w)
		}
	}
	// uint64 max does not fit an int64; the read fails and stays put.
	if _, err := d.ReadInt(); !errors.Is(err, ErrRange) {
		t.Fatalf("ReadInt(uint64 max): %v", err)
	}
	if v, err := d.ReadUint(); err != nil || v != math.MaxUint64 {
		t.Fatalf("ReadUint: %d, %v", v, err)
	}
	if _, err := d.ReadUint(); !errors.Is(err, ErrRange) {
		t.Fatalf("ReadUint(int64 min): %v", err)
	}
	if v, err := d.ReadInt(); err != nil || v != math.MinInt64 {
		t.Fatalf("ReadInt: %d, %v", v, err)
	}
	// A float that is an integer is an integer, as in JavaScript.
	if v, err := d.ReadInt(); err != nil || v != 2 {
		t.Fatalf("ReadInt(2.0): %d, %v", v, err)
	}
	if _, err := d.ReadInt(); !errors.Is(err, ErrRange) {
		t.Fatalf("ReadInt(0.5): %v", err)
	}
	if v, err := d.ReadFloat(); err != nil || v != 0.5 {
		t.Fatalf("ReadFloat: %v, %v", v, err)
	}
	if v, err := d.ReadFloat(); err != nil || v != 3 {
		t.Fatalf("ReadFloat(float 32): %v, %v", v, err)
	}
	if _, err := d.ReadStrBytes(); !errors.Is(err, ErrType) {
		t.Fatalf("ReadStrBytes(true): %v", err)
	}
	if typ, err := d.Peek(); err != nil || typ != BoolType {
		t.Fatalf("Peek: %s, %v", typ, err)
	}
	if v, err := d.ReadBool(); err != nil || !v {
		t.Fatalf("ReadBool: %v, %v", v, err)
	}
	if err := d.ReadNil(); err != nil {
		t.Fatal(err)
	}
	if v, err := d.ReadStr(); err != nil || v != "abc" {
		t.Fatalf("ReadStr: %q, %v", v, err)
	}
	if v, err := d.ReadBin(); err != nil || !bytes.Equal(v, []byte{1, 2}) {
		t.Fatalf("ReadBin: %x, %v", v, err)
	}
	if v, err := d.ReadBin(); err != nil || !bytes.Equal(v, []byte{3, 4}) {
		t.Fatalf("ReadBin(ArrayBuffer): %x, %v", v, err)
	}
	start := d.Offset()
	if n, err := d.ReadArrayHeader(); err != nil || n != 3 {
		t.Fatalf("ReadArrayHeader: %d, %v", n, err)
	}
	d.Reset(msg)
	d.off = start
	raw, err := d.ReadRaw()
	if err != nil || !bytes.Equal(raw, []byte{0x93, 1, 2, 3}) {
		t.Fatalf("ReadRaw: %x, %v", raw, err)
	}
	if _, err := d.ReadArrayHeader(); !errors.Is(err, ErrType) {
		t.Fatalf("ReadArrayHeader(map): %v", err)
	}
	if err := d.Skip(); err != nil {
		t.Fatal(err)
	}
	v, err := d.ReadAny()
	if err != nil || !v.(time.Time).Equal(time.Unix(1, 0)) {
		t.Fatalf("ReadAny(timestamp): %v, %v", v, err)
	}
	if d.Len() != 0 || len(d.Rest()) != 0 {
		t.Fatalf("%d bytes left", d.Len())
	}
	// With MsgpackJS, ext 8 of type 0 is no bin.
	d = Decoder{Flavor: MsgpackJS}
	d.Reset(mustHex(t, "c7020003 04"))
	if _, err := d.ReadBin(); !errors.Is(err, ErrType) {
		t.Fatalf("MsgpackJS ReadBin(ext): %v", err)
	}
}

func TestAny(t *testing.T) {
	v := map[string]any{
		"nil": nil, "bool": true, "int": -5, "uint": uint64(math.MaxUint64), "float": 2.5, "floatInt": 3.0,
		"str": "héllo", "bin": []byte{1, 2}, "time": time.UnixMilli(1710333296789).UTC(),
		"arr": []any{1, "x", []any{}}, "strs": []string{"a", "b"}, "strmap": map[string]string{"k": "v"},
		"raw": json.RawMessage(`{"z":[1,2.5]}`), "nested": map[string]any{"b": 1, "a": 2},
	}
	var e Encoder
	if err := e.Any(v); err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(e.Buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"nil": nil, "bool": true, "int": int64(-5), "uint": uint64(math.MaxUint64), "float": 2.5, "floatInt": int64(3),
		"str": "héllo", "bin": []byte{1, 2}, "time": time.UnixMilli(1710333296789).UTC(),
		"arr": []any{int64(1), "x", []any{}}, "strs": []any{"a", "b"}, "strmap": map[string]any{"k": "v"},
		"raw": map[string]any{"z": []any{int64(1), 2.5}}, "nested": map[string]any{"b": int64(1), "a": int64(2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	// Keys are written sorted: the same map gives the same bytes.
	var e2 Encoder
	if err := e2.Any(v); err != nil || !bytes.Equal(e.Buf, e2.Buf) {
		t.Fatalf("two encodings differ: %v", err)
	}
	// What Any cannot encode leaves Buf as it was.
	e2.Buf = append(e2.Buf[:0], 0xc0)
	if err := e2.Any([]any{1, struct{}{}}); !errors.Is(err, ErrUnsupported) || !bytes.Equal(e2.Buf, []byte{0xc0}) {
		t.Fatalf("Any(struct): %v, %x", err, e2.Buf)
	}
	if _, err := Unmarshal([]byte{0x01, 0x02}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Unmarshal with a trailing byte: %v", err)
	}
	// ReadAny's copies outlive the buffer.
	buf := []byte{0xc4, 1, 7}
	b, _ := Unmarshal(buf)
	buf[2] = 0
	if b.([]byte)[0] != 7 {
		t.Fatal("ReadAny's bin aliases the buffer")
	}
	// Extensions and keys as each library makes them.
	for _, tc := range []struct {
		msg  string
		f    Flavor
		want any
	}{
		{"d40501", Notepack, []any{int64(5), []byte{1}}},
		{"d40501", MsgpackJS, map[string]any{"type": int64(5), "data": []byte{1}}},
		{"c7020001 02", Notepack, []byte{1, 2}},
		{"82 a161 d40000 c0 01", Notepack, map[string]any{"null": int64(1)}},
		{"82 a9 5f5f70726f746f5f5f 01 a161 02", Notepack, map[string]any{"a": int64(2)}},
		{"c70cff00000000 000007dba8218001", Notepack, nil},
		{"a2 ff61", Notepack, "\uFFFDa"},
	} {
		d := Decoder{Flavor: tc.f}
		d.Reset(mustHex(t, tc.msg))
		got, err := d.ReadAny()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s: %#v, %v, want %#v", tc.f, tc.msg, got, err, tc.want)
		}
	}
	d := Decoder{Flavor: MsgpackJS}
	d.Reset(mustHex(t, "81 c0 01"))
	if _, err := d.ReadAny(); !errors.Is(err, ErrInvalid) {
		t.Errorf("MsgpackJS nil key: %v", err)
	}
}

// TestAllocations checks that the broadcast path does not allocate once
// its buffers have grown: encoding a packet's data (with a 64 KiB binary
// argument too) into a reused Encoder, and reading it back into reused
// slices.
func TestAllocations(t *testing.T) {
	chat := []byte(`["chat",{"user":"alice","text":"hello, world! \"quoted\" and é","ts":1710333296789,"ratio":0.25,"tags":["a","b"],"reply":null}]`)
	file := []byte(`["upload",{"name":"photo.jpg","size":65536},{"_placeholder":true,"num":0}]`)
	atts := [][]byte{bytes.Repeat([]byte{0xab}, 64<<10)}
	for _, tc := range []struct {
		name string
		data []byte
		atts [][]byte
	}{{"chat", chat, nil}, {"binary", file, atts}} {
		var e Encoder
		var d Decoder
		var out []byte
		var outAtts [][]byte
		run := func() {
			e.Buf = e.Buf[:0]
			if err := writeBroadcast(&e, "xaaFKm", "/", tc.data, tc.atts); err != nil {
				t.Fatal(err)
			}
			d.Reset(e.Buf)
			if _, err := d.ReadArrayHeader(); err != nil {
				t.Fatal(err)
			}
			if err := d.Skip(); err != nil { // uid
				t.Fatal(err)
			}
			if _, err := d.ReadMapHeader(); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				key, err := d.ReadStrBytes()
				if err != nil {
					t.Fatal(err)
				}
				if string(key) == "data" {
					out, outAtts, err = d.ReadJSON(out[:0], outAtts[:0])
				} else {
					err = d.Skip()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("%s: %v allocations per broadcast", tc.name, n)
		}
		if !bytes.Equal(out, tc.data) || len(outAtts) != len(tc.atts) {
			t.Errorf("%s: read back %s", tc.name, out)
		}
	}
}

// TestStrsAndReadText checks Strs and the texts ReadText makes of each
// kind of value, as JavaScript's String() turns an id into a string.
func TestStrsAndReadText(t *testing.T) {
	var e Encoder
	e.Strs([]string{"a", "bc"})
	e.Nil()
	e.Int(-12)
	e.Bool(true)
	e.Float64(1.5)
	e.Str("room")
	var d Decoder
	d.Reset(e.Buf)
	if n, err := d.ReadArrayHeader(); err != nil || n != 2 {
		t.Fatalf("Strs header = %d, %v", n, err)
	}
	for _, want := range []string{"a", "bc", "", "-12", "true", "1.5", "room"} {
		got, err := d.ReadText()
		if err != nil || got != want {
			t.Errorf("ReadText = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := d.ReadText(); err == nil {
		t.Error("ReadText at the end: no error")
	}
	d.Reset([]byte{0xd9}) // str 8 without its length
	if _, err := d.ReadText(); err == nil {
		t.Error("ReadText of a truncated str: no error")
	}
}
