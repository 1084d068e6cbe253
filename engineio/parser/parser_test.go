package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

func TestDecodePacketV4(t *testing.T) {
	tests := []struct {
		in     string
		binary bool
		want   Packet
	}{
		{"4hello", false, Packet{Type: Message, Data: []byte("hello")}},
		{"2", false, Packet{Type: Ping, Data: []byte{}}},
		{"2probe", false, Packet{Type: Ping, Data: []byte("probe")}},
		{"6", false, Packet{Type: Noop, Data: []byte{}}},
		{"bAQIDBA==", false, Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{"bAQIDBA", false, Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{"\x01\x02", true, Packet{Type: Message, Data: []byte{1, 2}, Binary: true}},
		{"", true, Packet{Type: Message, Data: []byte{}, Binary: true}},
	}
	for _, tt := range tests {
		got, err := DecodePacket(V4, []byte(tt.in), tt.binary)
		if err != nil {
			t.Fatalf("DecodePacket(%q): %v", tt.in, err)
		}
		if !equalPacket(got, tt.want) {
			t.Errorf("DecodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "7", "a", "/", "b!!!", "x4"} {
		if _, err := DecodePacket(V4, []byte(bad), false); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodePacket(%q) error = %v, want ErrInvalidPacket", bad, err)
		}
	}
}

func TestDecodePacketV3(t *testing.T) {
	got, err := DecodePacket(V3, []byte{4, 1, 2}, true)
	if err != nil || !equalPacket(got, Packet{Type: Message, Data: []byte{1, 2}, Binary: true}) {
		t.Fatalf("binary frame: %+v, %v", got, err)
	}
	got, err = DecodePacket(V3, []byte("b4AQI="), false)
	if err != nil || !equalPacket(got, Packet{Type: Message, Data: []byte{1, 2}, Binary: true}) {
		t.Fatalf("base64 packet: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{{}, {9, 1}} {
		if _, err := DecodePacket(V3, bad, true); err == nil {
			t.Errorf("DecodePacket(V3, %v, binary) accepted", bad)
		}
	}
	if _, err := DecodePacket(V3, []byte("bx"), false); err == nil {
		t.Error("v3 base64 packet without a type accepted")
	}
}

func TestAppendPacket(t *testing.T) {
	b, bin := AppendPacket(V4, nil, Packet{Type: Message, Data: []byte("hi")})
	if string(b) != "4hi" || bin {
		t.Errorf("v4 text = %q %v", b, bin)
	}
	b, bin = AppendPacket(V4, nil, Packet{Type: Message, Data: []byte{1}, Binary: true})
	if !bytes.Equal(b, []byte{1}) || !bin {
		t.Errorf("v4 binary = %v %v", b, bin)
	}
	b, bin = AppendPacket(V3, nil, Packet{Type: Message, Data: []byte{1}, Binary: true})
	if !bytes.Equal(b, []byte{4, 1}) || !bin {
		t.Errorf("v3 binary = %v %v", b, bin)
	}
}

func TestAppendText(t *testing.T) {
	bin := Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}
	if got := string(AppendText(V4, nil, bin)); got != "bAQIDBA==" {
		t.Errorf("v4 = %q", got)
	}
	if got := string(AppendText(V3, nil, bin)); got != "b4AQIDBA==" {
		t.Errorf("v3 = %q", got)
	}
	if got := string(AppendText(V3, nil, Packet{Type: Pong, Data: []byte("probe")})); got != "3probe" {
		t.Errorf("text = %q", got)
	}
}

func TestPayloadV4(t *testing.T) {
	pkts, err := DecodePayload(V4, []byte("4hello\x1e2\x1ebAQIDBA=="), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Ping, Data: []byte{}},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
	}
	if !equalPackets(pkts, want) {
		t.Fatalf("got %+v", pkts)
	}
	out, bin := AppendPayload(V4, nil, want, false)
	if string(out) != "4hello\x1e2\x1ebAQIDBA==" || bin {
		t.Errorf("AppendPayload = %q %v", out, bin)
	}
	// The packets before a bad one are returned with the error.
	pkts, err = DecodePayload(V4, []byte("4a\x1e4b\x1ezz\x1e4c"), false)
	if !errors.Is(err, ErrInvalidPayload) || len(pkts) != 2 {
		t.Errorf("bad payload: %d packets, %v", len(pkts), err)
	}
	if _, err := DecodePayload(V4, nil, false); err == nil {
		t.Error("empty v4 payload accepted")
	}
	if _, err := DecodePayload(V4, []byte("4a"), true); err == nil {
		t.Error("binary v4 payload accepted")
	}
}

func TestPayloadV3Text(t *testing.T) {
	// Lengths count UTF-16 code units: € is one, 😀 (outside the BMP) two.
	body := "6:4hello2:4€3:4😀1:210:b4AQIDBA=="
	pkts, err := DecodePayload(V3, []byte(body), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Message, Data: []byte("€")},
		{Type: Message, Data: []byte("😀")},
		{Type: Ping, Data: []byte{}},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
	}
	if !equalPackets(pkts, want) {
		t.Fatalf("got %+v", pkts)
	}
	out, bin := AppendPayload(V3, nil, want, true)
	if string(out) != body || bin {
		t.Errorf("AppendPayload = %q %v, want %q", out, bin, body)
	}
	out, _ = AppendPayload(V3, nil, nil, true)
	if string(out) != "0:" {
		t.Errorf("empty payload = %q", out)
	}
	// "0:" holds no packet; leading zeros are accepted as JavaScript's Number does.
	pkts, err = DecodePayload(V3, []byte("0:02:4a"), false)
	if err != nil || !equalPackets(pkts, []Packet{{Type: Message, Data: []byte("a")}}) {
		t.Errorf("0:02:4a = %+v, %v", pkts, err)
	}
	for _, bad := range []string{"", ":4a", "2:4", "x:4a", "1:7", "2:4a3", "1:4😀", "99999999999999999:4"} {
		if _, err := DecodePayload(V3, []byte(bad), false); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("DecodePayload(V3, %q) error = %v", bad, err)
		}
	}
}

func TestPayloadV3Binary(t *testing.T) {
	pkts := []Packet{
		{Type: Message, Data: []byte("hello€")},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
	}
	out, bin := AppendPayload(V3, nil, pkts, false)
	if !bin {
		t.Fatal("payload with binary data not binary")
	}
	want := []byte{0, 9, 0xff, '4', 'h', 'e', 'l', 'l', 'o', 0xe2, 0x82, 0xac, 1, 5, 0xff, 4, 1, 2, 3, 4}
	if !bytes.Equal(out, want) {
		t.Fatalf("AppendPayload = %v, want %v", out, want)
	}
	got, err := DecodePayload(V3, out, true)
	if err != nil || !equalPackets(got, pkts) {
		t.Fatalf("DecodePayload = %+v, %v", got, err)
	}
	// With b64 the same packets go as text.
	out, bin = AppendPayload(V3, nil, pkts, true)
	if bin || string(out) != "7:4hello€10:b4AQIDBA==" {
		t.Errorf("b64 payload = %q", out)
	}
	for _, bad := range [][]byte{{}, {2, 1, 0xff, '4'}, {0, 0xff, '4'}, {0, 5, 0xff, '4'}, {0, 1}, {0, 12, 0xff}, {0, 2, 0xff, '4', 0xff}, {1, 1, 0xff, 9}} {
		if _, err := DecodePayload(V3, bad, true); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("DecodePayload(V3 binary, %v) error = %v", bad, err)
		}
	}
}

func TestUTF16Len(t *testing.T) {
	for s, n := range map[string]int{"": 0, "abc": 3, "€": 1, "😀": 2, "a\xffb": 3} {
		if got := UTF16Len([]byte(s)); got != n {
			t.Errorf("UTF16Len(%q) = %d, want %d", s, got, n)
		}
	}
}

func equalPacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func equalPackets(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalPacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestWritePayload(t *testing.T) {
	big := bytes.Repeat([]byte("x€"), 5000)
	cases := []struct {
		v    Version
		b64  bool
		pkts []Packet
	}{
		{V4, false, []Packet{{Type: Message, Data: []byte("hello")}, {Type: Ping}, {Type: Message, Data: []byte{1, 2, 3, 4, 5}, Binary: true}}},
		{V4, false, []Packet{{Type: Message, Data: big}}},
		{V3, false, []Packet{{Type: Message, Data: []byte("h€llo😀")}, {Type: Message, Data: big, Binary: true}}},
		{V3, true, []Packet{{Type: Message, Data: []byte("h€llo😀")}, {Type: Message, Data: big, Binary: true}}},
		{V3, false, nil},
	}
	for i, c := range cases {
		want, binary := AppendPayload(c.v, nil, c.pkts, c.b64)
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkWritePayload(t, c.v, c.pkts, c.b64, want, binary) })
	}
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

var errWrite = errors.New("write failed")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWritePayloadError(t *testing.T) {
	pkts := []Packet{{Type: Message, Data: []byte("hello")}, {Type: Message, Data: bytes.Repeat([]byte{7}, 3000), Binary: true}, {Type: Message, Data: []byte("after")}}
	for _, n := range []int{0, 3, 8, 100} {
		w := &failingWriter{n: n}
		if _, err := WritePayload(w, V4, pkts, false); !errors.Is(err, errWrite) {
			t.Errorf("failing after %d bytes: err = %v, want the writer's error", n, err)
		}
	}
}

// TestWritePayloadShares checks that WritePayload hands a packet's data to
// the writer as it is, not a copy of it.
func TestWritePayloadShares(t *testing.T) {
	data := bytes.Repeat([]byte("a"), 4096)
	var got [][]byte
	w := writerFunc(func(p []byte) (int, error) { got = append(got, p); return len(p), nil })
	if _, err := WritePayload(w, V4, []Packet{{Type: Message, Data: data}}, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if len(p) == len(data) && &p[0] == &data[0] {
			return
		}
	}
	t.Fatalf("the packet's data was not written in place (%d writes)", len(got))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestHandshakeJSON(t *testing.T) {
	b, _ := json.Marshal(Handshake{SID: "abc", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000})
	if string(b) != `{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}` {
		t.Fatalf("v3 handshake = %s", b)
	}
	var h Handshake
	if err := json.Unmarshal([]byte(`{"sid":"x","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`), &h); err != nil || h.SID != "x" || h.PingInterval != 300 || h.PingTimeout != 200 || h.MaxPayload != 1e6 {
		t.Fatalf("decoded %+v, %v", h, err)
	}
}
