package parser

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-rt/tether/internal/alloctest"
)

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
		n    int
	}{
		{in: `0`, want: Packet{Type: Connect, Namespace: "/"}},
		{in: `0/admin,`, want: Packet{Type: Connect, Namespace: "/admin"}},
		{in: `0/admin`, want: Packet{Type: Connect, Namespace: "/admin"}},
		{in: `0{"token":"x"}`, want: Packet{Type: Connect, Namespace: "/", Data: json.RawMessage(`{"token":"x"}`)}},
		{in: `0/admin,{"pid":"p","offset":"o"}`, want: Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"pid":"p","offset":"o"}`)}},
		{in: `1`, want: Packet{Type: Disconnect, Namespace: "/"}},
		{in: `1/admin,`, want: Packet{Type: Disconnect, Namespace: "/admin"}},
		{in: `2["hello",1]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
		{in: `2 [ "hello" ]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(` [ "hello" ]`)}},
		{in: `2[1,2]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`[1,2]`)}},
		{in: `212["x"]`, want: Packet{Type: Event, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(`["x"]`)}},
		{in: `2/admin,0["x"]`, want: Packet{Type: Event, Namespace: "/admin", ID: 0, HasID: true, Data: json.RawMessage(`["x"]`)}},
		{in: `2/,["x"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["x"]`)}},
		{in: `2["connection"]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["connection"]`)}},
		{in: `3/admin,5[]`, want: Packet{Type: Ack, Namespace: "/admin", ID: 5, HasID: true, Data: json.RawMessage(`[]`)}},
		{in: `318446744073709551615[null]`, want: Packet{Type: Ack, Namespace: "/", ID: 18446744073709551615, HasID: true, Data: json.RawMessage(`[null]`)}},
		{in: `4{"message":"no"}`, want: Packet{Type: ConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"no"}`)}},
		{in: `4/admin,"no"`, want: Packet{Type: ConnectError, Namespace: "/admin", Data: json.RawMessage(`"no"`)}},
		{in: `51-["f",{"_placeholder":true,"num":0}]`, n: 1, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["f",{"_placeholder":true,"num":0}]`)}},
		{in: `62-/admin,7[{"a":[{"num":1,"_placeholder":true}]},{"_placeholder":true,"num":0}]`, n: 2, want: Packet{Type: Ack, Namespace: "/admin", ID: 7, HasID: true, Data: json.RawMessage(`[{"a":[{"num":1,"_placeholder":true}]},{"_placeholder":true,"num":0}]`)}},
		{in: `50-["f",{"_placeholder":false,"num":9}]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["f",{"_placeholder":false,"num":9}]`)}},
		{in: `510-["f"]`, n: 10, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["f"]`)}},
		// Without attachments a placeholder-like object is ordinary data, as in Node.
		{in: `2["f",{"_placeholder":true,"num":3}]`, want: Packet{Type: Event, Namespace: "/", Data: json.RawMessage(`["f",{"_placeholder":true,"num":3}]`)}},
	}
	for _, tt := range tests {
		p, n, err := Decode([]byte(tt.in), -1)
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(p, tt.want) || n != tt.n {
			t.Errorf("Decode(%q) = %+v, %d; want %+v, %d", tt.in, p, n, tt.want, tt.n)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{``, ErrEmpty},
		{`7`, ErrUnknownType},
		{`a`, ErrUnknownType},
		{`-1`, ErrUnknownType},
		{`2`, ErrPayload},
		{`2/admin,`, ErrPayload},
		{`2[]`, ErrPayload},
		{`2{}`, ErrPayload},
		{`2"x"`, ErrPayload},
		{`2[null]`, ErrPayload},
		{`2[true]`, ErrPayload},
		{`2[["x"]]`, ErrPayload},
		{`2[{"a":1}]`, ErrPayload},
		{`2["x"`, ErrPayload},
		{`2["x"]]`, ErrPayload},
		{`2["connect"]`, ErrPayload},
		{`2["connect_error",1]`, ErrPayload},
		{`2["disconnect"]`, ErrPayload},
		{`2["disconnecting"]`, ErrPayload},
		{`2["newListener"]`, ErrPayload},
		{`2["removeListener"]`, ErrPayload},
		{`2["\u0063onnect"]`, ErrPayload},
		{`2abc,["x"]`, ErrPayload},
		{`2/admin["x"]`, ErrPayload}, // the namespace runs to the end: no payload
		{`3`, ErrPayload},
		{`3{}`, ErrPayload},
		{`31"x"`, ErrPayload},
		{`1[]`, ErrPayload},
		{`1/admin,{}`, ErrPayload},
		{`0[]`, ErrPayload},
		{`0"x"`, ErrPayload},
		{`0null`, ErrPayload},
		{`0{`, ErrPayload},
		{`4`, ErrPayload},
		{`4[]`, ErrPayload},
		{`41`, ErrPayload},
		{`218446744073709551616["x"]`, ErrID},
		{`5["x"]`, ErrAttachments},
		{`5-["x"]`, ErrAttachments},
		{`51["x"]`, ErrAttachments},
		{`51`, ErrAttachments},
		{`5a-["x"]`, ErrAttachments},
		{`511-["x"]`, ErrTooManyAttach},
		{`599999999999999999999999-["x"]`, ErrTooManyAttach},
		{`51-["x",{"_placeholder":true,"num":1}]`, ErrAttachments},
		{`51-["x",{"_placeholder":true,"num":-1}]`, ErrAttachments},
		{`51-["x",{"_placeholder":true,"num":0.5}]`, ErrAttachments},
		{`51-["x",{"_placeholder":true,"num":"0"}]`, ErrAttachments},
		{`51-["x",{"_placeholder":true}]`, ErrAttachments},
		{`50-["x",{"_placeholder":true,"num":0}]`, ErrAttachments},
		{`61-[{"a":{"_placeholder":true,"num":2}}]`, ErrAttachments},
		{`51-["connect",{"_placeholder":true,"num":0}]`, ErrPayload},
		{"2[\"x\"]\x00", ErrPayload},
	}
	for _, tt := range tests {
		_, _, err := Decode([]byte(tt.in), -1)
		if !errors.Is(err, tt.want) {
			t.Errorf("Decode(%q) error = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestDecoderBinary(t *testing.T) {
	var d Decoder
	p, ok, err := d.Add([]byte(`52-/chat,3["file",{"_placeholder":true,"num":1},{"x":{"_placeholder":true,"num":0}}]`), false)
	if err != nil || ok {
		t.Fatalf("header: %v %v", ok, err)
	}
	if !d.Pending() {
		t.Fatal("not pending")
	}
	if _, ok, err = d.Add([]byte{1, 2}, true); err != nil || ok {
		t.Fatalf("first attachment: %v %v", ok, err)
	}
	p, ok, err = d.Add([]byte{3}, true)
	if err != nil || !ok {
		t.Fatalf("second attachment: %v %v", ok, err)
	}
	if p.Type != Event || p.Namespace != "/chat" || !p.HasID || p.ID != 3 || len(p.Attachments) != 2 {
		t.Fatalf("packet = %+v", p)
	}
	inl, err := InlineAttachments(nil, p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	if want := `["file","Aw==",{"x":"AQI="}]`; string(inl) != want {
		t.Fatalf("inlined = %s, want %s", inl, want)
	}
	var args []json.RawMessage
	if err := json.Unmarshal(inl, &args); err != nil {
		t.Fatal(err)
	}
	var b []byte
	if err := json.Unmarshal(args[1], &b); err != nil || string(b) != "\x03" {
		t.Fatalf("attachment = %v %v", b, err)
	}

	// A text message while attachments are awaited is an error.
	if _, _, err := d.Add([]byte(`51-["f",{"_placeholder":true,"num":0}]`), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Add([]byte(`2["x"]`), false); !errors.Is(err, ErrUnexpectedText) {
		t.Fatalf("err = %v", err)
	}
	if d.Pending() {
		t.Fatal("still pending after error")
	}
	if _, _, err := d.Add([]byte{1}, true); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("err = %v", err)
	}
	// The decoder's own limit.
	d2 := Decoder{MaxAttachments: 1}
	if _, _, err := d2.Add([]byte(`52-["f"]`), false); !errors.Is(err, ErrTooManyAttach) {
		t.Fatalf("err = %v", err)
	}
	// A text packet passes straight through.
	p, ok, err = d.Add([]byte(`2["x"]`), false)
	if err != nil || !ok || string(p.Data) != `["x"]` {
		t.Fatalf("%+v %v %v", p, ok, err)
	}
}

// Encodings as Node's socket.io-parser Encoder writes them.
func TestAppendText(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Connect, Namespace: "/", Data: json.RawMessage(`{"sid":"abc"}`)}, `0{"sid":"abc"}`},
		{Packet{Type: Connect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"abc","pid":"p"}`)}, `0/admin,{"sid":"abc","pid":"p"}`},
		{Packet{Type: Disconnect, Namespace: "/admin"}, `1/admin,`},
		{Packet{Type: Disconnect}, `1`},
		{Packet{Type: Event, Data: json.RawMessage(`["a",1]`)}, `2["a",1]`},
		{Packet{Type: Event, Namespace: "/x", ID: 42, HasID: true, Data: json.RawMessage(`["a"]`)}, `2/x,42["a"]`},
		{Packet{Type: Ack, ID: 0, HasID: true, Data: json.RawMessage(`[]`)}, `30[]`},
		{Packet{Type: ConnectError, Namespace: "/x", Data: json.RawMessage(`{"message":"Invalid namespace"}`)}, `4/x,{"message":"Invalid namespace"}`},
		{Packet{Type: Event, Data: json.RawMessage(`["f",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}, `51-["f",{"_placeholder":true,"num":0}]`},
		{Packet{Type: Ack, Namespace: "/x", ID: 3, HasID: true, Data: json.RawMessage(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1}, {2}}}, `62-/x,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	}
	for _, tt := range tests {
		got := tt.p.AppendText(nil)
		if string(got) != tt.want {
			t.Errorf("AppendText(%+v) = %s, want %s", tt.p, got, tt.want)
		}
		if n := tt.p.TextLen(); n != len(got) {
			t.Errorf("TextLen = %d, want %d", n, len(got))
		}
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`[]`, nil},
		{` [ ] `, nil},
		{`["a"]`, []string{`"a"`}},
		{`[ "a\"],", {"b":[1,2]} , [3,[4]],null,true,-1.5e3 ]`, []string{`"a\"],"`, `{"b":[1,2]}`, `[3,[4]]`, `null`, `true`, `-1.5e3`}},
	}
	for _, tt := range tests {
		got, err := SplitArray(nil, []byte(tt.in))
		if err != nil {
			t.Fatalf("SplitArray(%s): %v", tt.in, err)
		}
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if !reflect.DeepEqual(gs, tt.want) {
			t.Errorf("SplitArray(%s) = %q, want %q", tt.in, gs, tt.want)
		}
	}
	if _, err := SplitArray(nil, []byte(`{}`)); err == nil {
		t.Error("SplitArray accepted an object")
	}
}

func TestDecodeAllocs(t *testing.T) {
	in := []byte(`2["message",{"text":"hello","n":1}]`)
	var d Decoder
	var args []json.RawMessage
	allocs := alloctest.PerRun(100, func() {
		p, ok, err := d.Add(in, false)
		if err != nil || !ok {
			t.Fatal(err)
		}
		args, _ = SplitArray(args[:0], p.Data)
	})
	if allocs != 0 {
		t.Errorf("Decode+SplitArray allocates %v times", allocs)
	}
	p := Packet{Type: Event, Namespace: "/chat", Data: json.RawMessage(`["message","hi"]`)}
	buf := make([]byte, 0, 64)
	allocs = alloctest.PerRun(100, func() { buf = p.AppendText(buf[:0]) })
	if allocs != 0 {
		t.Errorf("AppendText allocates %v times", allocs)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	in := []byte(`2/chat,12["message",{"text":"` + strings.Repeat("x", 100) + `","n":1}]`)
	var args []json.RawMessage
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := Decode(in, 10)
		if err != nil {
			b.Fatal(err)
		}
		args, _ = SplitArray(args[:0], p.Data)
	}
}

// BenchmarkDecodeLoadEvent decodes an event as tether load's clients
// receive it from tether serve (payload, metadata, recovery offset) and
// splits it into its arguments, as the client does with every event.
func BenchmarkDecodeLoadEvent(b *testing.B) {
	in := []byte(`2["load",{"t":1765000000000000000,"s":123456,"m":true,"room":"load-0","w":1,"k":7,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},` +
		`{"from":"AbCdEfGhIjKlMnOpQrSt","room":"load-0","user":""},"1765000000000-12345"]`)
	args := make([]json.RawMessage, 0, 4)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if _, _, args, err = DecodeArgs(in, 10, args[:0]); err != nil || len(args) != 4 {
			b.Fatal(len(args), err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = append(buf[:0], '[')
		buf = AppendString(buf, "message")
		buf = append(buf, ',')
		buf, _, _ = AppendValue(buf, "hello world", nil)
		buf = append(buf, ',')
		buf, _, _ = AppendValue(buf, 42, nil)
		buf = append(buf, ']')
		p := Packet{Type: Event, Namespace: "/chat", Data: buf}
		_ = p.AppendText(make([]byte, 0, p.TextLen()))
	}
}
