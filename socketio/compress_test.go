package socketio

import (
	"context"
	"testing"
	"time"
)

// TestCompressFlag checks that Compress(false) reaches the engine: every
// packet of such a broadcast (text and attachments, with or without acks,
// with connection state recovery too) is marked NoCompress, and only those.
func TestCompressFlag(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		opts := &Options{}
		if recovery {
			opts.ConnectionStateRecovery = &RecoveryOptions{}
		}
		srv := newTestServer(t, opts)
		tc := dial(t, srv)
		tc.connect("/", "")
		check := func(what string, n int, noCompress bool) {
			t.Helper()
			for i := range n {
				if p := tc.recv(); p.NoCompress != noCompress {
					t.Fatalf("recovery %v, %s: packet %d (%q) NoCompress = %v", recovery, what, i, p.Data, p.NoCompress)
				}
			}
		}
		if err := srv.Compress(false).Emit("e", []byte{1}, []byte{2}); err != nil {
			t.Fatal(err)
		}
		check("Compress(false)", 3, true)
		if err := srv.Compress(true).Emit("e", []byte{1}); err != nil {
			t.Fatal(err)
		}
		check("Compress(true)", 2, false)
		if err := srv.Emit("e", 1); err != nil {
			t.Fatal(err)
		}
		check("no flag", 1, false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, _ = srv.Compress(false).EmitWithAck(ctx, "e", []byte{1})
		cancel()
		check("EmitWithAck", 2, true)
	}
}
