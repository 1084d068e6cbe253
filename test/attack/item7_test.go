package attack

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
	"github.com/tether-rt/tether/websocket"
)

// TestAttack7IdleWebSocketGoroutines opens many idle Socket.IO clients over
// WebSocket to tether serve and counts the goroutines the process holds for
// them: the server must read idle connections through the poller (no
// goroutine per connection), and still count the bytes it reads.
func TestAttack7IdleWebSocketGoroutines(t *testing.T) {
	if !pollerAvailable() {
		t.Skip("the WebSocket poller runs on Linux amd64/arm64 only")
	}
	n := scale(200, 500)
	_, base, _ := tetherServe(t, func(c *server.Config) {
		// Every client comes from 127.0.0.1: lift the per-IP limits
		// (100 connections, 10 handshakes/s burst 20) for this test.
		c.Limits.ConnectionsPerIP = 0
		c.Limits.HandshakeRate = 0
	})
	bytesBefore := scrapeCounter(t, base, "tether_bytes_received_total")
	before := settledGoroutines()

	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialIdleSocketIO(t, base)
	}
	after := settledGoroutines()
	grown := after - before
	perConn := float64(grown) / float64(n)

	// Each idle client now sends one event: the server reads it through
	// the poller, and counts its bytes.
	const event = `42["noop"]`
	frame := 2 + 4 + 1 + len(event) // header, mask key, "4" of Engine.IO
	for _, c := range conns {
		if err := c.WriteMessage(websocket.MessageText, []byte("4"+event)); err != nil {
			t.Fatalf("failed to send an event: %v", err)
		}
	}
	want := bytesBefore + float64(n*frame)
	var bytesAfter float64
	counted := eventually(10*time.Second, func() bool {
		bytesAfter = scrapeCounter(t, base, "tether_bytes_received_total")
		return bytesAfter >= want
	})
	if !counted {
		t.Errorf("tether_bytes_received_total went from %.0f to %.0f, want at least %.0f (%d events of %d bytes)",
			bytesBefore, bytesAfter, want, n, frame)
	}

	bound := n/10 + 20
	report(t, "7", fmt.Sprintf("%d idle Socket.IO clients over WebSocket (per-IP limits lifted)", n),
		fmt.Sprintf("goroutines grow < %d; bytes still counted", bound),
		fmt.Sprintf("+%d goroutines (%.2f per idle connection); bytes counted: %v", grown, perConn, counted),
		grown < bound && counted)
}

// pollerAvailable reports whether websocket.Conn.ReadLoopAsync reads idle
// connections without a goroutine on this system.
func pollerAvailable() bool {
	return runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")
}

// settledGoroutines returns the process's goroutine count once it has
// stopped changing for half a second (or after 10 s).
func settledGoroutines() int {
	last, stable := runtime.NumGoroutine(), 0
	for i := 0; i < 100 && stable < 5; i++ {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}

// dialIdleSocketIO connects a Socket.IO client to the namespace "/" over
// WebSocket and leaves it idle: it answers the server's pings, from the
// poller, without a goroutine of its own.
func dialIdleSocketIO(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	c, answer := dialSocketIO(t, base, "")
	if !strings.HasPrefix(answer, "40{") {
		t.Fatalf("CONNECT refused: %q", answer)
	}
	c.ReadLoopAsync(func(_ websocket.MessageType, msg []byte) error {
		if string(msg) == "2" {
			return c.WriteMessage(websocket.MessageText, []byte("3"))
		}
		return nil
	}, func(error) {})
	return c
}

// dialSocketIO opens an Engine.IO session over WebSocket, sends a
// Socket.IO CONNECT to "/" with the JSON auth payload (none when empty) and
// returns the connection and the answer: "40{...}" (connected) or
// "44{...}" (connect_error).
func dialSocketIO(t *testing.T, base, auth string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("failed to dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("failed to read the open packet %q: %v", msg, err)
	}
	if err := c.WriteMessage(websocket.MessageText, []byte("40"+auth)); err != nil {
		t.Fatalf("failed to send CONNECT: %v", err)
	}
	_, msg, err := c.ReadMessage(nil)
	if err != nil {
		t.Fatalf("failed to read the CONNECT answer: %v", err)
	}
	return c, string(msg)
}

// scrapeCounter returns the value of an unlabelled metric on the server's
// /metrics.
func scrapeCounter(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("failed to scrape the metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s on /metrics", name)
	return 0
}
