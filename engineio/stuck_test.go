package engineio_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// TestStuckWriter checks that a WebSocket client that takes no data, so
// that the server's writer blocks in a write, is closed by the heartbeat
// ("ping timeout") and leaves no goroutine behind: there is no write
// deadline per batch. In v4 the client either does not answer pings (it
// cannot see them) or sends pongs blindly, without reading; in v3 it keeps
// pinging the server but never reads. Both of the last two are cut off as
// stalled writers. The first is cut off by the missing pong, or as a
// stalled writer when the ping's timer ran so late (a busy machine) that
// the writer had been blocked for PingInterval+PingTimeout by then. The
// ping timeout (1 s) is long enough for the blind heartbeats of a client
// on a busy machine to come in time: only the stalled writer cuts those
// off.
func TestStuckWriter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		v3        bool
		heartbeat string  // what the client sends blindly, every 20 ms
		wantErrs  []error // the close's error is one of them
	}{
		{"v4", false, "", []error{nil, engineio.ErrStalledWriter}},
		{"v4 blind pongs", false, "3", []error{engineio.ErrStalledWriter}},
		{"v3", true, "2", []error{engineio.ErrStalledWriter}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			e := newEnv(t, &engineio.Options{
				PingInterval:   100 * time.Millisecond,
				PingTimeout:    time.Second,
				AllowEIO3:      true,
				SendQueue:      100_000,
				SendQueueBytes: 1 << 40,
			}, nil)
			query := "EIO=4&transport=websocket"
			if tc.v3 {
				query = "EIO=3&transport=websocket"
			}
			c := e.dial(query)
			read(t, c) // the open packet; nothing is read after it
			s := e.nextConn()
			stop := make(chan struct{})
			defer close(stop)
			if tc.heartbeat != "" {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						err := c.Write(ctx, websocket.MessageText, []byte(tc.heartbeat))
						cancel()
						if err != nil {
							return
						}
					}
				}()
			}
			big := bytes.Repeat([]byte("x"), 256<<10)
			for i := 0; i < 400; i++ { // 100 MiB: far more than the socket buffers take
				if err := s.Send(engineio.Packet{Data: big}); err != nil {
					break
				}
			}
			cl := e.nextClose()
			if cl.reason != engineio.ReasonPingTimeout || !slices.ContainsFunc(tc.wantErrs, func(want error) bool { return errors.Is(cl.err, want) }) {
				t.Errorf("reason %q (%v), want %q (one of %v)", cl.reason, cl.err, engineio.ReasonPingTimeout, tc.wantErrs)
			}
			// The server cut the connection in the middle of its batch:
			// the client finds what the socket buffers held, then the
			// end, without a close frame and far from all 400 packets.
			got := 0
			for {
				_, msg, err := c.ReadMessage(nil)
				if err != nil {
					if st := websocket.CloseStatus(err); st != -1 && st != websocket.StatusAbnormalClosure {
						t.Errorf("read ended with a close frame: %v", err)
					}
					break
				}
				if len(msg) > 1000 {
					got++
				}
			}
			if got >= 400 {
				t.Errorf("the client got all %d packets: the writer was not cut off", got)
			}
		})
	}
}
