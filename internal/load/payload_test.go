package load

import (
	"encoding/json"
	"strings"
	"testing"
)

// payloadSeeds are payloads as tether load writes them and variants that
// take json.Unmarshal's path.
var payloadSeeds = []string{
	`{"t":1764990000123456789,"s":42,"m":true,"room":"load-0","w":1,"k":15,"p":"xxxxxxxx"}`,
	`{"t":1764990000123456789,"s":0,"m":false,"p":""}`,
	`{"t":-5,"s":1,"m":true,"room":"load-12","p":"xx"}`,
	`{}`,
	`{"t":1, "s":2}`,
	`{"T":7,"S":8}`,
	`{"t":1.5}`,
	`{"t":1e3}`,
	`{"t":01}`,
	`{"s":-1}`,
	`{"t":99999999999999999999}`,
	`{"t":9223372036854775807,"s":18446744073709551615}`,
	`{"p":"a\"b","t":3}`,
	`{"p":"é","t":3}`,
	`{"m":null,"t":4}`,
	`{"x":[1,2],"t":5}`,
	`{"t":6}x`,
	`{"t":6,}`,
	`[1]`,
	`"t"`,
	``,
}

func TestDecodePayload(t *testing.T) {
	for _, in := range payloadSeeds {
		var got, want received
		ok := decodePayload([]byte(in), &got)
		wantOK := json.Unmarshal([]byte(in), &want) == nil
		if ok != wantOK || (ok && got != want) {
			t.Errorf("decodePayload(%s) = %+v, %v; json.Unmarshal: %+v, %v", in, got, ok, want, wantOK)
		}
	}
	// The form tether load writes takes the scan.
	var p received
	if in := payloadSeeds[0]; !scanPayload([]byte(in), &p) || p != (received{T: 1764990000123456789, S: 42, M: true, W: 1, K: 15}) {
		t.Errorf("scanPayload(%s) = %+v", in, p)
	}
}

func TestDecodePayloadAllocs(t *testing.T) {
	b := []byte(`{"t":1764990000123456789,"s":42,"m":true,"room":"load-0","w":1,"k":15,"p":"` + strings.Repeat("x", 40) + `"}`)
	// p is the caller's local, as in the receivers' handler: it must not
	// escape to the heap.
	if n := testing.AllocsPerRun(100, func() {
		var p received
		if !decodePayload(b, &p) || p.S != 42 {
			t.Fatal("not decoded")
		}
	}); n != 0 {
		t.Errorf("decodePayload allocates %v times per payload, want 0", n)
	}
}

// FuzzDecodePayload checks decodePayload against json.Unmarshal.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want received
		ok := decodePayload(b, &got)
		wantOK := json.Unmarshal(b, &want) == nil
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("decodePayload(%q) = %+v, %v; json.Unmarshal: %+v, %v", b, got, ok, want, wantOK)
		}
	})
}
