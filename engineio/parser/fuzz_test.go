package parser

import (
	"bytes"
	"testing"
)

// checkWritePayload checks that WritePayload writes, and PayloadLen
// counts, what AppendPayload encodes (want, binary), also through a writer
// that takes a few bytes at a time.
func checkWritePayload(t *testing.T, v Version, pkts []Packet, b64 bool, want []byte, binary bool) {
	t.Helper()
	if n, bin := PayloadLen(v, pkts, b64); n != len(want) || bin != binary {
		t.Fatalf("PayloadLen = %d, %v; AppendPayload wrote %d bytes, binary %v", n, bin, len(want), binary)
	}
	var buf bytes.Buffer
	bin, err := WritePayload(&buf, v, pkts, b64)
	if err != nil || bin != binary || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WritePayload wrote %q, %v, %v; want %q, %v", buf.Bytes(), bin, err, want, binary)
	}
}

// FuzzDecodePacket checks that decoding any frame never panics and that a
// decoded packet survives an encode/decode round trip.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"4hello", "2probe", "3", "bAQIDBA==", "b4AQID", "6", "", "\x04\x01"} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, msg string, binary, v3 bool) {
		v := V4
		if v3 {
			v = V3
		}
		p, err := DecodePacket(v, []byte(msg), binary)
		if err != nil {
			return
		}
		enc, bin := AppendPacket(v, nil, p)
		q, err := DecodePacket(v, enc, bin)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if !equalPacket(p, q) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

// FuzzDecodePayload checks v3 (text and binary) and v4 payload decoding:
// no panic, and the decoded packets survive an encode/decode round trip.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello\x1e2\x1ebAQIDBA==", "4a", "6:4hello2:4€3:4😀1:210:b4AQIDBA==", "0:", "0:02:4a",
		"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04",
	} {
		f.Add(s, 4, false)
		f.Add(s, 3, false)
		f.Add(s, 3, true)
	}
	f.Fuzz(func(t *testing.T, body string, version int, binary bool) {
		v := V4
		if version == 3 {
			v = V3
		}
		pkts, err := DecodePayload(v, []byte(body), binary)
		if err != nil {
			return
		}
		for _, b64 := range []bool{false, true} {
			if v == V3 && len(pkts) == 0 {
				continue // "0:" decodes to nothing and is not re-decoded
			}
			enc, bin := AppendPayload(v, nil, pkts, b64)
			again, err := DecodePayload(v, enc, bin)
			if err != nil {
				t.Fatalf("re-decoding %q: %v", enc, err)
			}
			if !equalPackets(pkts, again) {
				t.Fatalf("round trip changed %+v into %+v", pkts, again)
			}
			checkWritePayload(t, v, pkts, b64, enc, bin)
		}
	})
}
