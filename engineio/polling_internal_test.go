package engineio

import (
	"io"
	"testing"
)

// trickle returns chunk bytes per Read, total bytes in all, and records
// the largest buffer it was offered.
type trickle struct {
	chunk, left, largest int
}

func (r *trickle) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, r.left)
	r.left -= n
	return n, nil
}

// TestReadBodyGrowsWithData checks that a POST body's buffer grows with
// the bytes that arrive, not with the length the client declares.
func TestReadBodyGrowsWithData(t *testing.T) {
	for _, tc := range []struct {
		declared int64
		sent     int
	}{
		{1_000_000, 10},
		{1_000_000, 100_000},
		{-1, 50_000}, // chunked
		{20_000, 20_000},
	} {
		r := &trickle{chunk: 1000, left: tc.sent}
		body, err := readBody(r, tc.declared, 1_000_000)
		if err != nil || len(body) != tc.sent {
			t.Fatalf("declared %d, sent %d: got %d bytes, %v", tc.declared, tc.sent, len(body), err)
		}
		if limit := 2*tc.sent + bodyBufferMin; cap(body) > limit {
			t.Errorf("declared %d, sent %d: buffer of %d bytes, want at most %d", tc.declared, tc.sent, cap(body), limit)
		}
	}
}
