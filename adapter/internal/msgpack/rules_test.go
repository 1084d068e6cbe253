package msgpack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNumbers checks each JSON number against the bytes notepack.io and
// @msgpack/msgpack write for the JavaScript number it denotes (the node
// cross-check compares the same with the real libraries).
func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		json     string
		notepack string
		msgpack  string // when it differs from notepack
	}{
		{"0", "00", ""},
		{"-0", "00", ""},
		{"-0.0", "00", ""},
		{"1", "01", ""},
		{"1.0", "01", ""},
		{"1e2", "64", ""},
		{"127", "7f", ""},
		{"128", "cc80", ""},
		{"255", "ccff", ""},
		{"256", "cd0100", ""},
		{"65535", "cdffff", ""},
		{"65536", "ce00010000", ""},
		{"4294967295", "ceffffffff", ""},
		{"4294967296", "cf0000000100000000", ""},
		{"9007199254740991", "cf001fffffffffffff", ""},
		{"9007199254740992", "cf0020000000000000", "cb4340000000000000"},
		{"9007199254740993", "cf0020000000000000", "cb4340000000000000"}, // the nearest double is 2^53
		{"18446744073709549568", "cfffffffffffff f800", "cb43efffffffffffff"},
		{"18446744073709551616", "cb43f0000000000000", ""}, // 2^64: notepack.io would write 0
		{"1e20", "cb4415af1d78b58c40", ""},                 // notepack.io would write 7766279631452241920
		{"-1", "ff", ""},
		{"-32", "e0", ""},
		{"-33", "d0df", ""},
		{"-128", "d080", ""},
		{"-129", "d1ff7f", ""},
		{"-32768", "d18000", ""},
		{"-32769", "d2ffff7fff", ""},
		{"-2147483648", "d280000000", ""},
		{"-2147483649", "d3ffffffff7fffffff", ""},
		{"-9007199254740991", "d3ffe0000000000001", ""},
		{"-9007199254740992", "d3ffe0000000000000", "cbc340000000000000"},
		{"-9223372036854775808", "d38000000000000000", "cbc3e0000000000000"},
		{"-9223372036854777856", "cbc3e0000000000001", ""}, // below -2^63: notepack.io garbles it
		{"0.5", "cb3fe0000000000000", ""},
		{"-2.5", "cbc004000000000000", ""},
		{"0.1", "cb3fb999999999999a", ""},
		{"1e400", "cb7ff0000000000000", ""}, // Infinity, as JSON.parse makes it
		{"-1e400", "cbfff0000000000000", ""},
		{"1e-400", "00", ""}, // 0
		{"5e-324", "cb0000000000000001", ""},
	} {
		for _, f := range []Flavor{Notepack, MsgpackJS} {
			want := tc.notepack
			if f == MsgpackJS && tc.msgpack != "" {
				want = tc.msgpack
			}
			e := Encoder{Flavor: f}
			if err := e.JSONValue([]byte(tc.json)); err != nil {
				t.Errorf("%s %s: %v", f, tc.json, err)
				continue
			}
			if !bytes.Equal(e.Buf, mustHex(t, want)) {
				t.Errorf("%s %s: got %x, want %s", f, tc.json, e.Buf, want)
			}
		}
	}
}

// TestNumberText checks numbers written back as JavaScript writes them.
func TestNumberText(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1, "-1"},
		{0.1, "0.1"},
		{0.30000000000000004, "0.30000000000000004"},
		{123.456, "123.456"},
		{1e21, "1e+21"},
		{math.Nextafter(1e21, 0), "999999999999999900000"},
		{1.5e21, "1.5e+21"},
		{1e-6, "0.000001"},
		{1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"},
		{1.23e-20, "1.23e-20"},
		{1 << 53, "9007199254740992"},
		{1 << 60, "1152921504606847000"},
		{1 << 64, "18446744073709552000"},
		{-(1 << 63), "-9223372036854776000"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{1e100, "1e+100"},
		{float64(float32(0.1)), "0.10000000149011612"},
	} {
		if got := string(appendJSONNumber(nil, tc.f)); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.f, got, tc.want)
		}
	}
	for f, want := range map[float64]string{math.NaN(): "null", math.Inf(1): "null", math.Inf(-1): "null"} {
		if got := string(appendJSONNumber(nil, f)); got != want {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
	for f, want := range map[float64]string{math.NaN(): "NaN", math.Inf(1): "Infinity", math.Inf(-1): "-Infinity"} {
		if got := string(appendNumberString(nil, f)); got != want {
			t.Errorf("String(%v): got %s, want %s", f, got, want)
		}
	}
}

// TestIntegersToJSON checks every integer format, and that 64-bit values
// beyond 2^53 are rounded as Node rounds them.
func TestIntegersToJSON(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"7f", "127"},
		{"e0", "-32"},
		{"cc ff", "255"},
		{"cd ffff", "65535"},
		{"ce ffffffff", "4294967295"},
		{"cf 001fffffffffffff", "9007199254740991"},
		{"cf 0020000000000001", "9007199254740992"}, // 2^53+1 rounds to 2^53
		{"cf ffffffffffffffff", "18446744073709552000"},
		{"d0 80", "-128"},
		{"d1 8000", "-32768"},
		{"d2 80000000", "-2147483648"},
		{"d3 8000000000000000", "-9223372036854776000"},
		{"d3 ffe0000000000001", "-9007199254740991"},
		{"d3 ffdfffffffffffff", "-9007199254740992"}, // -(2^53+1) rounds to -2^53
		{"ca 3dcccccd", "0.10000000149011612"},
		{"ca 7f800000", "null"},
		{"cb 7ff8000000000000", "null"},
		{"cb 8000000000000000", "0"},
		{"cb 4008000000000000", "3"},
	} {
		j, _, rest, err := ToJSON(nil, mustHex(t, tc.msg))
		if err != nil || string(j) != tc.want || len(rest) != 0 {
			t.Errorf("%s: got %s, %v (%d left), want %s", tc.msg, j, err, len(rest), tc.want)
		}
	}
}

// TestStrings checks escapes, surrogates and ill-formed UTF-8 both ways.
func TestStrings(t *testing.T) {
	for _, tc := range []struct{ json, str, back string }{
		{`"abc"`, "abc", `"abc"`},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", `"\"\\/\b\f\n\r\t"`},
		{`"\u0000\u001F\u007f"`, "\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{`"\u00e9\u4E2D"`, "é中", `"é中"`},
		{`"\ud83d\ude00\uD83D\uDE00😀"`, "😀😀😀", `"😀😀😀"`},
		{`"\ud800"`, "\uFFFD", "\"\uFFFD\""},               // lone high surrogate
		{`"\udc00x"`, "\uFFFDx", "\"\uFFFDx\""},            // lone low surrogate
		{`"\ud800\ud800\udc00"`, "\uFFFD𐀀", "\"\uFFFD𐀀\""}, // lone, then a pair
		{`"\ud800\u0041"`, "\uFFFDA", "\"\uFFFDA\""},
		{"\"\u2028\u2029\"", "\u2028\u2029", "\"\u2028\u2029\""}, // not escaped by JSON.stringify
		// Ill-formed UTF-8: one U+FFFD per maximal subpart (WHATWG).
		{"\"a\xffb\"", "a\uFFFDb", "\"a\uFFFDb\""},
		{"\"\xe2\x82\"", "\uFFFD", "\"\uFFFD\""},
		{"\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD", "\"\uFFFD\uFFFD\uFFFD\""},
		{"\"\xf0\x80\"", "\uFFFD\uFFFD", "\"\uFFFD\uFFFD\""},
		{"\"\xf0\x9f\x98\"", "\uFFFD", "\"\uFFFD\""},
		{"\"\xc0\x80\"", "\uFFFD\uFFFD", "\"\uFFFD\uFFFD\""},
		{"\"\xf4\x90\x80\x80\"", "\uFFFD\uFFFD\uFFFD\uFFFD", "\"\uFFFD\uFFFD\uFFFD\uFFFD\""},
		{"\"\xe0\x9f\x80\\n\"", "\uFFFD\uFFFD\uFFFD\n", "\"\uFFFD\uFFFD\uFFFD\\n\""},
	} {
		m, err := AppendJSONValue(nil, []byte(tc.json))
		if err != nil {
			t.Errorf("%q: %v", tc.json, err)
			continue
		}
		var d Decoder
		d.Reset(m)
		s, err := d.ReadStrBytes()
		if err != nil || string(s) != tc.str || d.Len() != 0 {
			t.Errorf("%q: str %q, %v, want %q", tc.json, s, err, tc.str)
		}
		if h, _ := parseHead(m); h.hlen != 1 && len(tc.str) < 32 {
			t.Errorf("%q: str header of %d bytes for %d bytes", tc.json, h.hlen, len(tc.str))
		}
		back, _, _, err := ToJSON(nil, m)
		if err != nil || string(back) != tc.back {
			t.Errorf("%q: back %q, %v, want %q", tc.json, back, err, tc.back)
		}
	}
	// Ill-formed UTF-8 in a str, read back.
	for _, tc := range []struct{ str, json string }{
		{"\xff", "\"\uFFFD\""},
		{"a\xe2\x82", "\"a\uFFFD\""},
		{"\xe2\x82\xac\xe2", "\"€\uFFFD\""},
		{"\x01\"", `"\u0001\""`},
	} {
		var e Encoder
		e.Str(tc.str)
		j, _, _, err := ToJSON(nil, e.Buf)
		if err != nil || string(j) != tc.json {
			t.Errorf("str %q: got %q, %v, want %q", tc.str, j, err, tc.json)
		}
	}
}

// TestStrHeaders checks that strings are written with the smallest header,
// also when escapes make them shorter than their JSON text.
func TestStrHeaders(t *testing.T) {
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		for _, json := range []string{`"` + s + `"`, `"` + strings.Repeat(`\u0078`, n) + `"`} {
			m, err := AppendJSONValue(nil, []byte(json))
			if err != nil {
				t.Fatal(err)
			}
			want := appendStrHeader(nil, n)
			if !bytes.Equal(m[:len(want)], want) || len(m) != len(want)+n {
				t.Errorf("%d bytes: header %x, %d bytes in all", n, m[:min(len(m), 5)], len(m))
			}
		}
	}
}

// TestContainerHeaders checks the array and map headers after compaction,
// nested at several depths.
func TestContainerHeaders(t *testing.T) {
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		elems := strings.TrimSuffix(strings.Repeat("1,", n), ",")
		m, err := AppendJSONValue(nil, []byte(`[[`+elems+`],{"a":[`+elems+`]}]`))
		if err != nil {
			t.Fatal(err)
		}
		inner := append(appendArrayHeader(nil, n), bytes.Repeat([]byte{1}, n)...)
		want := append([]byte{0x92}, inner...)
		want = append(want, 0x81, 0xa1, 'a')
		want = append(want, inner...)
		if !bytes.Equal(m, want) {
			t.Errorf("%d elements: got %x..., want %x...", n, m[:min(len(m), 12)], want[:min(len(want), 12)])
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = `"` + string(rune('a'+i%26)) + `":0`
		}
		m, err = AppendJSONValue(nil, []byte(`{`+strings.Join(keys, ",")+`}`))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := parseHead(m); h.typ != MapType || h.n != n || len(m) != len(appendMapHeader(nil, n))+3*n {
			t.Errorf("map of %d: head %+v, %d bytes", n, h, len(m))
		}
	}
}

// TestPlaceholders checks how placeholders become bins, as
// socket.io-parser's reconstructPacket decides.
func TestPlaceholders(t *testing.T) {
	a, b := []byte("A"), []byte("BB")
	atts := [][]byte{a, b}
	for _, tc := range []struct {
		json string
		atts [][]byte
		want string // hex, or an error
	}{
		{`[{"_placeholder":true,"num":1}]`, atts, "91 c4 02 4242"},
		{`[{"num":0,"_placeholder":true,"x":[1,{"y":2}]}]`, atts, "91 c4 01 41"},
		{`[{"_placeholder":true,"num":1.0},{"_placeholder":true,"num":1e0},{"_placeholder":true,"num":-0}]`, atts, "93 c4024242 c4024242 c40141"},
		{`[{"\u005fplaceholder":true,"n\u0075m":1}]`, atts, "91 c4 02 4242"},
		{`[{"_placeholder":true,"_placeholder":false,"num":0}]`, atts, "91 83 ac5f706c616365686f6c646572 c3 ac5f706c616365686f6c646572 c2 a36e756d 00"},
		{`[{"_placeholder":false,"_placeholder":true,"num":7,"num":0}]`, atts, "91 c4 01 41"},
		{`[{"_placeholder":1,"num":0}]`, atts, "91 82 ac5f706c616365686f6c646572 01 a36e756d 00"},
		{`[{"_placeholder":true,"num":0}]`, nil, "91 82 ac5f706c616365686f6c646572 c3 a36e756d 00"},
		{`{"a":{"b":[{"_placeholder":true,"num":0}]}}`, atts, "81 a161 81 a162 91 c40141"},
		{`[{"_placeholder":true,"num":2}]`, atts, "error"},
		{`[{"_placeholder":true,"num":-1}]`, atts, "error"},
		{`[{"_placeholder":true,"num":0.5}]`, atts, "error"},
		{`[{"_placeholder":true,"num":"0"}]`, atts, "error"},
		{`[{"_placeholder":true,"num":null}]`, atts, "error"},
		{`[{"_placeholder":true}]`, atts, "error"},
		{`[{"_placeholder":true,"num":99999999999}]`, atts, "error"},
		{`[{"_placeholder":true,"num":2}]x`, atts, "json"}, // JSON.parse fails first
	} {
		m, err := AppendJSON([]byte("keep"), []byte(tc.json), tc.atts)
		if tc.want == "json" {
			if !errors.Is(err, ErrJSON) || string(m) != "keep" {
				t.Errorf("%s: got %x, %v, want ErrJSON", tc.json, m, err)
			}
			continue
		}
		if tc.want == "error" {
			if !errors.Is(err, ErrAttachments) || string(m) != "keep" {
				t.Errorf("%s: got %x, %v, want ErrAttachments and dst unchanged", tc.json, m, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(m[4:], mustHex(t, tc.want)) {
			t.Errorf("%s: got %x, %v, want %s", tc.json, m[4:], err, tc.want)
		}
	}
	// Back: bins become placeholders numbered in document order, from the
	// attachments already collected.
	m := mustHex(t, "93 c40141 81 a178 c5000142 c70100ff")
	d := Decoder{}
	d.Reset(m)
	prev := [][]byte{[]byte("earlier")}
	j, got, err := d.ReadJSON([]byte("x"), prev)
	want := `x[{"_placeholder":true,"num":1},{"x":{"_placeholder":true,"num":2}},{"_placeholder":true,"num":3}]`
	if err != nil || string(j) != want || len(got) != 4 || string(got[1]) != "A" || string(got[2]) != "B" || !bytes.Equal(got[3], []byte{0xff}) {
		t.Errorf("ReadJSON: %s %q %v", j, got, err)
	}
}

// TestInvalidJSON checks that AppendJSON accepts what JSON.parse accepts.
func TestInvalidJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `[1,]`, `[01]`, `{'a':1}`, `[NaN]`, `[Infinity]`, "[\"a\tb\"]", `["\x"]`, `["\u12"]`,
		`["\u12g4"]`, `[1`, `{"a"}`, `{"a":1,}`, `[.5]`, `[1.]`, `[1e]`, `[1e+]`, `[-]`, `[+1]`, `1 2`,
		"\ufeff[1]", `[tru]`, `[nulll]`, `{"a" 1}`, `[1 2]`, `["a"`, `"\`, `"`, `{1:2}`, `[1]]`, `{"a":1}}`,
		`-01`, `--1`, `0x10`, `[,1]`, `{,}`, `[1,,2]`, `"\u00"`, `[true false]`, `{"a":}`,
	} {
		m, err := AppendJSONValue([]byte("keep"), []byte(s))
		if !errors.Is(err, ErrJSON) || string(m) != "keep" {
			t.Errorf("%q: got %x, %v, want ErrJSON", s, m, err)
		}
	}
	for _, s := range []string{` [ 1 , { "a" : [ ] } ] ` + "\n\r\t", `-0`, `0.0e-0`, `1E+2`, `""`, `{}`, `[[],{}]`, `"\/"`} {
		if _, err := AppendJSONValue(nil, []byte(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestExtensions checks timestamps and the other extension types, as each
// library decodes them.
func TestExtensions(t *testing.T) {
	u32 := func(v uint32) string { return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, v)) }
	u64 := func(v uint64) string { return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, v)) }
	for _, tc := range []struct {
		msg      string
		notepack string
		msgpack  string // when it differs
	}{
		{"d6ff" + u32(0), `"1970-01-01T00:00:00.000Z"`, ""},
		{"d6ff" + u32(1710333296), `"2024-03-13T12:34:56.000Z"`, ""},
		{"d7ff" + u64(123456789<<34|1710333296), `"2024-03-13T12:34:56.123Z"`, ""},
		// sec*1e3 + ns/1e6 rounds up to the next millisecond in
		// floating point, in JavaScript as here.
		{"d7ff" + u64(999999999<<34|(1<<34-1)), `"2514-05-30T01:53:04.000Z"`, ""},
		{"c70cff" + u32(500000000) + u64(uint64(1<<64-62198755200)), `"-000001-01-01T00:00:00.500Z"`, ""},
		{"c70cff" + u32(0) + u64(8.64e12), `"+275760-09-13T00:00:00.000Z"`, ""},
		{"c70cff" + u32(0) + u64(8.64e12+1), `null`, ""}, // beyond a Date's range
		{"c70cff" + u32(0) + u64(1<<63), `null`, ""},
		{"c70cff" + u32(0) + u64(253402300800), `"+010000-01-01T00:00:00.000Z"`, ""},
		{"d700" + u64(1710333296789), `"2024-03-13T12:34:56.789Z"`, `{"type":0,"data":{"_placeholder":true,"num":0}}`},
		{"c70300010203", `{"_placeholder":true,"num":0}`, `{"type":0,"data":{"_placeholder":true,"num":0}}`},
		{"c800020004 05", `{"_placeholder":true,"num":0}`, `{"type":0,"data":{"_placeholder":true,"num":0}}`},
		{"93 d40000 01 d40009", `[null,1,null]`, `[{"type":0,"data":{"_placeholder":true,"num":0}},1,{"type":0,"data":{"_placeholder":true,"num":1}}]`},
		{"82 a161 d40000 a162 01", `{"b":1}`, `{"a":{"type":0,"data":{"_placeholder":true,"num":0}},"b":1}`},
		{"d40000", `null`, `{"type":0,"data":{"_placeholder":true,"num":0}}`},
		{"d40501", `[5,{"_placeholder":true,"num":0}]`, `{"type":5,"data":{"_placeholder":true,"num":0}}`},
		{"d58001 02", `[-128,{"_placeholder":true,"num":0}]`, `{"type":-128,"data":{"_placeholder":true,"num":0}}`},
		{"d8 7f" + strings.Repeat("02", 16), `[127,{"_placeholder":true,"num":0}]`, `{"type":127,"data":{"_placeholder":true,"num":0}}`},
		{"c702fe0102", `[-2,{"_placeholder":true,"num":0}]`, `{"type":-2,"data":{"_placeholder":true,"num":0}}`},
		// Timestamps in the other ext formats: @msgpack/msgpack reads any,
		// notepack.io only these three.
		{"d4ff01", `[-1,{"_placeholder":true,"num":0}]`, "error"},
		{"d5ff0102", `[-1,{"_placeholder":true,"num":0}]`, "error"},
		{"c704ff00000001", "error", `"1970-01-01T00:00:01.000Z"`},
	} {
		for _, f := range []Flavor{Notepack, MsgpackJS} {
			want := tc.notepack
			if f == MsgpackJS && tc.msgpack != "" {
				want = tc.msgpack
			}
			d := Decoder{Flavor: f}
			d.Reset(mustHex(t, tc.msg))
			j, _, err := d.ReadJSON(nil, nil)
			if want == "error" {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s %s: got %s, %v, want ErrInvalid", f, tc.msg, j, err)
				}
				continue
			}
			if err != nil || string(j) != want || d.Len() != 0 {
				t.Errorf("%s %s: got %s, %v, want %s", f, tc.msg, j, err, want)
			}
		}
	}
	for f, want := range map[Flavor]string{Notepack: `[-1,{"_placeholder":true,"num":0}]`, MsgpackJS: `"1970-01-01T00:00:01.000Z"`} {
		d := Decoder{Flavor: f}
		d.Reset(mustHex(t, "c80004ff00000001"))
		if j, _, err := d.ReadJSON(nil, nil); err != nil || string(j) != want {
			t.Errorf("%s ext 16 timestamp: %s, %v, want %s", f, j, err, want)
		}
	}
}

// TestMapKeys checks keys that are not str, and "__proto__".
func TestMapKeys(t *testing.T) {
	for _, tc := range []struct {
		msg      string
		notepack string
		msgpack  string // "" = same as notepack
	}{
		{"81 c0 01", `{"null":1}`, "error"},
		{"81 c3 01", `{"true":1}`, "error"},
		{"81 05 01", `{"5":1}`, ""},
		{"81 d0 80 01", `{"-128":1}`, ""},
		{"81 cb3ff8000000000000 01", `{"1.5":1}`, ""},
		{"81 cb8000000000000000 01", `{"0":1}`, ""},
		{"81 cb7ff8000000000000 01", `{"NaN":1}`, ""},
		{"81 cbfff0000000000000 01", `{"-Infinity":1}`, ""},
		{"81 cb444b1ae4d6e2ef50 01", `{"1e+21":1}`, ""},
		{"81 c403 61 22 62 01", `{"a\"b":1}`, "error"},
		{"81 c402 fffe 01", "{\"\uFFFD\uFFFD\":1}", "error"},
		{"81 93 01 92 02 03 c0 01", `{"1,2,3,":1}`, "error"},
		{"81 92 d40000 a178 01", `{",x":1}`, "error"},
		{"81 81 a161 01 01", `{"[object Object]":1}`, "error"},
		{"81 d6ff00000000 01", `{"Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)":1}`, "error"},
		{"81 c70cff00000000 fffffff184aa5080 01", `{"Fri Jan 01 -0001 00:00:00 GMT+0000 (Coordinated Universal Time)":1}`, "error"},
		{"81 c70cff00000000 000007dba8218001 01", `{"Invalid Date":1}`, "error"},
		{"81 d40000 01", `{"undefined":1}`, "error"},
		{"81 d50578 79 01", `{"5,xy":1}`, "error"},
		{"81 c7020001 02 01", `{"[object ArrayBuffer]":1}`, "error"},
		{"81 90 01", `{"":1}`, "error"},
		{"82 a9 5f5f70726f746f5f5f 81 a178 01 a179 02", `{"y":2}`, "error"},
		{"81 a9 5f5f70726f746f5f5f 07", `{}`, "error"},
		{"81 c409 5f5f70726f746f5f5f c0", `{}`, "error"},
		{"83 a162 01 a131 02 a162 03", `{"b":1,"1":2,"b":3}`, ""}, // order and duplicates kept
	} {
		for _, f := range []Flavor{Notepack, MsgpackJS} {
			want := tc.notepack
			if f == MsgpackJS && tc.msgpack != "" {
				want = tc.msgpack
			}
			d := Decoder{Flavor: f}
			d.Reset(mustHex(t, tc.msg))
			j, _, err := d.ReadJSON(nil, nil)
			if want == "error" {
				if !errors.Is(err, ErrInvalid) || len(j) != 0 {
					t.Errorf("%s %s: got %s, %v, want ErrInvalid", f, tc.msg, j, err)
				}
				continue
			}
			if err != nil || string(j) != want {
				t.Errorf("%s %s: got %s, %v, want %s", f, tc.msg, j, err, want)
			}
		}
	}
}

// TestRoundTripJSON checks that canonical JSON (as JSON.stringify writes
// it) comes back byte for byte through MessagePack, with both flavors.
func TestRoundTripJSON(t *testing.T) {
	texts := []string{
		`["plain",1,"two",{"three":3.5},null,true]`,
		`["chat",{"user":"alice","text":"hello \"world\"\n","ts":1700000000000,"tags":["a","b"],"ratio":0.25}]`,
		`[-1,-32,-33,-128,-129,-32768,-32769,-2147483648,-2147483649,-9007199254740991,9007199254740991,4294967296]`,
		`[0.1,1e+21,1.5e-7,-2.5,1.7976931348623157e+308,5e-324,123.456,0.000001]`,
		`{"":{},"a":[],"b":[[[]]],"c":{"d":{"e":null}}}`,
		`{"b":1,"1":2,"b":3,"0":4}`,
		"[\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\u2028é中😀\u007f\"]",
		`[9007199254740992,18446744073709552000,1e+300,-9223372036854776000]`,
	}
	for _, s := range texts {
		for _, f := range []Flavor{Notepack, MsgpackJS} {
			e := Encoder{Flavor: f}
			if err := e.JSONValue([]byte(s)); err != nil {
				t.Fatalf("%s %s: %v", f, s, err)
			}
			d := Decoder{Flavor: f}
			d.Reset(e.Buf)
			back, atts, err := d.ReadJSON(nil, nil)
			if err != nil || string(back) != s || len(atts) != 0 || d.Len() != 0 {
				t.Errorf("%s:\n got %s, %v\nwant %s", f, back, err, s)
			}
		}
	}
	// Random canonical texts: the text that ToJSON writes comes back as it
	// is, and so do the MessagePack bytes.
	g := newGen(3)
	for range 2000 {
		g.reset()
		g.natts = 0
		src := g.jsonValue(nil, 4)
		m1, err := AppendJSONValue(nil, src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		j1, _, _, err := ToJSON(nil, m1)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		m2, err := AppendJSONValue(nil, j1)
		if err != nil {
			t.Fatalf("%s: %v", j1, err)
		}
		j2, _, _, err := ToJSON(nil, m2)
		if err != nil {
			t.Fatalf("%s: %v", m2, err)
		}
		// The first trip normalizes (1.0 is 1, 1e400 is Infinity and
		// then null); from there on, nothing changes.
		m3, err := AppendJSONValue(nil, j2)
		if err != nil || !bytes.Equal(j1, j2) || !bytes.Equal(m2, m3) {
			t.Fatalf("not stable:\n%.300s\n%.300s\n%.300s\n%.300x\n%.300x", src, j1, j2, m2, m3)
		}
	}
}

// TestRoundTripMsgpack checks that MessagePack as Node writes it (smallest
// formats) comes back byte for byte through JSON.
func TestRoundTripMsgpack(t *testing.T) {
	msgs := [][]byte{classicBroadcast, binaryData}
	var e Encoder
	e.ArrayHeader(20)
	for _, v := range []int64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(1 << 31), -(1 << 31) - 1, -(1<<53 - 1)} {
		e.Int(v)
	}
	msgs = append(msgs, e.Buf)
	e = Encoder{}
	e.MapHeader(3)
	e.Str("bin")
	e.Bin(bytes.Repeat([]byte{1}, 300))
	e.Str("big")
	e.Bin(bytes.Repeat([]byte{2}, 70000))
	e.Str(strings.Repeat("k", 40))
	e.ArrayHeader(17)
	for i := range 17 {
		e.Float64(float64(i) + 0.5)
	}
	msgs = append(msgs, e.Buf)
	for _, m := range msgs {
		j, atts, _, err := ToJSON(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := AppendJSON(nil, j, atts)
		if err != nil || !bytes.Equal(back, m) {
			t.Errorf("%.60x...: got %.60x..., %v", m, back, err)
		}
	}
}
