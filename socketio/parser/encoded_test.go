package parser

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Packet.Encode's wire form decodes, message by message, to the packet it
// was made from, and its Size counts its text and attachments.
func TestEncodeRoundTrip(t *testing.T) {
	for _, p := range []Packet{
		{Type: Event, Namespace: "/", Data: json.RawMessage(`["a",1]`)},
		{Type: Event, Namespace: "/x", ID: 7, HasID: true, Data: json.RawMessage(`["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1, 2}, {}}},
		{Type: Ack, Namespace: "/", ID: 0, HasID: true, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{9}}},
	} {
		ep := p.Encode()
		if !bytes.Equal(ep.Text, p.AppendText(nil)) {
			t.Fatalf("text %q, want %q", ep.Text, p.AppendText(nil))
		}
		var d Decoder
		got, ok, err := d.Add(ep.Text, false)
		for _, a := range ep.Attachments {
			if ok || err != nil {
				t.Fatalf("%q: complete before its attachments: %v", ep.Text, err)
			}
			got, ok, err = d.Add(a, true)
		}
		if err != nil || !ok {
			t.Fatalf("%q: %v %v", ep.Text, ok, err)
		}
		if got.Type != p.Type || got.Namespace != p.Namespace || got.ID != p.ID || got.HasID != p.HasID ||
			!bytes.Equal(got.Data, p.Data) || len(got.Attachments) != len(p.Attachments) {
			t.Fatalf("decoded %+v, want %+v", got, p)
		}
		for i := range got.Attachments {
			if !bytes.Equal(got.Attachments[i], p.Attachments[i]) {
				t.Fatalf("attachment %d: %v, want %v", i, got.Attachments[i], p.Attachments[i])
			}
		}
		want := int64(cap(ep.Text))
		for _, a := range p.Attachments {
			want += int64(cap(a))
		}
		if ep.Size() != want || ep.Size() < int64(len(ep.Text)) {
			t.Fatalf("Size = %d, want %d", ep.Size(), want)
		}
	}
}
