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
