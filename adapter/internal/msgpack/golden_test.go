package msgpack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// The classic adapter's broadcast as captured from Node (MONITOR on
// redis-server, @socket.io/redis-adapter 8.3.0 and notepack.io 3.0.1):
// socket.broadcast.emit("plain", 1, "two", {three: 3.5}, null, true) from
// the namespace "/" of the node whose uid is "xaaFKm".
var classicBroadcast = []byte("\x93\xa6xaaFKm\x83\xa4type\x02\xa4data\x96\xa5plain\x01\xa3two\x81\xa5three" +
	"\xcb@\x0c\x00\x00\x00\x00\x00\x00\xc0\xc3\xa3nsp\xa1/\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80")

// The data of a broadcast with binary arguments: emit("bin",
// Buffer.from([1,2,3]), {nested: Buffer.from([9,8])}).
var binaryData = []byte("\x93\xa3bin\xc4\x03\x01\x02\x03\x81\xa6nested\xc4\x02\t\b")

const binaryJSON = `["bin",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`

var binaryAtts = [][]byte{{1, 2, 3}, {9, 8}}

// writeBroadcast writes a classic broadcast as a Tether node will.
func writeBroadcast(e *Encoder, uid, nsp string, data []byte, atts [][]byte) error {
	e.ArrayHeader(3)
	e.Str(uid)
	e.MapHeader(3)
	e.Str("type")
	e.Int(2)
	e.Str("data")
	if err := e.JSON(data, atts); err != nil {
		return err
	}
	e.Str("nsp")
	e.Str(nsp)
	e.MapHeader(3)
	e.Str("rooms")
	e.ArrayHeader(0)
	e.Str("except")
	e.ArrayHeader(0)
	e.Str("flags")
	e.MapHeader(0)
	return nil
}

func TestGoldenClassicBroadcast(t *testing.T) {
	var e Encoder
	if err := writeBroadcast(&e, "xaaFKm", "/", []byte(`["plain",1,"two",{"three":3.5},null,true]`), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Buf, classicBroadcast) {
		t.Fatalf("broadcast:\n got %s\nwant %s", hex.EncodeToString(e.Buf), hex.EncodeToString(classicBroadcast))
	}

	// And read back field by field, as the adapter will.
	var d Decoder
	d.Reset(classicBroadcast)
	if n, err := d.ReadArrayHeader(); err != nil || n != 3 {
		t.Fatalf("array header: %d, %v", n, err)
	}
	if uid, err := d.ReadStr(); err != nil || uid != "xaaFKm" {
		t.Fatalf("uid: %q, %v", uid, err)
	}
	pairs, err := d.ReadMapHeader()
	if err != nil || pairs != 3 {
		t.Fatalf("packet header: %d, %v", pairs, err)
	}
	var typ int64
	var data []byte
	var nsp string
	for range pairs {
		key, err := d.ReadStrBytes()
		if err != nil {
			t.Fatal(err)
		}
		switch string(key) {
		case "type":
			typ, err = d.ReadInt()
		case "data":
			var atts [][]byte
			data, atts, err = d.ReadJSON(nil, nil)
			if len(atts) != 0 {
				t.Errorf("attachments: %q", atts)
			}
		case "nsp":
			nsp, err = d.ReadStr()
		default:
			t.Fatalf("key %q", key)
		}
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	if typ != 2 || nsp != "/" || string(data) != `["plain",1,"two",{"three":3.5},null,true]` {
		t.Fatalf("packet: type %d, nsp %q, data %s", typ, nsp, data)
	}
	opts, err := d.ReadRaw()
	if err != nil || !bytes.Equal(opts, []byte("\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80")) {
		t.Fatalf("opts: %q, %v", opts, err)
	}
	if d.Len() != 0 {
		t.Fatalf("%d bytes left", d.Len())
	}
}

func TestGoldenBinaryArgument(t *testing.T) {
	for _, f := range []Flavor{Notepack, MsgpackJS} {
		e := Encoder{Flavor: f}
		if err := e.JSON([]byte(binaryJSON), binaryAtts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Buf, binaryData) {
			t.Fatalf("%s: got %q, want %q", f, e.Buf, binaryData)
		}
		d := Decoder{Flavor: f}
		d.Reset(binaryData)
		json, atts, err := d.ReadJSON(nil, nil)
		if err != nil || string(json) != binaryJSON || len(atts) != 2 ||
			!bytes.Equal(atts[0], binaryAtts[0]) || !bytes.Equal(atts[1], binaryAtts[1]) {
			t.Fatalf("%s: ReadJSON = %s, %q, %v", f, json, atts, err)
		}
	}
	// The attachments alias the message (no copy on the receive path).
	_, atts, _, _ := ToJSON(nil, binaryData)
	if &atts[0][0] != &binaryData[7] {
		t.Fatal("attachment 0 does not alias the message")
	}
}

func TestGoldenBroadcastWithBinaryArgument(t *testing.T) {
	// The whole message, as in the notes: the data sits in the packet map.
	var e Encoder
	if err := writeBroadcast(&e, "xaaFKm", "/", []byte(binaryJSON), binaryAtts); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("\x93\xa6xaaFKm\x83\xa4type\x02\xa4data"), binaryData...)
	want = append(want, "\xa3nsp\xa1/\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80"...)
	if !bytes.Equal(e.Buf, want) {
		t.Fatalf("got %q\nwant %q", e.Buf, want)
	}
	// A failed JSON leaves what was written before it.
	e.Buf = e.Buf[:0]
	e.Str("before")
	if err := e.JSON([]byte(`["x",{"_placeholder":true,"num":2}]`), binaryAtts); !errors.Is(err, ErrAttachments) {
		t.Fatalf("placeholder 2 of 2 attachments: %v", err)
	}
	if string(e.Buf) != "\xa6before" {
		t.Fatalf("buffer after a failed JSON: %q", e.Buf)
	}
}
