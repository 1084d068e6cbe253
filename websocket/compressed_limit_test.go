package websocket

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tether-rt/tether/websocket/frame"
)

// TestCompressedLimit checks that the frames of a compressed message are
// held to compressedLimit: a message of empty deflate blocks, which
// inflates to nothing, fails with 1009 once it passes it, in one frame or
// in many, while one under it is read.
func TestCompressedLimit(t *testing.T) {
	const limit = 1000
	empty := []byte{0x00, 0x00, 0x00, 0xff, 0xff} // a stored block of 0 bytes
	payload := func(n int) []byte {
		p := bytes.Repeat(empty, n/len(empty)+1)
		return append(p, 0x03, 0x00) // an empty final block: "" inflated
	}
	over := int(compressedLimit(limit)) + 10
	cfg := fuzzReaderConfig{compress: true, readNoTakeover: true, limit: limit}

	// Under the limit (raw bytes far above the read limit): read.
	ok := fuzzFrame(frame.OpText, true, true, true, payload(50_000))
	out := fuzzReadStream(t, ok, cfg)
	if len(out.msgs) != 1 || len(out.msgs[0].data) != 0 {
		t.Fatalf("message under the limit: %d messages, then %v", len(out.msgs), out.err)
	}

	// One frame over it.
	out = fuzzReadStream(t, fuzzFrame(frame.OpText, true, true, true, payload(over)), cfg)
	var ce *CloseError
	if !errors.As(out.err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("one frame over the limit: %v, want 1009", out.err)
	}

	// Many frames over it.
	var stream []byte
	stream = append(stream, fuzzFrame(frame.OpText, false, true, true, empty)...)
	chunk := bytes.Repeat(empty, 20_000)
	for n := len(empty); n < over; n += len(chunk) {
		stream = append(stream, fuzzFrame(frame.OpContinuation, false, false, true, chunk)...)
	}
	stream = append(stream, fuzzFrame(frame.OpContinuation, true, false, true, []byte{0x03, 0x00})...)
	out = fuzzReadStream(t, stream, cfg)
	if !errors.As(out.err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("fragments over the limit: %v, want 1009", out.err)
	}
}
