package redis

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
)

// TestClassicBurstOrder sends a burst of broadcasts from one server: the
// other server receives them faster than it delivers them, and delivers
// those that arrived together as one group (deliverBatch). Every client
// of both servers gets every broadcast once, in order, those with
// attachments (never grouped) among the others, except the clients each
// broadcast excepts (consecutive broadcasts that except different
// sockets still go together); and a broadcast with acknowledgements (a
// request, which ends a group) right after the burst arrives after it,
// with its acknowledgements back.
func TestClassicBurstOrder(t *testing.T) {
	r := peertest.StartRedis(t)
	srvs := classicCluster(r, &ClassicOptions{Key: "burst"})(t, 2)
	var clients []*siotest.Client
	for _, srv := range srvs {
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		for range 2 {
			clients = append(clients, siotest.Dial(t, hs.URL, nil))
		}
	}
	for _, srv := range srvs {
		waitServers(t, srv, 2)
	}
	for _, cl := range clients {
		cl.AutoAck(func(e siotest.Event) []any { return []any{"ok"} })
	}
	const n = 400
	// Broadcast i excepts client excepted(i) (on either server), or none.
	excepted := func(i int) int {
		if i%25 != 0 && i%3 != 0 {
			return i % len(clients)
		}
		return -1
	}
	for i := range n {
		var err error
		switch {
		case i%25 == 0:
			err = srvs[0].Emit("n", i, []byte{byte(i)})
		case excepted(i) >= 0:
			err = srvs[0].Except(clients[excepted(i)].SID).Emit("n", i)
		default:
			err = srvs[0].Emit("n", i)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
	defer cancel()
	acks, err := srvs[0].Timeout(siotest.Timeout).EmitWithAck(ctx, "after")
	if err != nil || len(acks) != len(clients) {
		t.Fatalf("EmitWithAck after the burst: %d acknowledgements, %v; want %d", len(acks), err, len(clients))
	}
	for c, cl := range clients {
		cl.NextBurst("n", n, func(i int) bool { return excepted(i) == c }, func(i int) bool { return i%25 == 0 })
		cl.Next("after")
		for _, e := range cl.Events() {
			t.Errorf("client %d: an extra event %s%s", c, e.Name, e.Raw)
		}
	}
}
