package socketio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAdapterFactoryError checks that a namespace whose adapter could not
// be made refuses clients with a connect_error and fails its operations
// with the factory's error, while the other namespaces work.
func TestAdapterFactoryError(t *testing.T) {
	broken := errors.New("broker unreachable")
	var logs logBuffer
	srv := newTestServer(t, &Options{Logger: logs.logger(), Adapter: func(h AdapterHost) (Adapter, error) {
		if h.Name() == "/broken" {
			return nil, broken
		}
		return NewInMemoryAdapter(h, nil), nil
	}})
	nsp := srv.Of("/broken")
	if !errors.Is(nsp.Err(), broken) || srv.Of("/").Err() != nil {
		t.Fatalf("Err = %v, / %v", nsp.Err(), srv.Of("/").Err())
	}
	if err := nsp.Emit("x"); !errors.Is(err, broken) {
		t.Errorf("Emit = %v, want the factory's error", err)
	}
	if _, err := nsp.FetchSockets(context.Background()); !errors.Is(err, broken) {
		t.Errorf("FetchSockets = %v", err)
	}
	tc := dial(t, srv)
	tc.send("0/broken,")
	if got := tc.recvText(); !strings.HasPrefix(got, `4/broken,{"message":"Namespace unavailable"`) {
		t.Fatalf("CONNECT answer = %q, want a connect_error", got)
	}
	tc.connect("/", "") // the client may go on with the other namespaces
	if e := logs.entries(t); len(e) != 1 || e[0]["namespace"] != "/broken" {
		t.Errorf("logged %v, want the failure", e)
	}
}

// TestDeliverWithOffset checks LocalSockets.Deliver, how adapters deliver a
// broadcast made on another server: only the selected local sockets get
// it, with the given offset as last argument, and the in-memory recovery
// log does not keep it.
func TestDeliverWithOffset(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	sockets := make(chan *Socket, 2)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	in, out := dial(t, srv), dial(t, srv)
	in.connect("/", "")
	recvValue(t, sockets).Join("r")
	out.connect("/", "")
	recvValue(t, sockets)

	p, err := buildEvent("remote", []any{1, []byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Of("/").LocalSockets().Deliver(p, &BroadcastOptions{Rooms: []string{"r"}}, "1700000000000-3"); n != 1 {
		t.Fatalf("delivered to %d sockets, want 1", n)
	}
	if got := in.recvText(); got != `51-["remote",1,{"_placeholder":true,"num":0},"1700000000000-3"]` {
		t.Fatalf("got %q", got)
	}
	if att := in.recv(); !att.Binary || string(att.Data) != "\x07" {
		t.Fatalf("attachment %v", att)
	}
	out.expectNothing()
	if n, _ := srv.Of("/").Adapter().(*InMemoryAdapter).RecoveryLogSize(); n != 0 {
		t.Errorf("the recovery log holds %d packets, want none", n)
	}
}

// TestBroadcastAckCancelled checks that the acknowledgements a broadcast
// did not get are forgotten by the sockets once EmitWithAck returns.
func TestBroadcastAckCancelled(t *testing.T) {
	srv := newTestServer(t, nil)
	sockets := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	tc := dial(t, srv)
	tc.connect("/", "")
	s := recvValue(t, sockets)
	if _, err := srv.Timeout(50*time.Millisecond).EmitWithAck(context.Background(), "q"); !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("EmitWithAck = %v", err)
	}
	tc.recvText()
	waitFor(t, "the acknowledgement to be forgotten", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.own == nil || len(s.own.acks) == 0
	})
}

// TestRoomChangeHook checks that OnRoomChange reports a room's first local
// socket and its last one, whether it leaves or disconnects.
func TestRoomChangeHook(t *testing.T) {
	srv := newTestServer(t, nil)
	var mu sync.Mutex
	var events []string
	srv.Of("/").LocalSockets().OnRoomChange(func(room string, exists bool) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%s %v", room, exists))
		mu.Unlock()
	})
	sockets := make(chan *Socket, 2)
	gone := make(chan struct{}, 2)
	srv.OnConnection(func(s *Socket) {
		s.OnDisconnect(func(*Socket, string) { gone <- struct{}{} })
		sockets <- s
	})
	a, b := dial(t, srv), dial(t, srv)
	a.connect("/", "")
	sa := recvValue(t, sockets)
	b.connect("/", "")
	sb := recvValue(t, sockets)
	sa.Join("r")
	sb.Join("r")
	sa.Leave("r")
	b.c.onEngineClose(ReasonTransportClose, nil)
	recvValue(t, gone)
	mu.Lock()
	defer mu.Unlock()
	// A disconnecting socket leaves its rooms in no particular order.
	slices.Sort(events[3:])
	want := []string{sa.ID() + " true", sb.ID() + " true", "r true", "r false", sb.ID() + " false"}
	slices.Sort(want[3:])
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
