package msgpack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/internal/peertest"
)

// The cross-check runs testdata/node/crosscheck.js, which encodes and
// decodes the same corpus with notepack.io 3.0.1, @msgpack/msgpack 2.8.0 and
// socket.io-parser 4.2.7 (pinned in testdata/node/package-lock.json), and
// compares Node's bytes with this package's, case by case.

type oursEncode struct {
	Hex   string `json:"hex,omitempty"`
	Error string `json:"error,omitempty"`
}

type encodeCase struct {
	ID    int                   `json:"id"`
	JSON  string                `json:"json"` // hex
	Atts  []string              `json:"atts"` // hex
	Ours  map[string]oursEncode `json:"ours"`
	Note  string                `json:"-"`
	Order bool                  `json:"-"` // keys JavaScript reorders: compare values, not bytes
}

type oursDecode struct {
	JSON  string   `json:"json"`
	Atts  []string `json:"atts"`
	Error string   `json:"error,omitempty"`
}

type decodeCase struct {
	ID    int                   `json:"id"`
	Msg   string                `json:"msg"` // hex
	Ours  map[string]oursDecode `json:"ours"`
	Note  string                `json:"-"`
	Order bool                  `json:"-"` // keys JavaScript reorders or merges: compare values, not bytes
	// BadUTF8: ill-formed UTF-8 in a str, which @msgpack/msgpack's own
	// short-string decoder reads differently from the WHATWG decoder.
	BadUTF8 bool `json:"-"`
	// Mutated: random bytes changed in a valid value; only whether it
	// decodes is compared.
	Mutated bool `json:"-"`
}

type libResult struct {
	Hex         string   `json:"hex"`
	JSON        string   `json:"json"`
	Atts        []string `json:"atts"`
	Error       string   `json:"error"`
	Same        *bool    `json:"same"`
	SameAsData  bool     `json:"sameAsData"`
	SameAsNode  bool     `json:"sameAsNode"`
	NodeExact   bool     `json:"nodeExact"`
	DecodeError string   `json:"decodeError"`
	OursError   string   `json:"oursError"`
}

type nodeResult struct {
	ID       int        `json:"id"`
	Kind     string     `json:"kind"`
	Error    string     `json:"error"`
	Notepack *libResult `json:"notepack"`
	Msgpack  *libResult `json:"msgpack"`
}

var flavorNames = map[Flavor]string{Notepack: "notepack", MsgpackJS: "msgpack"}

func hexList(atts [][]byte) []string {
	l := make([]string, len(atts))
	for i, a := range atts {
		l[i] = hex.EncodeToString(a)
	}
	return l
}

func (c *encodeCase) compute(data []byte, atts [][]byte) {
	c.JSON = hex.EncodeToString(data)
	c.Atts = hexList(atts)
	c.Ours = map[string]oursEncode{}
	for f, name := range flavorNames {
		e := Encoder{Flavor: f}
		if err := e.JSON(data, atts); err != nil {
			c.Ours[name] = oursEncode{Error: err.Error()}
		} else {
			c.Ours[name] = oursEncode{Hex: hex.EncodeToString(e.Buf)}
		}
	}
}

func (c *decodeCase) compute(msg []byte) {
	c.Msg = hex.EncodeToString(msg)
	c.Ours = map[string]oursDecode{}
	for f, name := range flavorNames {
		d := Decoder{Flavor: f}
		d.Reset(msg)
		j, atts, err := d.ReadJSON(nil, nil)
		switch {
		case err != nil:
			c.Ours[name] = oursDecode{Error: err.Error()}
		case d.Len() > 0:
			c.Ours[name] = oursDecode{Error: fmt.Sprintf("%d trailing bytes", d.Len())}
		default:
			c.Ours[name] = oursDecode{JSON: string(j), Atts: hexList(atts)}
		}
	}
}

// handEncodeCases are JSON texts chosen for the rules they exercise.
func handEncodeCases() []encodeCase {
	type tc struct {
		json  string
		atts  [][]byte
		order bool
	}
	cases := []tc{
		{json: `["plain",1,"two",{"three":3.5},null,true]`},
		{json: binaryJSON, atts: binaryAtts},
		{json: `["big",{"_placeholder":true,"num":0}]`, atts: [][]byte{bytes.Repeat([]byte{7}, 70000)}},
		{json: `["mid",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, atts: [][]byte{bytes.Repeat([]byte{1}, 300)}},
		{json: `[{"num":1,"_placeholder":true,"extra":[1,2]}]`, atts: binaryAtts},
		{json: `[{"_placeholder":false,"num":0}]`, atts: binaryAtts},
		{json: `[{"_placeholder":true,"num":0}]`},                                                     // no attachments: an ordinary object
		{json: `[{"_placeholder":true,"_placeholder":false,"num":0}]`, atts: binaryAtts, order: true}, // last wins
		{json: `[{"_placeholder":false,"_placeholder":true,"num":5,"num":1}]`, atts: binaryAtts},
		{json: `[{"_placeholder":true,"num":1.0}]`, atts: binaryAtts},
		{json: `[{"_placeholder":true,"num":1e0}]`, atts: binaryAtts},
		{json: `[{"_placeholder":true,"num":-0}]`, atts: binaryAtts},
		{json: `[{"\u005fplaceholder":true,"n\u0075m":1}]`, atts: binaryAtts},
		{json: `[{"_placeholder":true,"num":2}]`, atts: binaryAtts},   // illegal attachments
		{json: `[{"_placeholder":true,"num":-1}]`, atts: binaryAtts},  // illegal attachments
		{json: `[{"_placeholder":true,"num":"0"}]`, atts: binaryAtts}, // illegal attachments
		{json: `[{"_placeholder":true}]`, atts: binaryAtts},           // illegal attachments
		{json: `{"b":1,"a":2,"1":3,"0":4}`, order: true},
		{json: `{"a":1,"a":2}`, order: true},
		{json: `{"__proto__":{"x":1},"a":2}`}, // JSON.parse makes it an own property, which both encode
		{json: `[{"__proto__":1}]`},
		{json: ` [ 1 , { "a" : [ ] } , "x" ] ` + "\n"},
		{json: `"\u0000\u001f\b\f\n\r\t\"\\\/\u2028\u00e9\uD83D\uDE00\ud83d\ude00"`},
		{json: `"` + strings.Repeat("é", 40) + `\ud800` + strings.Repeat("x", 200) + `"`}, // lone surrogate, long string
		{json: `"` + strings.Repeat("y", 240) + `\udc00\ud800\ud800\udc00"`},
		{json: "\"bad \xff \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98 \xc0\x80\""},
		{json: "\"" + strings.Repeat("z", 300) + "\xf4\x90\x80\x80\xe0\x9f\x80\"", atts: nil},
		{json: `"` + strings.Repeat("long", 20000) + `"`},
		{json: `[` + strings.Repeat(`1,`, 70000) + `1]`},
		{json: `[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]`},
		{json: `{}`}, {json: `[]`}, {json: `""`}, {json: `0`}, {json: `null`}, {json: `true`},
		// Invalid JSON: every case fails in both.
		{json: `[1,]`}, {json: `[01]`}, {json: `{'a':1}`}, {json: `[NaN]`}, {json: `[Infinity]`}, {json: "[\"a\tb\"]"},
		{json: `["\x"]`}, {json: `["\u12"]`}, {json: `[1`}, {json: `{"a"}`}, {json: `{"a":1,}`}, {json: `[.5]`},
		{json: `[1.]`}, {json: `[1e]`}, {json: `[-]`}, {json: `[+1]`}, {json: `1 2`}, {json: ``}, {json: ` `},
		{json: "\ufeff[1]"}, {json: `[tru]`}, {json: `[nulll]`}, {json: `{"a" 1}`}, {json: `[1 2]`}, {json: `["a"`},
	}
	for _, n := range interestingInts {
		cases = append(cases, tc{json: "[" + string(appendNumberString(nil, n)) + "]"})
	}
	for _, s := range []string{"-0", "-0.0", "1.0", "1E2", "1e+2", "1e-400", "1e400", "-1e400", "0.1", "0.30000000000000004",
		"123e-20", "1e-7", "1.5e-7", "0.000001", "5e-324", "1.7976931348623157e308", "9007199254740993",
		"18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
		"123456789012345678901234567890", "1.5", "-2.5", "4294967295.0", "2147483648", "-2147483649"} {
		cases = append(cases, tc{json: "[" + s + "]"})
	}
	var out []encodeCase
	for _, c := range cases {
		ec := encodeCase{Note: c.json, Order: c.order}
		ec.compute([]byte(c.json), c.atts)
		out = append(out, ec)
	}
	return out
}

func ts32(sec uint32) []byte { return binary.BigEndian.AppendUint32([]byte{0xd6, 0xff}, sec) }
func ts64(sec uint64, ns uint32) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xd7, 0xff}, uint64(ns)<<34|sec)
}
func ts96(sec int64, ns uint32) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0xc7, 12, 0xff}, ns)
	return binary.BigEndian.AppendUint64(b, uint64(sec))
}

// handDecodeCases are MessagePack values chosen for the rules they exercise.
func handDecodeCases() []decodeCase {
	type tc struct {
		msg   []byte
		order bool
	}
	cat := func(parts ...any) []byte {
		var b []byte
		for _, p := range parts {
			switch x := p.(type) {
			case string:
				b = append(b, x...)
			case []byte:
				b = append(b, x...)
			case byte:
				b = append(b, x)
			case int:
				b = append(b, byte(x))
			}
		}
		return b
	}
	f64 := func(f float64) []byte { return appendFloat64(nil, f) }
	f32 := func(f float32) []byte { return binary.BigEndian.AppendUint32([]byte{0xca}, math.Float32bits(f)) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, v) }
	i64 := func(v int64) []byte { return binary.BigEndian.AppendUint64([]byte{0xd3}, uint64(v)) }
	cases := []tc{
		{msg: classicBroadcast},
		{msg: binaryData},
		{msg: cat(0x92, 0xc5, 0x01, 0x00, bytes.Repeat([]byte{3}, 256), 0xc6, 0, 0, 0, 1, 9)},
		{msg: u64(1<<53 + 1)}, {msg: u64(math.MaxUint64)}, {msg: i64(math.MinInt64)}, {msg: i64(-(1 << 53) - 1)},
		{msg: u64(1 << 60)}, {msg: u64(1<<53 - 1)}, {msg: cat(0xd0, 0x80)}, {msg: cat(0xcc, 0xff)}, {msg: cat(0xe0)},
		{msg: f64(math.NaN())}, {msg: f64(math.Inf(1))}, {msg: f64(math.Inf(-1))}, {msg: f64(math.Copysign(0, -1))},
		{msg: f64(1e21)}, {msg: f64(1e-7)}, {msg: f64(123e-20)}, {msg: f64(0.1)}, {msg: f64(1 << 60)}, {msg: f64(5e-324)},
		{msg: f64(math.MaxFloat64)}, {msg: f32(0.1)}, {msg: f32(float32(math.Inf(1)))}, {msg: f32(16777217)},
		{msg: cat(0xa3, "a\"\\"), order: false}, {msg: cat(0xa5, 0, 0x1f, 0x7f, '\b', '\f')},
		{msg: cat(0xa8, "\u2028\u2029\xc3")},
		{msg: cat(0xd9, 7, "\xff\xe2\x82\xed\xa0\x80")},
		{msg: cat(0xda, 0x01, 0x00, strings.Repeat("\xf0\x9f\x98", 85), 0x41)}, // 256 bytes: TextDecoder in both
		// Timestamps and notepack.io's old extensions.
		{msg: ts32(0)}, {msg: ts32(math.MaxUint32)}, {msg: ts64(1710000000, 123456789)}, {msg: ts64(1<<34-1, 999999999)},
		{msg: ts64(0, 1<<30-1)}, {msg: ts96(-1, 0)}, {msg: ts96(-62198755200, 5e8)}, {msg: ts96(8.64e12, 0)},
		{msg: ts96(8.64e12+1, 0)}, {msg: ts96(-8.64e12, 0)}, {msg: ts96(math.MinInt64, 0)}, {msg: ts96(253402300800, 1)},
		{msg: cat(0xd7, 0x00, i64(1710000000123)[1:])}, {msg: cat(0xd7, 0x00, i64(-1)[1:])},
		{msg: cat(0xc7, 3, 0x00, 1, 2, 3)}, {msg: cat(0xc8, 0, 2, 0x00, 4, 5)}, {msg: cat(0xc9, 0, 0, 0, 1, 0x00, 6)},
		{msg: cat(0x93, 0xd4, 0, 0, 1, 0xd4, 0, 9)}, {msg: cat(0x82, 0xa1, "a", 0xd4, 0, 0, 0xa1, "b", 1)},
		{msg: cat(0xd4, 0, 0)}, {msg: cat(0xd4, 5, 1)}, {msg: cat(0xd5, 0x80, 1, 2)}, {msg: cat(0xd6, 1, 1, 2, 3, 4)},
		{msg: cat(0xd8, 0x7f, bytes.Repeat([]byte{2}, 16))}, {msg: cat(0xc7, 2, 0xfe, 1, 2)},
		{msg: cat(0xc8, 0, 4, 0xff, 1, 2, 3, 4)}, {msg: cat(0xd4, 0xff, 1)}, {msg: cat(0xd5, 0xff, 1, 2)},
		{msg: cat(0xc7, 4, 0xff, 0, 0, 0, 1)}, {msg: cat(0xc7, 8, 0xff, ts64(5, 6)[2:])}, // ext 8 timestamps of 4 and 8 bytes
		// Map keys that are not str (one per map: no order to differ).
		{msg: cat(0x81, 0xc0, 1)}, {msg: cat(0x81, 0xc3, 1)}, {msg: cat(0x81, 0x05, 1)}, {msg: cat(0x81, f64(1.5), 1)},
		{msg: cat(0x81, f64(math.Copysign(0, -1)), 1)}, {msg: cat(0x81, f64(math.NaN()), 1)}, {msg: cat(0x81, f64(math.Inf(-1)), 1)},
		{msg: cat(0x81, f64(1e21), 1)}, {msg: cat(0x81, 0xd0, 0x80, 1)}, {msg: cat(0x81, 0xc4, 3, "a\"b", 1)},
		{msg: cat(0x81, 0xc4, 2, "\xff\xfe", 1)}, {msg: cat(0x81, 0x93, 1, 0x92, 2, 3, 0xc0, 1)},
		{msg: cat(0x81, 0x92, 0xd4, 0, 0, 0xa1, "x", 1)}, {msg: cat(0x81, 0x81, 0xa1, "a", 1, 1)}, {msg: cat(0x81, 0x80, 1)},
		{msg: cat(0x81, ts32(0), 1)}, {msg: cat(0x81, ts96(-62198755200, 0), 1)}, {msg: cat(0x81, ts96(8.64e12+1, 0), 1)},
		{msg: cat(0x81, 0xd4, 0, 0, 1)}, {msg: cat(0x81, 0xd5, 5, "xy", 1)}, {msg: cat(0x81, 0xc7, 2, 0, 1, 2, 1)},
		{msg: cat(0x81, 0x90, 1)}, {msg: cat(0x81, 0x91, 0x91, 0xc2, 1)},
		{msg: cat(0x82, 0xa9, "__proto__", 0x81, 0xa1, "x", 1, 0xa1, "y", 2)}, {msg: cat(0x81, 0xa9, "__proto__", 7)},
		{msg: cat(0x81, 0xc4, 9, "__proto__", 0xc0)},
		{msg: cat(0x83, 0xa1, "b", 1, 0xa1, "1", 2, 0xa1, "b", 3), order: true},
		// Errors, in one library or both.
		{msg: cat(0xc1)}, {msg: cat(0x92, 1)}, {msg: cat(1, 2)}, {msg: cat(0xdb, 0xff, 0xff, 0xff, 0xff, "abcde")},
		{msg: cat(0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5)}, {msg: cat(0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5)},
		{msg: cat(0xdf, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5)}, {msg: cat(0xc9, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5)},
		{msg: cat(0xcb, 1, 2)}, {msg: cat(0xa5, "abc")}, {msg: cat()}, {msg: cat(0xd4)}, {msg: cat(0x81, 0xa1, "a")},
	}
	var out []decodeCase
	for _, c := range cases {
		dc := decodeCase{Note: hex.EncodeToString(c.msg), Order: c.order, BadUTF8: hasBadUTF8(c.msg)}
		dc.compute(c.msg)
		out = append(out, dc)
	}
	return out
}

// hasBadUTF8 reports whether msg has a str (or a bin, which notepack.io
// turns into text as a map key) that is not UTF-8, or is not well-formed.
func hasBadUTF8(msg []byte) bool {
	var d Decoder
	d.Reset(msg)
	for d.Len() > 0 {
		h, err := d.head()
		if err != nil {
			return true
		}
		switch h.typ {
		case ArrayType, MapType:
			d.off += h.hlen
		case StrType, BinType:
			if !utf8.Valid(d.buf[d.off+h.hlen : d.off+h.size()]) {
				return true
			}
			d.off += h.size()
		default:
			d.off += h.size()
		}
	}
	return false
}

func TestNodeCrossCheck(t *testing.T) {
	const dir = "adapter/internal/msgpack/testdata/node"
	t.Chdir("testdata/node")
	node := peertest.Node(t, dir, "notepack.io", "@msgpack/msgpack", "socket.io-parser")

	encode := handEncodeCases()
	decode := handDecodeCases()
	g := newGen(11)
	for i := range 500 {
		g.reset()
		var atts [][]byte
		g.natts = 0
		if i%3 == 0 {
			g.natts = 1 + g.n(4)
			for range g.natts {
				atts = append(atts, g.mpBytes(300))
			}
		}
		data := g.jsonValue(nil, 4)
		c := encodeCase{Note: string(data), Order: g.reorder}
		c.compute(data, atts)
		encode = append(encode, c)
	}
	var valid [][]byte
	for i := range 600 {
		g.reset()
		g.flavor = Flavor(i % 2)
		msg := g.mpValue(nil, 4)
		valid = append(valid, msg)
		c := decodeCase{Note: hex.EncodeToString(msg), Order: g.reorder, BadUTF8: hasBadUTF8(msg)}
		c.compute(msg)
		decode = append(decode, c)
	}
	for range 400 {
		msg := bytes.Clone(valid[g.n(len(valid))])
		switch g.n(3) {
		case 0:
			msg = msg[:g.n(len(msg))]
		case 1:
			msg[g.n(len(msg))] = byte(g.r.Uint32())
		default:
			i := g.n(len(msg) + 1)
			msg = append(msg[:i], append([]byte{byte(g.r.Uint32())}, msg[i:]...)...)
		}
		c := decodeCase{Note: hex.EncodeToString(msg), Mutated: true, BadUTF8: hasBadUTF8(msg), Order: true}
		c.compute(msg)
		decode = append(decode, c)
	}
	for i := range encode {
		encode[i].ID = i
	}
	for i := range decode {
		decode[i].ID = len(encode) + i
	}

	type dateCase struct {
		ID int   `json:"id"`
		MS int64 `json:"ms"`
	}
	var dates []dateCase
	for i, ms := range []int64{0, 1, -1, 999, -999, 1000, -1000, 1710333296789, 1 << 32 * 1000, 1<<32*1000 - 1, 1 << 34 * 1000,
		1<<34*1000 - 1, 1<<34*1000 + 1, -62198755200000, 8.64e15, -8.64e15, g.r.Int64N(1 << 45), -g.r.Int64N(1 << 45)} {
		dates = append(dates, dateCase{ID: len(encode) + len(decode) + i, MS: ms})
	}

	file := filepath.Join(t.TempDir(), "cases.json")
	b, err := json.Marshal(map[string]any{"encode": encode, "decode": decode, "dates": dates})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Date#toString (a date as a map key) depends on the time zone; the
	// Go side writes it as in UTC.
	t.Setenv("TZ", "UTC")
	results, _, stderr, err := peertest.RunScript[nodeResult](t, node, 2*time.Minute, "crosscheck.js", file)
	if err != nil {
		t.Fatalf("crosscheck.js: %v\n%s", err, stderr)
	}
	if len(results) != len(encode)+len(decode)+len(dates) {
		t.Fatalf("crosscheck.js answered %d cases of %d\n%s", len(results), len(encode)+len(decode)+len(dates), stderr)
	}

	var stats struct{ exact, same, errors, skipped, lossy int }
	for _, r := range results {
		if r.Kind == "date" {
			ms := dates[r.ID-len(encode)-len(decode)].MS
			var e Encoder
			e.Time(time.UnixMilli(ms))
			for _, lib := range []*libResult{r.Notepack, r.Msgpack} {
				if ours := hex.EncodeToString(e.Buf); ours != lib.Hex {
					t.Errorf("date %d: ours %s, node %s", ms, ours, lib.Hex)
				} else {
					stats.exact++
				}
			}
			continue
		}
		if r.Kind == "encode" {
			c := encode[r.ID]
			for f, name := range flavorNames {
				ours := c.Ours[name]
				lib := r.Notepack
				if f == MsgpackJS {
					lib = r.Msgpack
				}
				nodeErr := r.Error
				if lib != nil && lib.Error != "" {
					nodeErr = lib.Error
				}
				if (ours.Error != "") != (nodeErr != "") {
					t.Errorf("encode %s %.200q: ours %q, node %q", name, c.Note, ours.Error, nodeErr)
					continue
				}
				if ours.Error != "" {
					stats.errors++
					continue
				}
				// When the library cannot read back what it wrote (the key
				// __proto__ with @msgpack/msgpack), nor what we wrote, only
				// the bytes are compared.
				if lib.DecodeError == "" || lib.OursError == "" {
					if !lib.SameAsData && !lib.SameAsNode {
						t.Errorf("encode %s %.200q: node decodes our %.200s to another value (%s)", name, c.Note, ours.Hex, lib.OursError)
						continue
					}
					stats.same++
				}
				if c.Order {
					continue
				}
				if ours.Hex != lib.Hex {
					if !lib.NodeExact && lib.SameAsData {
						// Node's own bytes decode to another value
						// (notepack.io writes integers from 2^64 up
						// modulo 2^64), ours to the right one.
						stats.lossy++
						continue
					}
					t.Errorf("encode %s %.200q:\n ours %.300s\n node %.300s", name, c.Note, ours.Hex, lib.Hex)
					continue
				}
				stats.exact++
			}
			continue
		}
		c := decode[r.ID-len(encode)]
		for f, name := range flavorNames {
			ours := c.Ours[name]
			lib := r.Notepack
			if f == MsgpackJS {
				lib = r.Msgpack
			}
			if (ours.Error != "") != (lib.Error != "") {
				t.Errorf("decode %s %.300s: ours %q, node %q", name, c.Note, ours.Error, lib.Error)
				continue
			}
			if ours.Error != "" {
				stats.errors++
				continue
			}
			if lib.Same == nil || !*lib.Same {
				if f == MsgpackJS && c.BadUTF8 {
					stats.skipped++
					continue
				}
				t.Errorf("decode %s %.300s: a client gets another value from ours %.300s %.300v than from node %.300s %.300v (%s)",
					name, c.Note, ours.JSON, ours.Atts, lib.JSON, lib.Atts, lib.OursError)
				continue
			}
			stats.same++
			if c.Order || f == MsgpackJS && c.BadUTF8 {
				continue
			}
			if ours.JSON != lib.JSON || strings.Join(ours.Atts, ",") != strings.Join(lib.Atts, ",") {
				t.Errorf("decode %s %.300s:\n ours %.300s %.300v\n node %.300s %.300v", name, c.Note, ours.JSON, ours.Atts, lib.JSON, lib.Atts)
				continue
			}
			stats.exact++
		}
	}
	t.Logf("%d encode and %d decode cases, 2 libraries each: %d byte-identical, %d the same value, %d refused by both, %d garbled by notepack.io, %d not comparable (ill-formed UTF-8 in @msgpack/msgpack)",
		len(encode), len(decode), stats.exact, stats.same, stats.errors, stats.lossy, stats.skipped)
	if stats.exact == 0 || stats.errors == 0 || stats.lossy == 0 {
		t.Errorf("a kind of result is missing: %+v", stats)
	}
}
