package websocket

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-rt/tether/websocket/frame"
)

// jsonMessage returns n bytes of JSON-like text, the kind of message that
// compresses well.
func jsonMessage(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%02d","event":"chat","x":%d.5},`, i, i%31, i%400)
	}
	return b.Bytes()[:n]
}

// TestFixedCodesChoice checks which messages go out compressed with the
// fixed codes (internal/deflate): those up to fixedCodesMax bytes, at
// level 1, without context takeover, from either side and with a small
// window too; and that every message, however it was compressed, reads
// back whole through our reader and through the reference decoder.
func TestFixedCodesChoice(t *testing.T) {
	for _, tc := range []struct {
		level, bits, size int
		noTakeover, fixed bool
	}{
		{level: 1, bits: 15, size: 512, noTakeover: true, fixed: true},
		{level: 1, bits: 15, size: fixedCodesMax, noTakeover: true, fixed: true},
		{level: 1, bits: 8, size: 700, noTakeover: true, fixed: true},
		{level: 1, bits: 15, size: fixedCodesMax + 1, noTakeover: true, fixed: false},
		{level: 6, bits: 15, size: 512, noTakeover: true, fixed: false},
		{level: 1, bits: 15, size: 512, noTakeover: false, fixed: false},
	} {
		for _, client := range []bool{false, true} {
			name := fmt.Sprintf("level %d, %d window bits, %d bytes, no takeover %v, client %v", tc.level, tc.bits, tc.size, tc.noTakeover, client)
			cp := compressParams{enabled: true, level: int8(tc.level), writeNoTakeover: tc.noTakeover, readNoTakeover: tc.noTakeover,
				writeWindowBits: int8(tc.bits), readWindowBits: int8(tc.bits)}
			nc := &fuzzConn{}
			c := newConn(connConfig{nc: nc, client: client, compress: cp, compressMin: 64})
			msgs := [][]byte{jsonMessage(tc.size), jsonMessage(tc.size / 2)}
			for _, m := range msgs {
				if err := c.WriteMessage(MessageText, m); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			data := nc.out.Bytes()
			h, n, err := frame.ParseHeader(data)
			if err != nil || !h.Rsv1 {
				t.Fatalf("%s: first frame not compressed (%v)", name, err)
			}
			payload := bytes.Clone(data[n : n+int(h.Length)])
			if h.Masked {
				frame.Mask(h.Mask, 0, payload)
			}
			fixed := bytes.Equal(payload, compressFixed(nil, msgs[0], tc.bits))
			if fixed != tc.fixed {
				t.Errorf("%s: compressed with the fixed codes: %v, want %v", name, fixed, tc.fixed)
			}
			cfg := fuzzReaderConfig{client: !client, compress: true, readNoTakeover: tc.noTakeover, limit: 1 << 20}
			got, ref := fuzzReadStream(t, data, cfg), refDecode(data, cfg)
			if len(got.msgs) != len(msgs) || len(ref.msgs) != len(msgs) {
				t.Fatalf("%s: sent %d messages; our reader got %d (%v), the reference %d", name, len(msgs), len(got.msgs), got.err, len(ref.msgs))
			}
			for i, m := range msgs {
				if !bytes.Equal(got.msgs[i].data, m) || !bytes.Equal(ref.msgs[i].data, m) {
					t.Fatalf("%s: message %d does not read back whole", name, i)
				}
			}
		}
	}
}

// TestPreparedFixedCodes checks that a short prepared message is
// compressed with the fixed codes, and reads back whole.
func TestPreparedFixedCodes(t *testing.T) {
	m := jsonMessage(512)
	pm := NewPreparedMessage(MessageText, m)
	payload, _ := pm.compressed()
	if !bytes.Equal(payload, compressFixed(nil, m, 15)) {
		t.Fatal("a 512-byte prepared message is not compressed with the fixed codes")
	}
	cp := compressParams{enabled: true, level: 1, writeNoTakeover: true, readNoTakeover: true, writeWindowBits: 15, readWindowBits: 15}
	nc := &fuzzConn{}
	c := newConn(connConfig{nc: nc, compress: cp, compressMin: 64})
	if err := c.WritePrepared(pm); err != nil {
		t.Fatal(err)
	}
	cfg := fuzzReaderConfig{client: true, compress: true, readNoTakeover: true, limit: 1 << 20}
	if got := fuzzReadStream(t, nc.out.Bytes(), cfg); len(got.msgs) != 1 || !bytes.Equal(got.msgs[0].data, m) {
		t.Fatalf("prepared message does not read back (%v)", got.err)
	}
}

// TestFixedCodesNegotiated checks that a real handshake asking for no
// context takeover at the default level turns the fixed codes on for both
// sides, and that context takeover or another level leaves them off.
func TestFixedCodesNegotiated(t *testing.T) {
	for _, tc := range []struct {
		opts  CompressionOptions
		fixed bool
	}{
		{CompressionOptions{Mode: CompressionNoContextTakeover}, true},
		{CompressionOptions{Mode: CompressionContextTakeover}, false},
		{CompressionOptions{Mode: CompressionNoContextTakeover, Level: 6}, false},
	} {
		srv := make(chan *Conn, 1)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, &AcceptOptions{Compression: tc.opts})
			if err != nil {
				t.Error(err)
				return
			}
			srv <- c
		}))
		c, _, err := Dial(context.Background(), ts.URL, &DialOptions{Compression: tc.opts})
		if err != nil {
			t.Fatal(err)
		}
		s := <-srv
		for side, conn := range map[string]*Conn{"client": c, "server": s} {
			if got := conn.compress.useFixedCodes(512); got != tc.fixed {
				t.Errorf("%+v, %s: fixed codes for 512 bytes: %v, want %v", tc.opts, side, got, tc.fixed)
			}
		}
		c.CloseNow()
		s.CloseNow()
		ts.Close()
	}
}
