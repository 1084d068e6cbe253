package socketio

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tether-rt/tether/engineio"
)

// TestOnRawEchoesBinary receives events with OnRaw and sends their
// arguments on, binary parts as binary: in an event, in an
// acknowledgement, in a broadcast and nested in another value.
func TestOnRawEchoesBinary(t *testing.T) {
	srv := newTestServer(t, nil)
	type seen struct {
		event string
		args  []json.RawMessage
	}
	anys := make(chan seen, 10)
	srv.OnConnection(func(s *Socket) {
		s.OnAny(func(s *Socket, event string, args []json.RawMessage) { anys <- seen{event, args} })
		s.OnRaw("message", func(s *Socket, args []RawArg, ack AckFunc) {
			_ = s.Emit("message-back", Args(args)...)
		})
		s.OnRaw("message-with-ack", func(s *Socket, args []RawArg, ack AckFunc) {
			_ = ack(Args(args)...)
		})
		s.OnRaw("relay", func(s *Socket, args []RawArg, ack AckFunc) {
			var in struct {
				Room string          `json:"room"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(args[0].JSON, &in); err != nil {
				t.Errorf("relay: %v", err)
				return
			}
			data := RawArg{JSON: in.Data, Attachments: args[0].Attachments}
			_ = s.Namespace().Emit("relayed", data, map[string]any{"room": in.Room})
		})
		s.OnRaw("decode", func(s *Socket, args []RawArg, ack AckFunc) {
			var v struct {
				File []byte `json:"file"`
			}
			if err := args[0].Decode(&v); err != nil {
				t.Errorf("decode: %v", err)
			}
			_ = ack(string(v.File))
		})
	})
	tc := dial(t, srv)
	tc.connect("/", "")

	expectBinary := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if p := tc.recv(); !p.Binary || string(p.Data) != w {
				t.Fatalf("got %+v, want binary %q", p, w)
			}
		}
	}

	tc.send(`52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	tc.sendBinary([]byte{1, 2, 3})
	tc.sendBinary([]byte{4, 5, 6})
	if got := tc.recvText(); got != `52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
		t.Fatalf("got %q", got)
	}
	expectBinary("\x01\x02\x03", "\x04\x05\x06")
	// OnAny handlers still see binary parts as base64 strings.
	if s := recvValue(t, anys); s.event != "message" || len(s.args) != 2 || string(s.args[0]) != `"AQID"` || string(s.args[1]) != `"BAUG"` {
		t.Fatalf("OnAny got %s %s", s.event, s.args)
	}

	tc.send(`52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	tc.sendBinary([]byte{1, 2, 3})
	tc.sendBinary([]byte{4, 5, 6})
	if got := tc.recvText(); got != `62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
		t.Fatalf("got %q", got)
	}
	expectBinary("\x01\x02\x03", "\x04\x05\x06")
	recvValue(t, anys)

	// Without binary parts, nothing changes.
	tc.send(`2["message",1,"2",{"3":[true]}]`)
	if got := tc.recvText(); got != `2["message-back",1,"2",{"3":[true]}]` {
		t.Fatalf("got %q", got)
	}
	recvValue(t, anys)

	// A part of an argument, sent in a broadcast, takes the attachments it
	// refers to along, renumbered.
	tc.send(`52-["relay",{"room":"r","data":{"b":{"_placeholder":true,"num":1},"a":{"_placeholder":true,"num":0}}}]`)
	tc.sendBinary([]byte("A"))
	tc.sendBinary([]byte("B"))
	if got := tc.recvText(); got != `52-["relayed",{"b":{"_placeholder":true,"num":0},"a":{"_placeholder":true,"num":1}},{"room":"r"}]` {
		t.Fatalf("got %q", got)
	}
	expectBinary("B", "A")
	recvValue(t, anys)

	tc.send(`51-4["decode",{"file":{"_placeholder":true,"num":0}}]`)
	tc.sendBinary([]byte("xyz"))
	if got := tc.recvText(); got != `34["xyz"]` {
		t.Fatalf("got %q", got)
	}
}

// TestOnAndOnRawReplaceEachOther checks that On and OnRaw set the one
// handler of an event.
func TestOnAndOnRawReplaceEachOther(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.OnConnection(func(s *Socket) {
		s.On("e", func(s *Socket, args []json.RawMessage, ack AckFunc) { _ = ack("on") })
		s.OnRaw("e", func(s *Socket, args []RawArg, ack AckFunc) { _ = ack("raw") })
		s.OnRaw("f", func(s *Socket, args []RawArg, ack AckFunc) { _ = ack("raw") })
		s.On("f", func(s *Socket, args []json.RawMessage, ack AckFunc) { _ = ack("on") })
		s.OnRaw("g", func(s *Socket, args []RawArg, ack AckFunc) { _ = ack("raw") })
		s.Off("g")
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	tc.send(`21["e"]`)
	tc.send(`22["f"]`)
	tc.send(`23["g"]`)
	tc.send(`24["e"]`)
	if a, b, c := tc.recvText(), tc.recvText(), tc.recvText(); a != `31["raw"]` || b != `32["on"]` || c != `34["raw"]` {
		t.Fatalf("acks %q %q %q", a, b, c)
	}
}

// TestReceivedDataNotCopied checks that handlers get the engine's memory,
// which engineio hands over for good, without a copy.
func TestReceivedDataNotCopied(t *testing.T) {
	srv := newTestServer(t, nil)
	got := make(chan []RawArg, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnRaw("e", func(s *Socket, args []RawArg, ack AckFunc) { got <- args })
	})
	tc := dial(t, srv)
	tc.connect("/", "")
	text := []byte(`51-["e","abc",{"_placeholder":true,"num":0}]`)
	bin := []byte{1, 2}
	tc.c.onMessage(engineio.Packet{Data: text})
	tc.c.onMessage(engineio.Packet{Data: bin, Binary: true})
	args := recvValue(t, got)
	inside := func(sub, buf []byte) bool {
		return len(sub) > 0 && &sub[0] == &buf[bytes.Index(buf, sub)]
	}
	if !inside(args[0].JSON, text) || &args[1].Attachments[0][0] != &bin[0] {
		t.Fatal("the received data was copied")
	}
}
