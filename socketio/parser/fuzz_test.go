package parser

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecode checks that Decode never panics, that what it accepts
// re-encodes to a packet that decodes the same, and that the payload helpers
// work on everything it accepts. Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`0`, `2["a",1]`, `51-["f",{"_placeholder":true,"num":0}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, n, err := Decode(text, DefaultMaxAttachments)
		checkDecodeArgs(t, text, p, n, err)
		if err != nil {
			return
		}
		if p.Namespace == "" || p.Namespace[0] != '/' {
			t.Fatalf("namespace %q", p.Namespace)
		}
		if p.Type > ConnectError {
			t.Fatalf("decoded type %v", p.Type)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("invalid JSON accepted: %q", p.Data)
		}
		atts := make([][]byte, n)
		for i := range atts {
			atts[i] = []byte{byte(i)}
		}
		p.Attachments = atts
		again, n2, err := Decode(p.AppendText(nil), DefaultMaxAttachments)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", p.AppendText(nil), err)
		}
		if again.Type != p.Type || again.Namespace != p.Namespace || again.HasID != p.HasID ||
			again.ID != p.ID || !bytes.Equal(again.Data, p.Data) || n2 != n {
			t.Fatalf("round trip: %+v -> %+v", p, again)
		}
		if p.Type == Event || p.Type == Ack {
			args, err := SplitArray(nil, p.Data)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type == Event && len(args) == 0 {
				t.Fatal("empty event accepted")
			}
			if p.Type == Event && EventName(args[0]) != eventNameByUnmarshal(args[0]) {
				t.Fatalf("EventName(%s) = %q, json.Unmarshal %q", args[0], EventName(args[0]), eventNameByUnmarshal(args[0]))
			}
			for _, a := range args {
				if !json.Valid(a) {
					t.Fatalf("element %q of %q is not JSON", a, p.Data)
				}
			}
		}
		if n > 0 {
			inl, err := InlineAttachments(nil, p.Data, atts)
			if err != nil || !json.Valid(inl) {
				t.Fatalf("InlineAttachments(%q) = %q, %v", p.Data, inl, err)
			}
			var d Decoder
			var ok bool
			if _, ok, err = d.Add(text, false); err != nil || ok {
				t.Fatalf("Decoder: %v %v", ok, err)
			}
			for i := range atts {
				if _, ok, err = d.Add(atts[i], true); err != nil || ok != (i == n-1) {
					t.Fatalf("Decoder attachment %d: %v %v", i, ok, err)
				}
			}
		}
	})
}

// checkDecodeArgs checks that DecodeArgs and Decoder.AddArgs decode text
// as Decode did (p, n, err) and split what SplitArray splits.
func checkDecodeArgs(t *testing.T, text []byte, p Packet, n int, err error) {
	t.Helper()
	kept := json.RawMessage(`"kept"`)
	p2, n2, args, err2 := DecodeArgs(text, DefaultMaxAttachments, []json.RawMessage{kept})
	if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		t.Fatalf("DecodeArgs(%q): error %v, Decode %v", text, err2, err)
	}
	if !samePacket(p, p2) || n != n2 {
		t.Fatalf("DecodeArgs(%q) = %+v, %d; Decode %+v, %d", text, p2, n2, p, n)
	}
	var want []json.RawMessage
	if err == nil && (p.Type == Event || p.Type == Ack) {
		if want, err = SplitArray(nil, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if len(args) != 1+len(want) || &args[0][0] != &kept[0] {
		t.Fatalf("DecodeArgs(%q) args %q, want \"kept\" and %q", text, args, want)
	}
	for i := range want {
		if !bytes.Equal(args[1+i], want[i]) {
			t.Fatalf("DecodeArgs(%q) args %q, want \"kept\" and %q", text, args, want)
		}
	}
	// The Decoder: args once the packet is complete.
	var d Decoder
	p3, args, ok, err3 := d.AddArgs(text, false, []json.RawMessage{kept})
	if (err == nil) != (err3 == nil) {
		t.Fatalf("AddArgs(%q): error %v, Decode %v", text, err3, err)
	}
	for i := 0; ok == false && err3 == nil && i < n; i++ {
		if len(args) != 1 {
			t.Fatalf("AddArgs(%q) split before the attachments: %q", text, args)
		}
		p3, args, ok, err3 = d.AddArgs([]byte{byte(i)}, true, args)
	}
	if err3 != nil {
		want = nil
	}
	if err3 == nil && (!ok || !samePacket(p, Packet{Type: p3.Type, Namespace: p3.Namespace, ID: p3.ID, HasID: p3.HasID, Data: p3.Data})) {
		t.Fatalf("AddArgs(%q) = %+v, %v; Decode %+v", text, p3, ok, p)
	}
	if len(args) != 1+len(want) {
		t.Fatalf("AddArgs(%q) args %q, want \"kept\" and %q", text, args, want)
	}
	for i := range want {
		if !bytes.Equal(args[1+i], want[i]) {
			t.Fatalf("AddArgs(%q) args %q, want \"kept\" and %q", text, args, want)
		}
	}
}

func samePacket(a, b Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID && a.HasID == b.HasID &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) && len(a.Attachments) == len(b.Attachments)
}
