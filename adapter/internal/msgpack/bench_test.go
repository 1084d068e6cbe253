package msgpack

import (
	"bytes"
	"testing"
)

// A typical chat message, and an upload with a 64 KiB binary argument.
var (
	benchChat     = []byte(`["chat message",{"room":"general","user":{"id":"u_8f3k2","name":"Alice"},"text":"Hello everyone! Shall we start the meeting at 10:30?","ts":1710333296789,"mentions":["bob","carol"],"edited":false,"score":4.5}]`)
	benchFile     = []byte(`["upload",{"name":"photo.jpg","type":"image/jpeg","size":65536},{"_placeholder":true,"num":0}]`)
	benchFileAtts = [][]byte{bytes.Repeat([]byte{0xab}, 64<<10)}
)

func BenchmarkAppendJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
		atts [][]byte
	}{{"chat", benchChat, nil}, {"binary64k", benchFile, benchFileAtts}} {
		b.Run(bc.name, func(b *testing.B) {
			var e Encoder
			b.SetBytes(int64(len(bc.data) + len(bc.atts)*(64<<10)))
			b.ReportAllocs()
			for b.Loop() {
				e.Buf = e.Buf[:0]
				if err := e.JSON(bc.data, bc.atts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkToJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
		atts [][]byte
	}{{"chat", benchChat, nil}, {"binary64k", benchFile, benchFileAtts}} {
		b.Run(bc.name, func(b *testing.B) {
			msg, err := AppendJSON(nil, bc.data, bc.atts)
			if err != nil {
				b.Fatal(err)
			}
			var d Decoder
			var out []byte
			var atts [][]byte
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				d.Reset(msg)
				if out, atts, err = d.ReadJSON(out[:0], atts[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBroadcast writes and reads a whole classic broadcast, as a
// Tether node does to publish one and to deliver one from Redis.
func BenchmarkBroadcast(b *testing.B) {
	var e Encoder
	var d Decoder
	var out []byte
	var atts [][]byte
	b.ReportAllocs()
	for b.Loop() {
		e.Buf = e.Buf[:0]
		if err := writeBroadcast(&e, "xaaFKm", "/", benchChat, nil); err != nil {
			b.Fatal(err)
		}
		d.Reset(e.Buf)
		if _, err := d.ReadArrayHeader(); err != nil {
			b.Fatal(err)
		}
		if _, err := d.ReadStrBytes(); err != nil {
			b.Fatal(err)
		}
		n, err := d.ReadMapHeader()
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			key, err := d.ReadStrBytes()
			if err != nil {
				b.Fatal(err)
			}
			if string(key) == "data" {
				out, atts, err = d.ReadJSON(out[:0], atts[:0])
			} else {
				err = d.Skip()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if _, err := d.ReadRaw(); err != nil {
			b.Fatal(err)
		}
	}
}
