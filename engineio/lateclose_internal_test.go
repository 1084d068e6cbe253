package engineio

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLatePollDuringClose checks that a poll that comes as its client's
// close is being finalized takes the late noop without racing with the
// close's bookkeeping outside the session's lock (run with -race): the
// poll only waits for the session to be closed, not for the close to
// finish, as a request on another connection does.
func TestLatePollDuringClose(t *testing.T) {
	srv := NewServer(nil)
	closed := make(chan string, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnClose(func(reason string, _ error) { closed <- reason })
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var open struct{ SID string }
	if err := json.Unmarshal(body[1:], &open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	s := srv.session(open.SID)

	polled := make(chan []outgoing, 1)
	go func() {
		for sockState(s.state.Load()) != stateClosed {
		}
		pkts, _, code := s.startPoll("", nil)
		if code >= 0 {
			t.Errorf("the late poll was refused with code %d", code)
		}
		polled <- pkts
	}()
	// The client's close packet, with no poll pending.
	s.closeWith(ReasonTransportClose, nil, closeByClient)
	if pkts := <-polled; len(pkts) != 1 || pkts[0].Type != noopPacket.Type {
		t.Errorf("the late poll got %v, want a noop", pkts)
	}
	if reason := <-closed; reason != ReasonTransportClose {
		t.Errorf("closed with %q", reason)
	}
}
